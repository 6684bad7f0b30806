//! Quality levers measured before they are built into the library: an [`Llm`] wrapper that
//! changes what our side sends (the grammar's JSON layout, the system prompt) and passes
//! everything else through, so one `peer_bench --variants` run compares them on the same cases,
//! model and machine.
//!
//! This module must not decide what the library does: a lever that measures well is then
//! implemented where it belongs (`instructor-core`'s grammar builders, the derive, `prompt.rs`),
//! and this wrapper is only how it was measured. The layout rewrite works on GBNF text, which
//! the library itself must never do (the derive knows the literals; it should emit them).

use instructor_core::__private::grammar::SPACE;
use instructor_core::{Llm, LlmError, Message, Request, Role, TokenStream};
use serde_json::Value;

/// What a variant changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lever {
    /// Nothing: the library's defaults.
    Baseline,
    /// Compact JSON only: no space after `:` and `,` (the library allows one since
    /// 2026-12-03; this was the default before).
    Compact,
    /// The system prompt also shows the answer's compact shape (`{"name": string, …}`).
    Shape,
    /// The system prompt also carries the JSON Schema.
    Schema,
    /// The system prompt asks to fill every list with all items the message mentions.
    Lists,
    /// The grounded variant of each case type (copied fields `#[instructor(verbatim)]`, see
    /// `grounded.rs`); the request passes through unchanged.
    Grounded,
}

impl Lever {
    /// Every lever, by the name `--variants` takes.
    pub const ALL: [(&'static str, Lever); 6] = [
        ("baseline", Lever::Baseline),
        ("compact", Lever::Compact),
        ("shape", Lever::Shape),
        ("schema", Lever::Schema),
        ("lists", Lever::Lists),
        ("grounded", Lever::Grounded),
    ];

    /// The lever called `name`.
    pub fn named(name: &str) -> Option<Lever> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
    }

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Lever::Baseline => "ours: ≤1 space after : and , + field descriptions (today)",
            Lever::Compact => "ours: compact JSON only (before 2026-12-03)",
            Lever::Shape => "ours: + compact answer shape in the prompt",
            Lever::Schema => "ours: + JSON Schema in the prompt",
            Lever::Lists => "ours: + list wording in the prompt",
            Lever::Grounded => "ours: + copied fields `verbatim` (grounded types)",
        }
    }
}

/// `llm` with one lever pulled.
pub struct Variant<'a> {
    pub llm: &'a dyn Llm,
    pub lever: Lever,
}

impl Llm for Variant<'_> {
    fn generate<'b>(
        &'b self,
        request: &Request<'_>,
    ) -> Result<Box<dyn TokenStream + 'b>, LlmError> {
        let grammar = match (self.lever, request.grammar) {
            (Lever::Compact, Some(g)) => Some(compact(g)),
            (_, g) => g.map(str::to_owned),
        };
        let extra = match (self.lever, request.json_schema) {
            (Lever::Shape, Some(schema)) => Some(format!(
                "\nAnswer with JSON of this shape: {}",
                shape(schema, schema)
            )),
            (Lever::Schema, Some(schema)) => Some(format!(
                "\nAnswer with JSON matching this JSON Schema: {schema}"
            )),
            (Lever::Lists, _) => Some(
                "\nWhen the message mentions several items of a list, put every one of them in \
                 the list, in the order they appear; never leave a list empty when the message \
                 has items for it."
                    .to_owned(),
            ),
            _ => None,
        };
        let mut messages: Vec<Message> = request.messages.to_vec();
        if let (Some(extra), Some(system)) =
            (extra, messages.iter_mut().find(|m| m.role == Role::System))
        {
            system.content.push_str(&extra);
        }
        let mut changed = request.clone();
        changed.messages = &messages;
        changed.grammar = grammar.as_deref();
        self.llm.generate(&changed)
    }
}

/// The grammar without the optional spaces the library allows after `:` and `,` (the compact
/// JSON the library forced before 2026-12-03). Every optional space is written as
/// [`SPACE`] after a separating blank, so removing that text is exact for the library's
/// grammars; a user pattern that itself contains `" "?` would lose it too (none of the bench
/// types has one).
pub fn compact(gbnf: &str) -> String {
    gbnf.replace(&format!(" {SPACE}"), "")
}

/// A one-line shape of the values `schema` describes: `{"name": string, "age": integer}`,
/// lists as `[item, …]`, enums as `"a" | "b"`.
pub fn shape(schema: &Value, root: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(def) = r
            .strip_prefix("#/$defs/")
            .and_then(|k| root.get("$defs")?.get(k))
        {
            return shape(def, root);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            return alts
                .iter()
                .map(|a| shape(a, root))
                .collect::<Vec<_>>()
                .join(" | ");
        }
    }
    let ty = schema.get("type");
    let ty = match ty {
        Some(Value::Array(types)) => types.first().and_then(Value::as_str),
        Some(t) => t.as_str(),
        None => None,
    };
    match ty {
        Some("object") => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return "object".into();
            };
            let members: Vec<String> = props
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), shape(v, root)))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
        Some("array") => match schema.get("items") {
            Some(items) => format!("[{}, …]", shape(items, root)),
            None => "[…]".into(),
        },
        Some(t) => t.to_owned(),
        None => "value".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_removes_exactly_the_optional_spaces() {
        use instructor_core::ResponseModel;
        #[derive(serde::Deserialize, instructor_core::ResponseModel)]
        #[allow(dead_code)]
        struct Probe {
            name: String,
            #[instructor(pattern = "[0-9]{2}:[0-9]{2}")]
            time: String,
            tags: Vec<String>,
        }
        assert!(Probe::GBNF.contains(SPACE), "{}", Probe::GBNF);
        let g = compact(Probe::GBNF);
        assert!(!g.contains(SPACE), "{g}");
        assert!(g.contains(r#""{\"name\":" string "," "\"time\":""#), "{g}");
        assert!(g.contains(r#""[" ( string ( "," string )* )? "]""#), "{g}");
    }

    #[test]
    fn shape_is_compact() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"enum": ["a", "b"]}}}
        });
        assert_eq!(
            shape(&schema, &schema),
            r#"{"name": string, "tags": ["a" | "b", …]}"#
        );
    }
}
