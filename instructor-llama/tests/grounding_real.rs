//! Grounded fields on the real default model: over every bench case with copied fields (the
//! grounded bench types, `bench/src/grounded.rs`), each `verbatim` value returned is a substring
//! of the prompt, and no attempt was ever re-asked for a copy the grammar should have prevented;
//! a `choices` field only returns given values. Only facts the grammar guarantees are asserted:
//! which substring the model picks can change between CPUs.

#[path = "../../bench/src/grounded.rs"]
#[allow(dead_code)]
mod grounded;

use std::sync::OnceLock;

use instructor_core::{Error, Extractor, ResponseModel};
use instructor_llama::Llama;
use serde::Serialize;
use serde_json::Value;

fn llama() -> &'static Llama {
    static LLAMA: OnceLock<Llama> = OnceLock::new();
    LLAMA.get_or_init(|| {
        let path = Llama::default_model().unwrap_or_else(|e| panic!("{e}"));
        Llama::builder()
            .model_path(path)
            .n_ctx(4096)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// Every string of `value` that its schema marks as copied verbatim.
fn verbatim_strings(
    schema: &Value,
    root: &Value,
    value: &Value,
    marked: bool,
    out: &mut Vec<String>,
) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let key = r.trim_start_matches("#/$defs/");
        if let Some(def) = root.get("$defs").and_then(|d| d.get(key)) {
            return verbatim_strings(def, root, value, marked, out);
        }
    }
    let marked = marked
        || schema
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.contains("Copied verbatim from the input."));
    match value {
        Value::String(s) if marked => out.push(s.clone()),
        Value::Object(obj) => {
            for (k, v) in obj {
                if let Some(prop) = schema.get("properties").and_then(|p| p.get(k)) {
                    verbatim_strings(prop, root, v, marked, out);
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                if let Some(item) = schema.get("items") {
                    verbatim_strings(item, root, v, marked, out);
                }
            }
        }
        _ => {}
    }
}

/// Extracts a `T` from `prompt` and checks its copies; returns how many were checked.
fn copies_are_verbatim<T: ResponseModel + Serialize>(id: &str, prompt: &str) -> usize {
    let done = match Extractor::new(llama()).extract_with_report::<T>(prompt) {
        Ok(done) => done,
        // A model can fail other checks (a pattern, a range); no copy may be the reason.
        Err(e) => {
            assert!(!e.to_string().contains("copied verbatim"), "{id}: {e}");
            assert!(
                matches!(e, Error::RetriesExhausted { .. } | Error::Truncated { .. }),
                "{id}: {e}"
            );
            println!("{id}: no valid answer ({e})");
            return 0;
        }
    };
    for a in &done.report.failed_attempts {
        assert!(
            !a.error_messages().join(" ").contains("copied verbatim"),
            "{id}: {a:?}"
        );
    }
    let value = serde_json::to_value(&done.value).unwrap_or_else(|e| panic!("{e}"));
    let schema = instructor_core::json_schema::<T>();
    let mut copies = Vec::new();
    verbatim_strings(&schema, &schema, &value, false, &mut copies);
    println!("{id}: {} -> copies {copies:?}", done.report.raw);
    for c in &copies {
        assert!(
            prompt.contains(c.as_str()),
            "{id}: {c:?} is not in {prompt:?}"
        );
    }
    copies.len()
}

#[derive(serde::Deserialize)]
struct Case {
    id: String,
    prompt: String,
}

#[test]
fn verbatim_values_are_substrings_of_the_prompt_on_every_bench_case() {
    let cases: Vec<Case> = serde_json::from_str(include_str!("../../bench/cases.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut checked = 0;
    let mut ran = 0;
    for case in &cases {
        let p = case.prompt.as_str();
        checked += match case.id.as_str() {
            "user_detail" => copies_are_verbatim::<grounded::UserDetail>(&case.id, p),
            "address" => copies_are_verbatim::<grounded::Address>(&case.id, p),
            "order" => copies_are_verbatim::<grounded::Order>(&case.id, p),
            "event" => copies_are_verbatim::<grounded::Event>(&case.id, p),
            "review" => copies_are_verbatim::<grounded::Review>(&case.id, p),
            "flight" => copies_are_verbatim::<grounded::Flight>(&case.id, p),
            "birthday" => copies_are_verbatim::<grounded::Person>(&case.id, p),
            "quote" => copies_are_verbatim::<grounded::Quote>(&case.id, p),
            "contact" => copies_are_verbatim::<grounded::Contact>(&case.id, p),
            "people" => copies_are_verbatim::<grounded::People>(&case.id, p),
            "weather" => copies_are_verbatim::<grounded::Weather>(&case.id, p),
            "tasks" => copies_are_verbatim::<grounded::Tasks>(&case.id, p),
            "book" => copies_are_verbatim::<grounded::Book>(&case.id, p),
            _ => continue,
        };
        ran += 1;
    }
    assert_eq!(ran, 13, "every case with copied fields");
    // Most cases must produce a value: otherwise nothing was checked.
    assert!(checked >= 13, "only {checked} copies checked");
}

#[derive(Debug, serde::Deserialize, ResponseModel)]
struct Filed {
    /// The section of the newspaper the story belongs in.
    #[instructor(choices = "sections")]
    section: String,
    /// Labels for the story.
    #[instructor(choices = "labels")]
    labels: Vec<String>,
}

#[test]
fn choices_fields_only_return_given_values() {
    let sections = ["Sport-7", "Weather-3", "Money-9"];
    let labels = ["urgent", "local", "opinion"];
    for text in [
        "File this story: `The home team won the cup final 3-1 last night.`",
        "File this story: `Heavy snow is expected across the north tomorrow.`",
        "File this story: `Interest rates rose by half a point.`",
    ] {
        let filed: Filed = Extractor::new(llama())
            .choices("sections", sections)
            .choices("labels", labels)
            .extract(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        println!("{text} -> {filed:?}");
        assert!(sections.contains(&filed.section.as_str()), "{filed:?}");
        assert!(
            filed.labels.iter().all(|l| labels.contains(&l.as_str())),
            "{filed:?}"
        );
    }
}
