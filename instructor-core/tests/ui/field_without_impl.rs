use instructor_core::ResponseModel;

#[derive(serde::Deserialize)]
struct Address {
    city: String,
}

#[derive(serde::Deserialize, ResponseModel)]
struct User {
    name: String,
    address: Address,
}

fn main() {}
