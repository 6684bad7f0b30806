// The partial of an enum is the whole value behind an `Arc` (it appears once complete), and
// partial values are `Debug`, so an extracted enum must be `Debug` too. It need not be `Clone`.
use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
enum Status {
    Active,
    Retired,
}

fn main() {}
