use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct Article {
    #[instructor(choices)]
    topic: String,
    #[instructor(choices = "")]
    section: String,
    #[instructor(choices = "news desk")]
    desk: String,
}

fn main() {}
