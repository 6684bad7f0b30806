use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct User<'a> {
    name: &'a str,
}

fn main() {}
