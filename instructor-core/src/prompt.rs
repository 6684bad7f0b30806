//! The messages sent to the model: the system prompt that carries the schema, and the re-ask
//! that carries a failed attempt's errors back.

use crate::grounding::VERBATIM_NOTE;
use crate::llm::Message;
use crate::validate::FieldError;

/// The instruction used when the caller gives no system prompt of their own.
pub const DEFAULT_SYSTEM_PROMPT: &str =
    "You are a precise information extraction engine. Extract the requested information from the user's message. Use only facts stated in the message.";

/// The system message for an extraction: the caller's instruction, then the type's description
/// and its fields' descriptions when it has any (small models need them to know what goes
/// where).
///
/// The JSON Schema itself is not pasted in: the grammar already fixes every key and type, and
/// on the default 135M model a pasted schema made answers worse (measured on the quickstart:
/// `{"name":"Jason","age":22}` with the schema in the prompt, `{"name":"Jason","age":30}`
/// without). Backends that cannot run grammars get the schema through
/// [`Request::json_schema`](crate::Request::json_schema).
pub fn system_message(
    instruction: &str,
    description: Option<&str>,
    schema: &serde_json::Value,
) -> Message {
    let mut text = String::with_capacity(256);
    text.push_str(instruction);
    if let Some(d) = description {
        text.push_str("\nThe answer describes: ");
        text.push_str(d);
    }
    push_fields(&mut text, "\nFields:", schema);
    Message::system(text)
}

/// Appended to the instruction of list extractions: without it the default model often
/// answers with an empty list.
const LIST_INSTRUCTION: &str =
    "\nAnswer with a JSON array holding one element for every item the message mentions.";

/// The system message for a streamed list ([`Extractor::extract_iter`](crate::Extractor::extract_iter)):
/// the instruction, the list instruction, then the fields of each element.
///
/// Measured on the default 135M model and three cities: with the list instruction first and
/// the fields after it, it answers exactly what it answers without descriptions; with the
/// item type's description ("The answer describes: A city and its country.") or the fields
/// before the list instruction it answered `[]` or invented countries. So the item type's own
/// description is left out and the fields come last.
pub(crate) fn list_system_message(instruction: &str, schema: &serde_json::Value) -> Message {
    let mut text = String::with_capacity(256);
    text.push_str(instruction);
    text.push_str(LIST_INSTRUCTION);
    push_fields(&mut text, "\nEach element has these fields:", schema);
    Message::system(text)
}

fn push_fields(text: &mut String, heading: &str, schema: &serde_json::Value) {
    let fields = field_descriptions(schema);
    if !fields.is_empty() {
        text.push_str(heading);
        for (name, d) in fields {
            text.push_str("\n- ");
            text.push_str(&name);
            text.push_str(": ");
            text.push_str(&d);
        }
    }
}

/// The described properties of the top-level object, or of a list's items: the object itself,
/// or the user type a `$ref` names. Definitions live in the root's `$defs`, never next to the
/// `$ref` (a list's `items` is a bare `{"$ref": ...}`).
fn field_descriptions(schema: &serde_json::Value) -> Vec<(String, String)> {
    let defs = schema.get("$defs");
    // A list's fields are its items'.
    let mut object = schema
        .get("items")
        .filter(|_| schema.get("type") == Some(&"array".into()))
        .unwrap_or(schema);
    if let Some(r) = object.get("$ref").and_then(|r| r.as_str()) {
        if let Some(def) = r.strip_prefix("#/$defs/").and_then(|k| defs?.get(k)) {
            object = def;
        }
    }
    let Some(props) = object.get("properties").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    props
        .iter()
        .filter_map(|(k, v)| {
            let d = v.get("description")?.as_str()?;
            // The verbatim note is for schema-only servers; in the prompt it makes models copy
            // more than the field holds (measured on both bench models: `"name": "Jason is 30
            // years old"`), and the grammar enforces the copy anyway.
            let d = d.strip_suffix(VERBATIM_NOTE).unwrap_or(d).trim_end();
            (!d.is_empty()).then(|| (k.clone(), d.to_owned()))
        })
        .collect()
}

/// The follow-up that asks the model to fix a failed answer, listing every error.
pub(crate) fn reask_message(errors: &[FieldError]) -> Message {
    let mut text = String::from(
        "That answer is not valid. Fix these errors and answer again with the corrected JSON only:",
    );
    for e in errors {
        text.push_str("\n- ");
        text.push_str(&e.to_string());
    }
    Message::user(text)
}
