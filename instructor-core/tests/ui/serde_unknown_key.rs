use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct User {
    #[serde(rename_with = "upper")]
    name: String,
}

fn main() {}
