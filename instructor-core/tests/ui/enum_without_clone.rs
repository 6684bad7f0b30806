use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
enum Status {
    Active,
    Retired,
}

fn main() {}
