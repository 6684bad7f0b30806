use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct Code {
    #[instructor(pattern = "[A-Z]{2")]
    code: String,
}

fn main() {}
