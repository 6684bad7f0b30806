use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
enum Tag {
    #[instructor(allow_repeats)]
    A,
}

#[derive(serde::Deserialize, ResponseModel)]
struct Words {
    #[instructor(allow_repeats = true)]
    words: Vec<String>,
    #[instructor(allow_repeats, allow_repeats)]
    more: Vec<String>,
}

fn main() {}
