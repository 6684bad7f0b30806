use instructor_core::ResponseModel;

#[derive(Debug, Clone, serde::Deserialize, ResponseModel)]
#[serde(tag = "kind")]
enum Shape {
    Circle { radius: f64 },
    Count(u32),
}

fn main() {
    let _ = Shape::GBNF;
}
