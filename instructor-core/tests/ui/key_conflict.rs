use instructor_core::ResponseModel;

#[derive(serde::Deserialize, ResponseModel)]
#[serde(rename_all = "camelCase")]
struct User {
    user_id: u32,
    #[serde(rename = "userId")]
    legacy_id: u32,
}

#[derive(Debug, Clone, serde::Deserialize, ResponseModel)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Admin,
    ADMIN,
}

#[derive(Debug, Clone, serde::Deserialize, ResponseModel)]
#[serde(tag = "type")]
enum Event {
    Click { r#type: String },
}

fn main() {}
