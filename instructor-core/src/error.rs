//! What can go wrong in an extraction: the one [`Error`] enum users match on.
//!
//! Backend failures are [`LlmError`](crate::LlmError), which lives with the [`Llm`](crate::Llm)
//! trait in `llm/` (it is part of the backend contract); this module wraps it and must not
//! grow backend-specific variants.

use crate::llm::{LlmError, Usage};
use crate::report::Attempt;
use crate::validate::FieldError;

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
    #[error("list item {index} is invalid: {}", join(errors))]
    InvalidItem {
        /// The item's position in the list.
        index: usize,
        /// Its raw JSON text.
        raw: String,
        /// What is wrong with it.
        errors: Vec<FieldError>,
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
    attempts.last().map(|a| join(&a.errors)).unwrap_or_default()
}

fn join(errors: &[FieldError]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&e.to_string());
    }
    out
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
