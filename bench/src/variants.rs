//! Quality levers measured before they are built into the library: an [`Llm`] wrapper that
//! changes what our side sends (the grammar's JSON layout, the system prompt) and passes
//! everything else through, so one `peer_bench --variants` run compares them on the same cases,
//! model and machine.
//!
//! This module must not decide what the library does: a lever that measures well is then
//! implemented where it belongs (`instructor-core`'s grammar builders, the derive, `prompt.rs`),
//! and this wrapper is only how it was measured. The layout rewrite works on GBNF text, which
//! the library itself must never do (the derive knows the literals; it should emit them).

use instructor_core::{Llm, LlmError, Message, Request, Role, TokenStream};
use serde_json::Value;

/// What a variant changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lever {
    /// Nothing: the library's defaults.
    Baseline,
    /// At most one optional space after every `:` that ends a key and every `,` between
    /// members or items (never unbounded whitespace).
    Spaced,
    /// The system prompt also shows the answer's compact shape (`{"name": string, …}`).
    Shape,
    /// The system prompt also carries the JSON Schema.
    Schema,
    /// The system prompt asks to fill every list with all items the message mentions.
    Lists,
}

impl Lever {
    /// Every lever, by the name `--variants` takes.
    pub const ALL: [(&'static str, Lever); 5] = [
        ("baseline", Lever::Baseline),
        ("spaced", Lever::Spaced),
        ("shape", Lever::Shape),
        ("schema", Lever::Schema),
        ("lists", Lever::Lists),
    ];

    /// The lever called `name`.
    pub fn named(name: &str) -> Option<Lever> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
    }

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Lever::Baseline => "ours: compact JSON, instruction + field descriptions (today)",
            Lever::Spaced => "ours: ≤1 optional space after : and ,",
            Lever::Shape => "ours: + compact answer shape in the prompt",
            Lever::Schema => "ours: + JSON Schema in the prompt",
            Lever::Lists => "ours: + list wording in the prompt",
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
            (Lever::Spaced, Some(g)) => Some(spaced(g)),
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

/// The grammar with `( " " )?` after each `:` that follows a key's closing quote and after each
/// `,` outside a JSON string, inside the grammar's literals. Literals are split there.
pub fn spaced(gbnf: &str) -> String {
    let mut out = String::with_capacity(gbnf.len() * 2);
    let mut chars = gbnf.chars().peekable();
    let mut in_literal = false;
    let mut in_class = false;
    // Within a literal: the JSON text decoded so far, to know whether a `,` is inside a string.
    let mut json_in_string = false;
    let mut prev_json: Option<char> = None;
    while let Some(c) = chars.next() {
        if !in_literal {
            out.push(c);
            match c {
                '[' if !in_class => in_class = true,
                ']' if in_class => in_class = false,
                '\\' if in_class => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '"' if !in_class => {
                    in_literal = true;
                    json_in_string = false;
                    prev_json = None;
                }
                '#' if !in_class => {
                    // A comment runs to the end of the line.
                    for n in chars.by_ref() {
                        out.push(n);
                        if n == '\n' {
                            break;
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        // Inside a literal.
        match c {
            '"' => {
                out.push(c);
                in_literal = false;
            }
            '\\' => {
                let Some(n) = chars.next() else { break };
                out.push('\\');
                out.push(n);
                let decoded = match n {
                    '"' => '"',
                    '\\' => '\\',
                    _ => '\0',
                };
                if decoded == '"' && prev_json != Some('\\') {
                    json_in_string = !json_in_string;
                }
                prev_json = Some(if decoded == '\\' && prev_json == Some('\\') {
                    '\0'
                } else {
                    decoded
                });
            }
            ':' | ',' => {
                out.push(c);
                let key_end = c == ':' && prev_json == Some('"') && !json_in_string;
                let member_sep = c == ',' && !json_in_string;
                prev_json = Some(c);
                if key_end || member_sep {
                    if chars.peek() == Some(&'"') {
                        // The literal ends here: close it, then the optional space.
                        chars.next();
                        out.push_str("\" \" \"?");
                        in_literal = false;
                    } else {
                        out.push_str("\" \" \"? \"");
                    }
                }
            }
            _ => {
                out.push(c);
                prev_json = Some(c);
            }
        }
    }
    out
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
    fn spaces_follow_keys_and_separators_only() {
        let g = r#"root ::= "{\"name\":" string ",\"time\":\"" [0-9]{2} ":" [0-9]{2} "\"}"
vec ::= "[" ( item ( "," item )* )? "]""#;
        let s = spaced(g);
        assert_eq!(
            s,
            r#"root ::= "{\"name\":" " "? string "," " "? "\"time\":" " "? "\"" [0-9]{2} ":" [0-9]{2} "\"}"
vec ::= "[" ( item ( "," " "? item )* )? "]""#
        );
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
