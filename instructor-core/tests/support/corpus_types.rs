//! The corpus of representative types shared by the property tests (`corpus.rs`) and the
//! real-model tests of instructor-llama: nested structs, enums of every serde representation,
//! options, maps, tuples, renames, defaults, skips and constrained fields. Each type also
//! derives proptest's `Arbitrary`, with strategies that produce only valid values.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use instructor_core::ResponseModel;
use proptest::prelude::*;
use proptest_derive::Arbitrary;
use serde::{Deserialize, Serialize};

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1.0e6..1.0e6f64,
        any::<f64>().prop_filter("finite, below 1e307", |f| f.is_finite()
            && f.abs() < 1.0e307),
        Just(0.0),
        Just(-0.0),
        Just(0.1 + 0.2),
    ]
}

fn finite32() -> impl Strategy<Value = f32> {
    any::<f32>().prop_filter("finite, below 1e37", |f| f.is_finite() && f.abs() < 1.0e37)
}

fn unit_interval() -> impl Strategy<Value = f32> {
    0.0f32..=1.0
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{0,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A person mentioned in the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct UserDetail {
    /// The person's first name.
    name: String,
    #[instructor(range(min = 0, max = 150))]
    #[proptest(strategy = "0u8..=150")]
    age: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Address {
    street: String,
    city: String,
    /// A five-digit postal code.
    #[instructor(pattern = "[0-9]{5}")]
    #[proptest(regex = "[0-9]{5}")]
    zip: String,
    country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct LineItem {
    product: String,
    #[instructor(range(min = 1))]
    #[proptest(strategy = "1u16..")]
    quantity: u16,
    #[proptest(strategy = "finite()")]
    price: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Order {
    id: u32,
    customer: UserDetail,
    #[instructor(items(min = 1, max = 5))]
    #[proptest(strategy = "proptest::collection::vec(any::<LineItem>(), 1..=5)")]
    items: Vec<LineItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub enum Shape {
    Circle {
        #[proptest(strategy = "finite()")]
        radius: f64,
    },
    Rect(
        #[proptest(strategy = "finite32()")] f32,
        #[proptest(strategy = "finite32()")] f32,
    ),
    Named(String),
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct CallInfo {
    number: String,
    minutes: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
#[serde(tag = "kind")]
pub enum Event {
    Meeting {
        title: String,
        attendees: Vec<String>,
    },
    Call(CallInfo),
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
#[serde(tag = "t", content = "c")]
pub enum Envelope {
    Text(String),
    Ping,
    Pair(u8, u8),
    Rich { body: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
#[serde(untagged)]
pub enum Loose {
    Num(i64),
    Text(String),
    List(Vec<bool>),
    Obj { key: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
#[serde(rename_all = "camelCase")]
pub struct Renamed {
    first_name: String,
    last_name: String,
    #[serde(rename = "e-mail")]
    email_address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct WithDefaults {
    #[serde(default)]
    tags: Vec<String>,
    name: String,
    #[serde(default)]
    score: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
#[serde(default)]
pub struct AllDefault {
    a: bool,
    b: Option<u64>,
    c: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Skipping {
    kept: bool,
    #[serde(skip)]
    #[proptest(value = "0")]
    cache: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Maps {
    counts: HashMap<String, u32>,
    nested: BTreeMap<String, Vec<i8>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Tuples {
    pair: (String, u8),
    triple: (bool, char, i16),
    arr: [u8; 3],
    quad: (u8, i64, bool, String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Meters(#[proptest(strategy = "finite()")] f64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Pairish(String, u32);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Boxed {
    inner: Box<UserDetail>,
    opt: Option<Box<Address>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct AnyJson {
    #[proptest(strategy = "arb_json()")]
    meta: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Constrained {
    #[instructor(length(min = 2, max = 10))]
    #[proptest(regex = ".{2,10}")]
    code: String,
    #[instructor(range(min = -5, max = 5))]
    #[proptest(strategy = "-5i8..=5")]
    delta: i8,
    #[instructor(items(max = 3))]
    #[proptest(strategy = "proptest::collection::vec(any::<u32>(), 0..=3)")]
    xs: Vec<u32>,
    #[instructor(range(min = 0.0, max = 1.0))]
    #[proptest(strategy = "unit_interval()")]
    ratio: f32,
    #[instructor(range(min = -1000, max = 1000))]
    #[proptest(strategy = "proptest::option::of(-1000i64..=1000)")]
    maybe: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Deep {
    levels: Vec<Vec<Option<LineItem>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
#[serde(rename_all = "snake_case", rename_all_fields = "PascalCase")]
pub enum Command {
    MoveTo { x_pos: i32, y_pos: i32 },
    SayHello { to_whom: String },
    Stop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
#[serde(deny_unknown_fields)]
pub struct Strict {
    flag: bool,
    letter: char,
    #[proptest(strategy = "finite32()")]
    small: f32,
    big: u128,
    neg: i128,
    size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Priority {
    VeryHigh,
    High,
    #[serde(rename = "meh")]
    Low,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Arbitrary, ResponseModel)]
pub struct Ticket {
    priority: Priority,
    sentiment: Option<Sentiment>,
    commands: Vec<Command>,
    envelope: Envelope,
}
