use instructor_core::ResponseModel;

#[derive(ResponseModel)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
