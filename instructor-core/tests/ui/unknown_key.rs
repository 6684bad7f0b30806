use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
#[instructor(title = "A user")]
struct User {
    #[instructor(minimum = 0)]
    age: u8,
}

fn main() {}
