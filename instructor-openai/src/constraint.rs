//! [`Constraint`]: how the output's shape is passed to the server, and the JSON it adds to a
//! request body.
//!
//! This module owns the per-server choice between a JSON Schema `response_format`, llama-cpp-
//! python's `json_object` + `schema`, a GBNF `grammar`, or nothing. It must not parse or
//! validate answers: the extraction loop in `instructor-core` does that whatever the server did.

use serde_json::{json, Map, Value};

/// How the type's shape is passed to the server.
///
/// Servers differ in what they accept, and some reject what they do not understand. The
/// default, [`Auto`](Constraint::Auto), finds out on the first request; to skip that, pick the
/// one your server implements:
///
/// | Server | Use | Sent as |
/// |---|---|---|
/// | OpenAI | [`JsonSchema`](Constraint::JsonSchema) | `response_format: {"type": "json_schema", …}` |
/// | vLLM | [`JsonSchema`](Constraint::JsonSchema) | same |
/// | llama.cpp's `llama-server` | [`Grammar`](Constraint::Grammar) or [`JsonSchema`](Constraint::JsonSchema) | top-level `grammar` (GBNF), or the `json_schema` response format |
/// | llama-cpp-python's server | [`Grammar`](Constraint::Grammar), else [`JsonObjectSchema`](Constraint::JsonObjectSchema) | top-level `grammar`, or `response_format: {"type": "json_object", "schema": …}` |
/// | anything else | [`None`](Constraint::None) | nothing; the prompt alone asks for JSON |
///
/// [`Grammar`](Constraint::Grammar) is the tightest: it is the same GBNF grammar the local
/// llama.cpp backend runs, with the key order and integer bounds built in.
///
/// Measured with the default model (this crate's `tests/server.rs` and `tests/llama_server.rs`;
/// the OpenAI and vLLM rows are those servers' documentation, untested here), prompt
/// ``Extract `Jason is 30 years old` ``:
///
/// | Server | `Auto` settles on | `json_schema` | `grammar` | `json_object` + schema | none |
/// |---|---|---|---|---|---|
/// | llama-cpp-python 0.3.36 | `Grammar`, after one refused request | HTTP 500 (`response_format.type` must be `'text'` or `'json_object'`) | honoured exactly: `{"name": "Jason", "age": 30}` | honoured, keys sorted: Jason/30; one list prompt got `[ ]` | prose; re-asked until the attempts run out |
/// | llama.cpp `llama-server` (the same release's vendored tree, `--parallel 2`) | `Grammar`, first try (`GET /models` says llama.cpp) | accepted, as a looser grammar: `{"age": 30, "name": "jason"}` over several lines | honoured exactly: `{"name": "Jason", "age": 30}` | accepted, the same looser grammar | prose; re-asked until the attempts run out |
///
/// Whichever you choose, the answer is parsed and validated locally and a failure is sent back
/// to the model to fix ([`instructor_core::Extractor`]), so a server that ignores the
/// constraint costs retries, never a wrong value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Constraint {
    /// The default: the first of [`JsonSchema`](Constraint::JsonSchema),
    /// [`Grammar`](Constraint::Grammar) and [`JsonObjectSchema`](Constraint::JsonObjectSchema)
    /// that the server accepts, else [`None`](Constraint::None); on llama.cpp's `llama-server`
    /// (its `GET /models` says `"owned_by": "llamacpp"`) `Grammar` comes first, because the
    /// grammar it derives from a schema lets keys come in any order. The client tries them in that
    /// order on its first constrained request, moving on only when the server rejects the
    /// request outright (HTTP 400, 422, 500 or 501 before any answer: llama-cpp-python answers
    /// `json_schema` with a 500), and keeps the first that succeeds for the rest of its life
    /// ([`OpenAi::constraint_in_use`](crate::OpenAi::constraint_in_use)). So the first request
    /// costs at most three rejected round trips, and a server that accepts no constraint still
    /// works through local validation and re-asks. A rejection that a transient failure
    /// caused settles nothing: the next request tries again.
    #[default]
    Auto,
    /// OpenAI's structured outputs: `response_format: {"type": "json_schema", "json_schema":
    /// {"name", "schema", "strict": true}}`, the name taken from the schema's top-level type.
    /// The standard most servers implement (llama-cpp-python's is the exception).
    ///
    /// OpenAI's strict mode accepts a subset of JSON Schema; when it rejects a type's schema
    /// (an [`LlmError::Http`](instructor_core::LlmError::Http) 400 naming the schema), use
    /// [`Constraint::None`].
    JsonSchema,
    /// llama-cpp-python's JSON mode with a schema: `response_format: {"type": "json_object",
    /// "schema": …}`; its server turns the schema into a grammar.
    JsonObjectSchema,
    /// A GBNF grammar as a top-level `"grammar"` field (llama.cpp's `llama-server` and
    /// llama-cpp-python's server).
    Grammar,
    /// Nothing beyond the prompt.
    None,
}

impl Constraint {
    /// Adds this constraint's fields to a request `body` for a request carrying `grammar` and
    /// `schema` (either may be absent; then nothing is added for it).
    pub(crate) fn apply(
        self,
        body: &mut Map<String, Value>,
        grammar: Option<&str>,
        schema: Option<&Value>,
    ) {
        match self {
            // The client resolves `Auto` before a body is built; alone it means the first
            // constraint it tries.
            Constraint::Auto | Constraint::JsonSchema => {
                if let Some(schema) = schema {
                    body.insert(
                        "response_format".into(),
                        json!({
                            "type": "json_schema",
                            "json_schema": {
                                "name": schema_name(schema),
                                "schema": schema,
                                "strict": true,
                            },
                        }),
                    );
                }
            }
            Constraint::JsonObjectSchema => {
                let mut format = Map::new();
                format.insert("type".into(), "json_object".into());
                if let Some(schema) = schema {
                    format.insert("schema".into(), schema.clone());
                }
                body.insert("response_format".into(), Value::Object(format));
            }
            Constraint::Grammar => {
                if let Some(grammar) = grammar {
                    body.insert("grammar".into(), grammar.into());
                }
            }
            Constraint::None => {}
        }
    }
}

/// The constraints [`Constraint::Auto`] tries, in order, for a request that carries `grammar`
/// and `schema` as given: each only when what it sends is there, and `None` last. The standard
/// `json_schema` comes first, except with `grammar_first` (a server known to run GBNF, where
/// the type's own grammar is tighter than the one it would derive from the schema).
pub(crate) fn auto_candidates(
    has_grammar: bool,
    has_schema: bool,
    grammar_first: bool,
) -> Vec<Constraint> {
    let mut out = Vec::with_capacity(4);
    if has_grammar && grammar_first {
        out.push(Constraint::Grammar);
    }
    if has_schema {
        out.push(Constraint::JsonSchema);
    }
    if has_grammar && !grammar_first {
        out.push(Constraint::Grammar);
    }
    if has_schema {
        out.push(Constraint::JsonObjectSchema);
    }
    out.push(Constraint::None);
    out
}

/// Whether `error` is a server refusing the request as sent, which another constraint may fix.
pub(crate) fn rejects_request(error: &instructor_core::LlmError) -> bool {
    matches!(
        error,
        instructor_core::LlmError::Http {
            status: 400 | 422 | 500 | 501,
            ..
        }
    )
}

/// The longest name OpenAI accepts for a `json_schema` response format.
const MAX_NAME_LEN: usize = 64;

/// A name for the schema as OpenAI requires it (`[A-Za-z0-9_-]{1,64}`): the referenced type's
/// name (`UserDetail`), `<item>_list` for an array of a named type, else `response`.
pub(crate) fn schema_name(schema: &Value) -> String {
    let ref_name = |v: &Value| {
        v.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
            .map(str::to_owned)
    };
    let raw = ref_name(schema).or_else(|| {
        let items = schema.get("items")?;
        Some(format!("{}_list", ref_name(items)?))
    });
    let name: String = raw
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_LEN)
        .collect();
    if name.is_empty() {
        "response".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(c: Constraint, grammar: Option<&str>, schema: Option<&Value>) -> Value {
        let mut body = Map::new();
        c.apply(&mut body, grammar, schema);
        Value::Object(body)
    }

    #[test]
    fn each_constraint_adds_its_own_fields() {
        let schema = json!({"$ref": "#/$defs/UserDetail", "$defs": {"UserDetail": {}}});
        let g = Some("root ::= \"x\"");
        assert_eq!(
            applied(Constraint::JsonSchema, g, Some(&schema)),
            json!({"response_format": {"type": "json_schema", "json_schema": {
                "name": "UserDetail", "schema": schema, "strict": true}}})
        );
        assert_eq!(
            applied(Constraint::JsonObjectSchema, g, Some(&schema)),
            json!({"response_format": {"type": "json_object", "schema": schema}})
        );
        assert_eq!(
            applied(Constraint::Grammar, g, Some(&schema)),
            json!({"grammar": "root ::= \"x\""})
        );
        assert_eq!(applied(Constraint::None, g, Some(&schema)), json!({}));
    }

    #[test]
    fn missing_inputs_add_nothing_or_plain_json_mode() {
        assert_eq!(applied(Constraint::JsonSchema, Some("g"), None), json!({}));
        assert_eq!(
            applied(Constraint::Grammar, None, Some(&json!({}))),
            json!({})
        );
        assert_eq!(
            applied(Constraint::JsonObjectSchema, None, None),
            json!({"response_format": {"type": "json_object"}})
        );
    }

    #[test]
    fn schema_names_follow_openai_rules() {
        assert_eq!(
            schema_name(&json!({"$ref": "#/$defs/UserDetail"})),
            "UserDetail"
        );
        assert_eq!(
            schema_name(&json!({"type": "array", "items": {"$ref": "#/$defs/Item"}})),
            "Item_list"
        );
        assert_eq!(schema_name(&json!({"type": "string"})), "response");
        assert_eq!(
            schema_name(&json!({"$ref": "#/$defs/Pair<u8, String>"})),
            "Pair_u8__String_"
        );
        let long = format!("#/$defs/{}", "A".repeat(100));
        assert_eq!(schema_name(&json!({ "$ref": long })).len(), MAX_NAME_LEN);
    }
}
