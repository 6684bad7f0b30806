use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct User {
    #[instructor(length(max = 3))]
    age: u32,
}

fn main() {
    let _ = User::GBNF;
}
