//! [`JsonError`]: text that stopped being JSON, where and why, worded for a person.

/// Text that is not JSON, found while parsing output as it streams ([`PartialValue`](crate::PartialValue)):
/// where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {position}: {message}")]
pub struct JsonError {
    position: usize,
    message: String,
}

impl JsonError {
    pub(super) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }

    /// Byte offset, in all the text fed so far (`PartialParser::text`, `PartialValue::text`), of the character
    /// where the text stopped being JSON.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What was wrong, written for a person.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Names the character at byte `i` for an error message.
pub(super) fn char_at(text: &str, i: usize) -> String {
    match text.get(i..).and_then(|rest| rest.chars().next()) {
        Some(c) if c.is_control() => format!("control character U+{:04X}", c as u32),
        Some(c) => format!("`{c}`"),
        None => "the end of the text".to_owned(),
    }
}
