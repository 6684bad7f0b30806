use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct Scores<const N: usize> {
    values: Vec<u8>,
}

fn main() {}
