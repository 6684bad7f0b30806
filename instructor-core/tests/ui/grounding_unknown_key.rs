use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
#[instructor(verbatim)]
struct Quote {
    #[instructor(verbatim = true)]
    speaker: String,
    #[instructor(verbatum)]
    quote: String,
}

fn main() {}
