//! An OpenAI-compatible HTTP backend for instructor-rs.
//!
//! [`OpenAi`] implements [`instructor_core::Llm`] over the `/v1/chat/completions` endpoint
//! that OpenAI, vLLM, llama.cpp's `llama-server` and llama-cpp-python's server all offer, so
//! every extraction of `instructor-core` (plain, streamed partial values, streamed lists) runs
//! against a server the same way it runs on the local llama.cpp backend.
//!
//! ```no_run
//! use instructor_core::ResponseModel;
//! use instructor_openai::{Constraint, OpenAi};
//!
//! /// A person mentioned in the text.
//! #[derive(Debug, serde::Deserialize, ResponseModel)]
//! struct UserDetail {
//!     /// The person's first name.
//!     name: String,
//!     #[instructor(range(min = 0, max = 150))]
//!     age: u8,
//! }
//!
//! // llama-cpp-python's or llama.cpp's server; see `Constraint` for other servers.
//! let llm = OpenAi::builder()
//!     .base_url("http://localhost:8080/v1")
//!     .constraint(Constraint::Grammar)
//!     .build()?;
//! let user = UserDetail::extract(&llm, "Extract `Jason is 30 years old`")?;
//! println!("{user:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the server is trusted with
//!
//! The type's shape goes to the server as a JSON Schema or a GBNF grammar, chosen per server
//! with [`Constraint`]. Servers differ in what they honour, so nothing relies on it: the
//! extraction loop parses and validates every answer locally and sends failures back to the
//! model, exactly as with the local backend.
//!
//! # Failures
//!
//! Every failure is an [`instructor_core::LlmError`] worded for the terminal:
//! [`Connect`](instructor_core::LlmError::Connect) (refused, reset, DNS),
//! [`Http`](instructor_core::LlmError::Http) (status and the server's own message),
//! [`Timeout`](instructor_core::LlmError::Timeout),
//! [`Protocol`](instructor_core::LlmError::Protocol) (malformed JSON, a stream cut off), and
//! [`Config`](instructor_core::LlmError::Config) (bad settings, before anything is sent).
//! Refused or dropped connections and HTTP 429/502/503/504 are retried a bounded number of
//! times ([`OpenAiBuilder::transport_retries`]); nothing is retried once a stream has handed
//! out content. The API key never appears in an error or a `Debug` print.
//!
//! # Features
//!
//! - `rustls` (default): `https://` URLs, through rustls. Without it only `http://` works.
//! - `async`: [`OpenAi`] implements [`instructor_core::AsyncLlm`] over an async HTTP client
//!   (reqwest; needs a tokio runtime with its time driver, as `#[tokio::main]` builds), so `extract_async`, the async streams and
//!   `extract_many_async` never block a runtime thread; `extract_many_async` keeps up to
//!   `parallel` requests in flight on the calling task. Settings, errors, retries and
//!   [`Constraint::Auto`] behave as in the blocking client.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "async")]
mod async_client;
#[cfg(feature = "async")]
mod async_sse;
mod auto;
mod batch;
mod body;
mod client;
mod constraint;
mod error;
mod response;
mod retry;
mod sse;

pub use client::{OpenAi, OpenAiBuilder, DEFAULT_BASE_URL};
pub use constraint::Constraint;
