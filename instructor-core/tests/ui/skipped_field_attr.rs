use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct User {
    name: String,
    #[serde(skip)]
    #[instructor(range(max = 10))]
    cache: u8,
}

fn main() {}
