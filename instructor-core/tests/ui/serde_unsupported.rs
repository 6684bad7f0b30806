use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
struct Inner {
    a: u8,
}

#[derive(serde::Deserialize, ResponseModel)]
struct Outer {
    #[serde(flatten)]
    inner: Inner,
    #[serde(deserialize_with = "parse_flag")]
    flag: bool,
}

fn parse_flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    <bool as serde::Deserialize>::deserialize(d)
}

#[derive(Debug, Clone, serde::Deserialize, ResponseModel)]
enum Status {
    Active,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, serde::Deserialize, ResponseModel)]
#[serde(bound = "T: serde::de::DeserializeOwned")]
struct Holder<T> {
    value: T,
}

fn main() {}
