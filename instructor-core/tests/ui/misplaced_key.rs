use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
#[instructor(range(min = 0))]
struct User {
    #[instructor(validate)]
    age: u8,
}

fn main() {}
