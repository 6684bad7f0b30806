use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct Order {
    #[instructor(verbatim)]
    quantity: u32,
    #[instructor(choices = "units")]
    sizes: Vec<u8>,
}

fn main() {}
