use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct Flight {
    #[instructor(verbatim, pattern = "[A-Z]{2}[0-9]+")]
    number: String,
    #[instructor(choices = "cities", length(max = 20))]
    origin: String,
    #[instructor(verbatim, choices = "cities")]
    destination: String,
}

fn main() {}
