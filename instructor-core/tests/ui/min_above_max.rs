use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct Order {
    #[instructor(range(min = 10, max = -1))]
    quantity: i32,
    #[instructor(length(min = 5, max = 2))]
    note: String,
    #[instructor(items(min = 3, max = 1))]
    lines: Vec<String>,
}

fn main() {}
