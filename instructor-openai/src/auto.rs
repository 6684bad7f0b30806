//! What [`Constraint::Auto`] does at run time: the first constrained request finds out which
//! constraint the server accepts (asking llama.cpp servers for their grammar first), and the
//! client keeps it. The constraints themselves, and the order they are tried in, are
//! `constraint.rs`'s; sending a request is `client.rs`'s.

use std::io::Read;
use std::time::{Duration, Instant};

use instructor_core::{LlmError, Request};
use ureq::http::Response;

use crate::client::OpenAi;
use crate::constraint::{auto_candidates, rejects_request, Constraint};

impl OpenAi {
    /// The constraint requests are sent with: the configured one, or for
    /// [`Constraint::Auto`] the one the server accepted (`None` until a constrained request
    /// has succeeded).
    pub fn constraint_in_use(&self) -> Option<Constraint> {
        match self.constraint {
            Constraint::Auto => self.settled.get().copied(),
            fixed => Some(fixed),
        }
    }

    /// Sends `request` with the constraint in use; under [`Constraint::Auto`] before it has
    /// settled, asks whether the server is llama.cpp's (one `GET /models`), then tries
    /// [`auto_candidates`] in order (at most four requests) and settles on the
    /// first the server accepts. A failure that is not a rejection of the request ends the
    /// search at once, settling nothing.
    pub(crate) fn post(
        &self,
        request: &Request<'_>,
        stream: bool,
    ) -> Result<(Response<ureq::Body>, Instant), LlmError> {
        if let Some(constraint) = self.constraint_in_use() {
            return self.send(&self.body(request, stream, constraint));
        }
        let grammar_first = request.grammar.is_some() && self.is_llama_cpp_server();
        let candidates = auto_candidates(
            request.grammar.is_some(),
            request.json_schema.is_some(),
            grammar_first,
        );
        let mut rejected = None;
        for constraint in candidates {
            match self.send(&self.body(request, stream, constraint)) {
                Ok(sent) => {
                    // A request with neither a grammar nor a schema proves nothing.
                    if request.grammar.is_some() || request.json_schema.is_some() {
                        let _ = self.settled.set(constraint);
                    }
                    return Ok(sent);
                }
                Err(e) if rejects_request(&e) => rejected = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(rejected.unwrap_or_else(|| self.rejected_everything()))
    }

    /// The error when no candidate was even tried (never: `None` is always last).
    pub(crate) fn rejected_everything(&self) -> LlmError {
        LlmError::protocol(format!(
            "{} rejected every way of sending the request",
            self.endpoint
        ))
    }

    /// `{base}/models`, where llama.cpp's server says who it is.
    pub(crate) fn models_url(&self) -> Option<String> {
        let base = self.request_url.strip_suffix("/chat/completions")?;
        Some(format!("{base}/models"))
    }

    /// The time limit of the `GET /models` probe.
    pub(crate) fn probe_limit(&self) -> Duration {
        self.limits.request.min(Duration::from_secs(10))
    }

    /// Whether `GET /models` says the server is llama.cpp's own `llama-server` (`"owned_by":
    /// "llamacpp"`). Its `json_schema` support turns the schema into a grammar that lets keys
    /// come in any order with free whitespace (measured: the default model then answers
    /// `{"age": 30, "name": "jason"}` over several lines), so [`Constraint::Auto`] sends it the
    /// type's own grammar first. One short request; any failure means "no".
    fn is_llama_cpp_server(&self) -> bool {
        const MAX_MODELS_BYTES: u64 = 1 << 20;
        let Some(url) = self.models_url() else {
            return false;
        };
        let mut call = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(self.probe_limit()))
            .build();
        if let Some(auth) = &self.authorization {
            call = call.header("authorization", auth.clone());
        }
        let Ok(response) = call.call() else {
            return false;
        };
        if !response.status().is_success() {
            return false;
        }
        let mut body = Vec::new();
        if response
            .into_body()
            .as_reader()
            .take(MAX_MODELS_BYTES)
            .read_to_end(&mut body)
            .is_err()
        {
            return false;
        }
        says_llama_cpp(&body)
    }
}

/// Whether a `GET /models` body names llama.cpp as the owner of a model.
pub(crate) fn says_llama_cpp(body: &[u8]) -> bool {
    let Ok(models) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    models["data"].as_array().is_some_and(|data| {
        data.iter()
            .any(|m| m["owned_by"].as_str() == Some("llamacpp"))
    })
}
