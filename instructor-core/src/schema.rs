//! JSON Schema pieces shared by the built-in impls and the derive.

use serde_json::{json, Map, Value};

use crate::grammar::{Bound, Int};

/// An integer as a JSON number: exact while it fits `i128`/`u64`, else the nearest `f64`.
fn int_value(i: Int) -> Value {
    if i.neg {
        i128::try_from(i.mag)
            .map(|m| json!(-m))
            .unwrap_or(json!(-(i.mag as f64)))
    } else {
        u64::try_from(i.mag)
            .map(|m| json!(m))
            .unwrap_or(json!(i.mag as f64))
    }
}

fn bound_value(b: Bound) -> Value {
    match b {
        Bound::Int(i) => int_value(i),
        Bound::Float(f) => json!(f),
    }
}

/// The schema of an integer type whose values are `min..=max`.
pub(crate) fn int_schema(min: Int, max: Int) -> Value {
    json!({"type": "integer", "minimum": int_value(min), "maximum": int_value(max)})
}

/// The schema a nullable value wraps: `{"anyOf": [inner, {"type": "null"}]}` → `inner`.
fn non_null_part(schema: &mut Value) -> &mut Value {
    let is_nullable = schema
        .get("anyOf")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() == 2 && a[1] == json!({"type": "null"}));
    if is_nullable {
        &mut schema["anyOf"][0]
    } else {
        schema
    }
}

/// Adds the keywords of a field's constraint attributes to its schema, seeing through `Option`.
pub fn constrain_schema(
    schema: &mut Value,
    min: Option<Bound>,
    max: Option<Bound>,
    length: Option<(usize, Option<usize>)>,
    items: Option<(usize, Option<usize>)>,
    pattern: Option<&str>,
) {
    let target = non_null_part(schema);
    let Value::Object(obj) = target else { return };
    if let Some(b) = min {
        obj.insert("minimum".into(), bound_value(b));
    }
    if let Some(b) = max {
        obj.insert("maximum".into(), bound_value(b));
    }
    if let Some((lo, hi)) = length {
        obj.insert("minLength".into(), json!(lo));
        if let Some(hi) = hi {
            obj.insert("maxLength".into(), json!(hi));
        }
    }
    if let Some((lo, hi)) = items {
        obj.insert("minItems".into(), json!(lo));
        if let Some(hi) = hi {
            obj.insert("maxItems".into(), json!(hi));
        }
    }
    if let Some(p) = pattern {
        obj.insert("pattern".into(), json!(format!("^(?:{p})$")));
    }
}

/// Adds a `description` to a schema.
pub fn describe(schema: &mut Value, description: &str) {
    if let Value::Object(obj) = schema {
        obj.insert("description".into(), json!(description));
    }
}

/// Inserts a user type's schema into `defs` under `key` and returns the `$ref` to it.
pub fn define(defs: &mut Map<String, Value>, key: &str, schema: Value) -> Value {
    defs.insert(key.to_owned(), schema);
    json!({ "$ref": format!("#/$defs/{key}") })
}
