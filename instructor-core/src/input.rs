//! What a caller asks: one prompt string or a whole message history, through one type.
//!
//! Every entry point (`extract`, `extract_stream`, `extract_iter` and their report variants)
//! takes `impl Into<Prompt>`, so a string and a conversation go through the same door. This
//! module only converts; the system prompt is built in `prompt.rs`.

use crate::llm::{Message, Role};

/// The input of an extraction: a user prompt or a conversation.
///
/// ```
/// use instructor_core::{Message, Prompt};
/// let one: Prompt = "Extract `Jason is 30 years old`".into();
/// let many: Prompt = vec![
///     Message::system("Extract people."),
///     Message::user("Jason is 30 years old"),
/// ]
/// .into();
/// assert_eq!(one.messages().len(), 1);
/// assert_eq!(many.messages().len(), 2);
/// ```
///
/// A leading system message replaces the default instruction at the top of the system prompt
/// (the type's and fields' descriptions are still appended to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    messages: Vec<Message>,
}

impl Prompt {
    /// The conversation to continue, in order.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The caller's own instruction (a leading system message) and the rest of the
    /// conversation.
    pub(crate) fn split_instruction(&self) -> (Option<&str>, &[Message]) {
        match self.messages.split_first() {
            Some((first, rest)) if first.role == Role::System => (Some(&first.content), rest),
            _ => (None, &self.messages),
        }
    }
}

impl From<&str> for Prompt {
    /// One user message.
    fn from(prompt: &str) -> Self {
        Self {
            messages: vec![Message::user(prompt)],
        }
    }
}

impl From<String> for Prompt {
    /// One user message.
    fn from(prompt: String) -> Self {
        Self {
            messages: vec![Message::user(prompt)],
        }
    }
}

impl From<&String> for Prompt {
    /// One user message.
    fn from(prompt: &String) -> Self {
        Self::from(prompt.as_str())
    }
}

impl From<Message> for Prompt {
    fn from(message: Message) -> Self {
        Self {
            messages: vec![message],
        }
    }
}

impl From<Vec<Message>> for Prompt {
    fn from(messages: Vec<Message>) -> Self {
        Self { messages }
    }
}

impl From<&[Message]> for Prompt {
    fn from(messages: &[Message]) -> Self {
        Self {
            messages: messages.to_vec(),
        }
    }
}

impl From<&Vec<Message>> for Prompt {
    fn from(messages: &Vec<Message>) -> Self {
        Self::from(messages.as_slice())
    }
}

impl<const N: usize> From<[Message; N]> for Prompt {
    fn from(messages: [Message; N]) -> Self {
        Self {
            messages: messages.into(),
        }
    }
}

impl<const N: usize> From<&[Message; N]> for Prompt {
    fn from(messages: &[Message; N]) -> Self {
        Self::from(messages.as_slice())
    }
}
