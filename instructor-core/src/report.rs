//! What an extraction reports besides its value: each failed attempt, the raw output, what it
//! cost. Plain data, built by the extraction loop (`session.rs`); nothing here talks to a model.

use std::time::Duration;

use crate::llm::{LoopCut, Usage};
use crate::validate::FieldError;

/// A validated value and the report of how it was obtained.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Extraction<T> {
    /// The validated value.
    pub value: T,
    /// What it took.
    pub report: Report,
}

impl<T> Extraction<T> {
    /// A value with its report.
    pub fn new(value: T, report: Report) -> Self {
        Self { value, report }
    }

    /// The value, without the report.
    pub fn into_value(self) -> T {
        self.value
    }
}

/// How an extraction went.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Report {
    /// The failed attempts before the successful one, each with its raw output and errors.
    pub failed_attempts: Vec<Attempt>,
    /// The raw output of the successful attempt (for a streamed list, the whole list).
    pub raw: String,
    /// Tokens and time over all attempts.
    pub usage: Usage,
    /// Repetition loops the backend cut out of the answers, over all attempts (the count is also
    /// in `usage.loops_cut`).
    pub loops_cut: Vec<LoopCut>,
    /// Wall time of the whole extraction.
    pub elapsed: Duration,
}

impl Report {
    /// An empty report: no failed attempts, no output, nothing spent. Fill it in with the
    /// builder methods (fake backends and tests outside this crate build reports this way).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the failed attempts.
    #[must_use]
    pub fn failed_attempts(mut self, attempts: Vec<Attempt>) -> Self {
        self.failed_attempts = attempts;
        self
    }

    /// Sets the raw output of the successful attempt.
    #[must_use]
    pub fn raw(mut self, raw: impl Into<String>) -> Self {
        self.raw = raw.into();
        self
    }

    /// Sets what the extraction cost.
    #[must_use]
    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Sets the wall time.
    #[must_use]
    pub fn elapsed(mut self, elapsed: Duration) -> Self {
        self.elapsed = elapsed;
        self
    }

    /// Attempts made, the successful one included.
    pub fn attempts(&self) -> usize {
        self.failed_attempts.len() + 1
    }
}

/// One failed attempt of an extraction: what the model said and what was wrong with it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Attempt {
    /// The raw text the model produced.
    pub output: String,
    /// Every problem found: one entry per failed validation, each with its field path, or one
    /// entry with an empty path when the output did not parse.
    pub errors: Vec<FieldError>,
}

impl Attempt {
    /// A failed attempt.
    pub fn new(output: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self {
            output: output.into(),
            errors,
        }
    }

    /// The errors as the re-ask message lists them (`path: message`).
    pub fn error_messages(&self) -> Vec<String> {
        self.errors.iter().map(ToString::to_string).collect()
    }
}
