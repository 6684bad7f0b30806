//! The errors a user of the library can meet, one enum for extraction and one for backends.

use crate::llm::Usage;

/// A failure inside a backend (model loading, context, decoding, transport).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The model file could not be found or loaded.
    #[error("could not load the model: {0}")]
    ModelLoad(String),
    /// The prompt plus `max_tokens` does not fit in the context window.
    #[error("the prompt ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceeds the context size ({n_ctx} tokens); shorten the prompt, lower max_tokens or raise n_ctx")]
    ContextOverflow {
        /// Tokens in the rendered prompt.
        prompt_tokens: usize,
        /// The requested generation budget.
        max_tokens: u32,
        /// The context window.
        n_ctx: u32,
    },
    /// The grammar was rejected by the backend.
    #[error("the backend rejected the grammar: {0}")]
    Grammar(String),
    /// Anything else the backend reports.
    #[error("{0}")]
    Backend(String),
    /// The backend's settings are unusable (a malformed URL, an unset API-key variable, a
    /// missing cargo feature); nothing was sent.
    #[error("invalid backend configuration: {0}")]
    Config(String),
    /// A remote backend could not be reached: the connection was refused or reset before any
    /// answer, or the host name did not resolve.
    #[error("could not connect to {url}: {message}; is the server running and the URL right?")]
    Connect {
        /// The address that was tried (credentials never included).
        url: String,
        /// What failed, for example "connection refused".
        message: String,
    },
    /// A remote backend answered with an HTTP error status.
    #[error("the server answered HTTP {status}: {message}")]
    Http {
        /// The HTTP status code, 400 to 599 (or a redirect the backend does not follow).
        status: u16,
        /// The server's own explanation (from its JSON error body, or its raw text, shortened).
        message: String,
    },
    /// A remote backend took longer than a configured time limit.
    #[error("timed out {during} {url} after {limit:?}; raise the timeout or check the server")]
    Timeout {
        /// The address that was called (credentials never included).
        url: String,
        /// What was under way, for example "connecting to".
        during: String,
        /// The limit that was reached.
        limit: std::time::Duration,
    },
    /// A remote backend's answer broke the protocol: malformed JSON, no choices, or a stream
    /// cut off before it ended.
    #[error("invalid answer from the server: {0}")]
    Protocol(String),
}

/// One failed attempt of an extraction: what the model said and what was wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The raw text the model produced.
    pub output: String,
    /// Every problem found (parse error, or one entry per failed validation).
    pub errors: Vec<String>,
}

/// Everything that can go wrong in an extraction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// Generation stopped at `max_tokens` before the answer was complete.
    #[error("generation stopped at max_tokens ({max_tokens}) before the answer was complete; raise max_tokens. Partial output: {partial}")]
    Truncated {
        /// The budget that was reached.
        max_tokens: u32,
        /// The text generated so far.
        partial: String,
        /// Earlier attempts of the same extraction that failed to parse or validate.
        attempts: Vec<Attempt>,
        /// What every attempt cost, the cut one included (boxed to keep `Error` small).
        usage: Box<Usage>,
    },
    /// An item of a streamed list failed to parse or validate (the stream goes on).
    #[error("list item {index} is invalid: {}", errors.join("; "))]
    InvalidItem {
        /// The item's position in the list.
        index: usize,
        /// Its raw JSON text.
        raw: String,
        /// What is wrong with it.
        errors: Vec<String>,
    },
    /// Every attempt failed to parse or validate.
    #[error("no valid answer after {} attempt(s); last errors: {}", attempts.len(), last_errors(attempts))]
    RetriesExhausted {
        /// Each attempt's raw output and errors, in order.
        attempts: Vec<Attempt>,
        /// What all attempts cost together.
        usage: Usage,
    },
    /// The answer type has a `choices = "…"` field whose set the extraction was not given.
    #[error("the answer type needs the choice set `{name}`; give it with `Extractor::choices(\"{name}\", [...])`")]
    MissingChoices {
        /// The set's name, as written in the attribute.
        name: String,
    },
    /// A choice set the answer type needs is empty, so its field could never be filled.
    #[error("the choice set `{name}` is empty; a field restricted to it could never be filled")]
    EmptyChoices {
        /// The set's name.
        name: String,
    },
}

fn last_errors(attempts: &[Attempt]) -> String {
    attempts
        .last()
        .map(|a| a.errors.join("; "))
        .unwrap_or_default()
}

impl Error {
    /// The raw output of the last attempt, when there was one.
    pub fn last_output(&self) -> Option<&str> {
        match self {
            Error::RetriesExhausted { attempts, .. } => attempts.last().map(|a| a.output.as_str()),
            Error::Truncated { partial, .. } => Some(partial),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    /// Clippy's `result_large_err` warns from 128 bytes on: users' own `Result<_, Error>`
    /// closures and functions must not trip it.
    #[test]
    fn errors_stay_small() {
        assert!(std::mem::size_of::<super::Error>() < 128);
        assert!(std::mem::size_of::<super::LlmError>() < 128);
    }
}
