//! The benchmark's cases: each case's Rust type (field for field the peer's pydantic model in
//! `bench/peer/peer.py`), its prompt and expected answer (`bench/cases.json`), and the rule that
//! judges an answer.
//!
//! Judging is the same for both sides: an output is *schema-valid* when it deserializes into the
//! case's Rust type and passes its validation (bounds, patterns, enum values), and *correct* when
//! every field named in the expected answer matches (see [`matches()`]).

use std::time::Instant;

use instructor_core::{
    BatchTotals, Error, Extraction, Extractor, Llm, Message, ResponseModel, Usage,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::grounded;

/// One case of `bench/cases.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub id: String,
    pub shape: String,
    pub prompt: String,
    pub expected: Value,
}

/// What one extraction produced, on either side.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The value as JSON when the side returned one.
    pub output: Option<Value>,
    /// The last raw model output, when known.
    pub raw: Option<String>,
    /// The side's own error, when it gave up.
    pub error: Option<String>,
    /// Wall time of the whole extraction, retries included.
    pub seconds: f64,
    pub attempts: usize,
    pub completion_tokens: u64,
    pub prompt_tokens: u64,
    /// Our side only: the detailed usage.
    pub usage: Option<Usage>,
}

/// The functions that tie a case id to its Rust type.
pub struct Kind {
    pub id: &'static str,
    /// Runs our extraction with the library's defaults (3 attempts).
    pub extract: fn(&dyn Llm, &str) -> Outcome,
    /// Schema-validity of any side's output: the list of problems, empty when valid.
    pub check: fn(&Value) -> Vec<String>,
    /// The first attempt's messages, for the unconstrained baseline.
    pub messages: fn(&str) -> Vec<Message>,
    /// Runs our extraction of the grounded variant of the type (copied fields `verbatim`, see
    /// `grounded.rs`), when the case has copied fields.
    pub grounded: Option<fn(&dyn Llm, &str) -> Outcome>,
    /// Runs our `extract_many` over the prompts with `parallel` sequences (the `throughput`
    /// binary and `batch_real.rs` use it; `peer_bench` does not).
    #[allow(dead_code)]
    pub many: ManyFn,
}

/// Our `extract_many` over prompts with `parallel` sequences: the outcomes in input order and
/// the run's totals.
pub type ManyFn = fn(&dyn Llm, &[String], usize) -> (Vec<Outcome>, BatchTotals);

fn extract<T: ResponseModel + Serialize>(llm: &dyn Llm, prompt: &str) -> Outcome {
    let start = Instant::now();
    let result = Extractor::new(llm).extract_with_report::<T>(prompt);
    outcome(result, start.elapsed().as_secs_f64())
}

fn many<T: ResponseModel + Serialize>(
    llm: &dyn Llm,
    prompts: &[String],
    parallel: usize,
) -> (Vec<Outcome>, BatchTotals) {
    let mut run = Extractor::new(llm)
        .parallel(parallel)
        .extract_many_with_report::<T>(prompts);
    let mut outcomes = vec![Outcome::default(); prompts.len()];
    for (index, result) in run.by_ref() {
        let seconds = result
            .as_ref()
            .map_or(0.0, |done| done.report.elapsed.as_secs_f64());
        if let Some(slot) = outcomes.get_mut(index) {
            *slot = outcome(result, seconds);
        }
    }
    (outcomes, run.totals())
}

fn outcome<T: Serialize>(result: Result<Extraction<T>, Error>, seconds: f64) -> Outcome {
    match result {
        Ok(done) => Outcome {
            output: serde_json::to_value(&done.value).ok(),
            raw: Some(done.report.raw.clone()),
            error: None,
            seconds,
            attempts: done.report.attempts(),
            completion_tokens: done.report.usage.completion_tokens,
            prompt_tokens: done.report.usage.prompt_tokens,
            usage: Some(done.report.usage),
        },
        Err(e) => {
            let (attempts, usage) = match &e {
                Error::RetriesExhausted { attempts, usage } => (attempts.len(), Some(*usage)),
                Error::Truncated {
                    attempts, usage, ..
                } => (attempts.len() + 1, Some(**usage)),
                _ => (1, None),
            };
            Outcome {
                output: None,
                raw: e.last_output().map(str::to_owned),
                error: Some(e.to_string()),
                seconds,
                attempts,
                completion_tokens: usage.map_or(0, |u| u.completion_tokens),
                prompt_tokens: usage.map_or(0, |u| u.prompt_tokens),
                usage,
            }
        }
    }
}

fn check<T: ResponseModel + DeserializeOwned>(value: &Value) -> Vec<String> {
    match serde_json::from_value::<T>(value.clone()) {
        Err(e) => vec![e.to_string()],
        Ok(v) => match instructor_core::validate(&v) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        },
    }
}

fn messages<T: ResponseModel>(prompt: &str) -> Vec<Message> {
    vec![
        instructor_core::__private::prompt::system_message(
            instructor_core::__private::prompt::DEFAULT_SYSTEM_PROMPT,
            T::DESCRIPTION,
            &instructor_core::json_schema::<T>(),
        ),
        Message::user(prompt),
    ]
}

macro_rules! kinds {
    ($($id:literal => $ty:ty $(| $g:ty)?),* $(,)?) => {
        /// Every case type, by case id.
        pub const KINDS: &[Kind] = &[$(Kind {
            id: $id,
            extract: extract::<$ty>,
            check: check::<$ty>,
            messages: messages::<$ty>,
            grounded: grounded!($($g)?),
            many: many::<$ty>,
        }),*];
    };
}

macro_rules! grounded {
    () => {
        None
    };
    ($g:ty) => {
        Some(extract::<$g>)
    };
}

kinds! {
    "user_detail" => UserDetail | grounded::UserDetail,
    "address" => Address | grounded::Address,
    "order" => Order | grounded::Order,
    "event" => Event | grounded::Event,
    "sentiment" => Sentiment,
    "ticket" => Ticket,
    "review" => Review | grounded::Review,
    "flight" => Flight | grounded::Flight,
    "birthday" => Person | grounded::Person,
    "quote" => Quote | grounded::Quote,
    "contact" => Contact | grounded::Contact,
    "people" => People | grounded::People,
    "weather" => Weather | grounded::Weather,
    "tasks" => Tasks | grounded::Tasks,
    "book" => Book | grounded::Book,
}

/// Whether `actual` answers `expected`: every key of an expected object must match (extra keys
/// are ignored), arrays match item by item with equal lengths, numbers compare as numbers,
/// strings compare ignoring case, surrounding whitespace and a trailing full stop, and
/// `{"$any": [...]}` accepts any of its alternatives.
pub fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), _) if e.len() == 1 && e.contains_key("$any") => e["$any"]
            .as_array()
            .is_some_and(|alts| alts.iter().any(|alt| matches(alt, actual))),
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, ev)| a.get(k).is_some_and(|av| matches(ev, av))),
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(ev, av)| matches(ev, av))
        }
        (Value::Number(e), Value::Number(a)) => match (e.as_f64(), a.as_f64()) {
            (Some(e), Some(a)) => (e - a).abs() <= 1e-9 * e.abs().max(1.0),
            _ => false,
        },
        (Value::String(e), Value::String(a)) => normalise(e) == normalise(a),
        (e, a) => e == a,
    }
}

fn normalise(s: &str) -> String {
    s.trim().trim_end_matches('.').trim().to_lowercase()
}

// The types, field for field the peer's pydantic models.

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct UserDetail {
    name: String,
    #[instructor(range(min = 0, max = 150))]
    age: u8,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Address {
    /// Street with house number.
    street: String,
    city: String,
    postcode: String,
    country: String,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Item {
    name: String,
    quantity: u32,
    /// Price of one unit.
    unit_price: f64,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Order {
    order_id: String,
    items: Vec<Item>,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Event {
    title: String,
    /// Date as YYYY-MM-DD.
    #[instructor(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    date: String,
    attendees: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Positive,
    Negative,
    Neutral,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Sentiment {
    label: Label,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Billing,
    Technical,
    Account,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Medium,
    High,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Ticket {
    category: Category,
    priority: Priority,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Review {
    product: String,
    #[instructor(range(min = 1, max = 5))]
    stars: u8,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Flight {
    flight_number: String,
    origin: String,
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
    name: String,
    /// Date as YYYY-MM-DD.
    #[instructor(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    birth_date: String,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Quote {
    speaker: String,
    /// The exact words, copied.
    quote: String,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Contact {
    name: String,
    email: String,
    phone: String,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct People {
    people: Vec<UserDetail>,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    Sunny,
    Cloudy,
    Rainy,
    Snowy,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Weather {
    city: String,
    #[instructor(range(min = -60, max = 60))]
    temperature_c: i8,
    condition: Condition,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Task {
    title: String,
    done: bool,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Tasks {
    tasks: Vec<Task>,
}

#[derive(Debug, Serialize, Deserialize, ResponseModel)]
pub struct Book {
    title: String,
    author: String,
    #[instructor(range(min = 1000, max = 2100))]
    year: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_case_has_a_type() {
        let cases: Vec<Case> = serde_json::from_str(include_str!("../cases.json")).unwrap();
        assert!(cases.len() >= 12);
        for c in &cases {
            assert!(KINDS.iter().any(|k| k.id == c.id), "no type for {}", c.id);
        }
    }

    #[test]
    fn every_expected_answer_is_schema_valid() {
        // The expected answers, with `$any` resolved to its first alternative, must be values
        // of the case's type: otherwise no side could ever be correct.
        fn first_alternative(v: &Value) -> Value {
            match v {
                Value::Object(o) if o.contains_key("$any") => first_alternative(&o["$any"][0]),
                Value::Object(o) => Value::Object(
                    o.iter()
                        .map(|(k, v)| (k.clone(), first_alternative(v)))
                        .collect(),
                ),
                Value::Array(a) => Value::Array(a.iter().map(first_alternative).collect()),
                v => v.clone(),
            }
        }
        let cases: Vec<Case> = serde_json::from_str(include_str!("../cases.json")).unwrap();
        for c in &cases {
            let kind = KINDS.iter().find(|k| k.id == c.id).unwrap();
            let value = first_alternative(&c.expected);
            let problems = (kind.check)(&value);
            assert!(problems.is_empty(), "{}: {problems:?}", c.id);
            assert!(
                matches(&c.expected, &value),
                "{} does not match itself",
                c.id
            );
        }
    }

    #[test]
    fn expected_copies_occur_in_the_prompts() {
        // A grounded variant marks only fields the expected answer copies from the prompt:
        // its extraction must be able to produce the expected value.
        let cases: Vec<Case> = serde_json::from_str(include_str!("../cases.json")).unwrap();
        let grounded = KINDS.iter().filter(|k| k.grounded.is_some()).count();
        assert_eq!(grounded, 13);
        for id in ["address", "quote", "flight", "contact", "book"] {
            let case = cases.iter().find(|c| c.id == id).unwrap();
            fn strings(v: &Value, out: &mut Vec<String>) {
                match v {
                    Value::String(s) => out.push(s.clone()),
                    Value::Object(o) if o.contains_key("$any") => strings(&o["$any"][0], out),
                    Value::Object(o) => o.values().for_each(|v| strings(v, out)),
                    Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                    _ => {}
                }
            }
            let mut copied = Vec::new();
            strings(&case.expected, &mut copied);
            for s in &copied {
                assert!(case.prompt.contains(s.as_str()), "{id}: {s}");
            }
        }
    }

    #[test]
    fn matching_rules() {
        assert!(matches(
            &json!({"a": "Jason"}),
            &json!({"a": " jason. ", "b": 1})
        ));
        assert!(!matches(
            &json!({"a": "Jason"}),
            &json!({"a": "Jason Smith"})
        ));
        assert!(matches(&json!({"n": 2.5}), &json!({"n": 2.50})));
        assert!(matches(&json!({"n": 30}), &json!({"n": 30.0})));
        assert!(!matches(&json!({"n": 30}), &json!({"n": 31})));
        assert!(matches(
            &json!({"x": {"$any": ["a", "b"]}}),
            &json!({"x": "B"})
        ));
        assert!(!matches(
            &json!({"x": {"$any": ["a", "b"]}}),
            &json!({"x": "c"})
        ));
        assert!(!matches(&json!([1, 2]), &json!([1, 2, 3])));
        assert!(!matches(&json!({"a": 1}), &json!({})));
    }
}
