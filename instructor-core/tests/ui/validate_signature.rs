use instructor_core::ResponseModel;

fn positive(n: &i64) -> bool {
    *n > 0
}

#[derive(serde::Deserialize, ResponseModel)]
struct Account {
    #[instructor(validate = positive)]
    balance: i64,
}

fn main() {}
