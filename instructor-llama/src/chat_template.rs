//! Turning a conversation into the prompt text the model was trained on.
//!
//! This module owns the choice of chat template and its rendering (with the assistant turn
//! opened, so the model's next tokens are the answer). It knows nothing about tokens or decoding.

use instructor_core::Message;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};

/// Which chat template renders the prompt.
///
/// ```
/// use instructor_llama::ChatTemplate;
/// assert_eq!(ChatTemplate::default(), ChatTemplate::Model);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ChatTemplate {
    /// The template stored in the GGUF file (`tokenizer.chat_template`), falling back to ChatML
    /// when the file has none or llama.cpp does not recognise it.
    #[default]
    Model,
    /// ChatML (`<|im_start|>role\n…<|im_end|>`), whatever the file says.
    ChatMl,
    /// A template llama.cpp recognises: a built-in name (`"chatml"`, `"llama3"`, `"gemma"`, …) or
    /// a Jinja template text it can classify. Falls back to ChatML when it is not recognised.
    Custom(String),
}

/// A template resolved once at load time.
#[derive(Clone)]
pub(crate) enum ResolvedTemplate {
    /// Rendered by llama.cpp's `llama_chat_apply_template`.
    Llama(LlamaChatTemplate),
    /// Rendered here.
    ChatMl,
}

impl std::fmt::Debug for ResolvedTemplate {
    // A GGUF's Jinja template runs to kilobytes: name the kind, not the text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Llama(t) => write!(f, "Llama({} bytes)", t.as_c_str().to_bytes().len()),
            Self::ChatMl => f.write_str("ChatMl"),
        }
    }
}

impl ResolvedTemplate {
    /// Picks the template for `choice`, reading the model's own when asked.
    pub(crate) fn resolve(model: &LlamaModel, choice: &ChatTemplate) -> Self {
        let found = match choice {
            ChatTemplate::ChatMl => return Self::ChatMl,
            ChatTemplate::Model => model.chat_template(None).map_err(|e| e.to_string()),
            ChatTemplate::Custom(text) => LlamaChatTemplate::new(text).map_err(|e| e.to_string()),
        };
        match found {
            Ok(template) => Self::Llama(template),
            Err(reason) => {
                tracing::debug!(%reason, "no usable chat template in the model; using ChatML");
                Self::ChatMl
            }
        }
    }

    /// Renders `messages` and opens the assistant turn.
    ///
    /// A template llama.cpp cannot apply (unknown format, a NUL byte in a message) falls back to
    /// ChatML rather than failing the request: a slightly wrong prompt format still gives a
    /// grammar-valid answer, an error gives nothing.
    pub(crate) fn render(&self, model: &LlamaModel, messages: &[Message]) -> String {
        if let Self::Llama(template) = self {
            let chat: Result<Vec<_>, _> = messages
                .iter()
                .map(|m| LlamaChatMessage::new(m.role.as_str().to_owned(), m.content.clone()))
                .collect();
            match chat.map_err(|e| e.to_string()).and_then(|chat| {
                model
                    .apply_chat_template(template, &chat, true)
                    .map_err(|e| e.to_string())
            }) {
                Ok(prompt) => return prompt,
                Err(reason) => {
                    tracing::debug!(%reason, "chat template failed; using ChatML");
                }
            }
        }
        chatml(messages)
    }
}

/// ChatML with the assistant turn opened, byte for byte what llama.cpp's `chatml` produces.
pub(crate) fn chatml(messages: &[Message]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str("<|im_start|>");
        out.push_str(m.role.as_str());
        out.push('\n');
        out.push_str(&m.content);
        out.push_str("<|im_end|>\n");
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_opens_the_assistant_turn() {
        let text = chatml(&[Message::system("S"), Message::user("U")]);
        assert_eq!(
            text,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn chatml_of_nothing_is_just_the_assistant_turn() {
        assert_eq!(chatml(&[]), "<|im_start|>assistant\n");
    }
}
