//! Grounded variants of the case types: the same JSON, field for field, with every field whose
//! expected value is copied from the prompt marked `#[instructor(verbatim)]`. The `grounded`
//! variant of `peer_bench --variants` extracts these instead of the plain types, so one run
//! compares correctness with and without the grammar guarantee. Fields the model must rewrite
//! (dates normalised to ISO, numbers, enums, `done` flags) stay as they are; cases without a
//! copied field (`sentiment`, `ticket`) have no grounded variant.
//!
//! Self-contained (it names nothing else of the bench), so instructor-llama's real-model test
//! `grounding_real.rs` includes this same file and checks these very types.

use instructor_core::ResponseModel;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    Sunny,
    Cloudy,
    Rainy,
    Snowy,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct UserDetail {
    #[instructor(verbatim)]
    name: String,
    #[instructor(range(min = 0, max = 150))]
    age: u8,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Address {
    /// Street with house number.
    #[instructor(verbatim)]
    street: String,
    #[instructor(verbatim)]
    city: String,
    #[instructor(verbatim)]
    postcode: String,
    #[instructor(verbatim)]
    country: String,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Item {
    #[instructor(verbatim)]
    name: String,
    quantity: u32,
    /// Price of one unit.
    unit_price: f64,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Order {
    #[instructor(verbatim)]
    order_id: String,
    items: Vec<Item>,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Event {
    #[instructor(verbatim)]
    title: String,
    /// Date as YYYY-MM-DD.
    #[instructor(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    date: String,
    #[instructor(verbatim)]
    attendees: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Review {
    #[instructor(verbatim)]
    product: String,
    #[instructor(range(min = 1, max = 5))]
    stars: u8,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Flight {
    #[instructor(verbatim)]
    flight_number: String,
    #[instructor(verbatim)]
    origin: String,
    #[instructor(verbatim)]
    destination: String,
    /// Date as YYYY-MM-DD.
    #[instructor(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    date: String,
    /// Time as HH:MM.
    #[instructor(pattern = r"^[0-9]{2}:[0-9]{2}$")]
    time: String,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Person {
    #[instructor(verbatim)]
    name: String,
    /// Date as YYYY-MM-DD.
    #[instructor(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    birth_date: String,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Quote {
    #[instructor(verbatim)]
    speaker: String,
    /// The exact words, copied.
    #[instructor(verbatim)]
    quote: String,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Contact {
    #[instructor(verbatim)]
    name: String,
    #[instructor(verbatim)]
    email: String,
    #[instructor(verbatim)]
    phone: String,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct People {
    people: Vec<UserDetail>,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Weather {
    #[instructor(verbatim)]
    city: String,
    #[instructor(range(min = -60, max = 60))]
    temperature_c: i8,
    condition: Condition,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Task {
    #[instructor(verbatim)]
    title: String,
    done: bool,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Tasks {
    tasks: Vec<Task>,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Book {
    #[instructor(verbatim)]
    title: String,
    #[instructor(verbatim)]
    author: String,
    #[instructor(range(min = 1000, max = 2100))]
    year: u16,
}
