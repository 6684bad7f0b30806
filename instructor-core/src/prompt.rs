//! The messages sent to the model: the system prompt that carries the schema, and the re-ask
//! that carries a failed attempt's errors back.

use crate::llm::Message;

/// The instruction used when the caller gives no system prompt of their own.
pub const DEFAULT_SYSTEM_PROMPT: &str =
    "You are a precise information extraction engine. Extract the requested information from the user's message. Use only facts stated in the message.";

/// The system message for an extraction: the caller's instruction, the type's description, and
/// its JSON Schema (small models need the field descriptions to know what goes where).
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
    text.push_str("\nAnswer with one JSON value that matches this JSON Schema:\n");
    text.push_str(&schema.to_string());
    Message::system(text)
}

/// The follow-up that asks the model to fix a failed answer, listing every error.
pub fn reask_message(errors: &[String]) -> Message {
    let mut text = String::from(
        "That answer is not valid. Fix these errors and answer again with the corrected JSON only:",
    );
    for e in errors {
        text.push_str("\n- ");
        text.push_str(e);
    }
    Message::user(text)
}
