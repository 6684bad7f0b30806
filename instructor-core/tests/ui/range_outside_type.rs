use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct User {
    #[instructor(range(min = 0, max = 300))]
    age: u8,
}

fn main() {
    let _ = User::GBNF;
}
