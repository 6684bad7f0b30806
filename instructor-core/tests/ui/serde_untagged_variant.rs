use instructor_core::ResponseModel;

#[derive(Debug, Clone, serde::Deserialize, ResponseModel)]
enum Value {
    Named {
        id: u32,
    },
    #[serde(untagged)]
    Raw(String),
}

fn main() {}
