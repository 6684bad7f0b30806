use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct Words {
    #[instructor(pattern = r"\bcat\b")]
    word: String,
    #[instructor(pattern = "a^b")]
    anchored: String,
}

fn main() {}
