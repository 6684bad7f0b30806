//! llama.cpp backend for instructor-rs: typed, grammar-constrained answers from local GGUF
//! models, fast.
//!
//! [`Llama`] implements [`instructor_core::Llm`]. On top of plain llama.cpp decoding it adds:
//!
//! - **grammar-first constrained sampling** (`sampler.rs`): the request's GBNF grammar checks
//!   only the token the model chose, masking the whole vocabulary only when that token is
//!   rejected, so constrained decoding runs at nearly unconstrained speed;
//! - **speculative decoding without a draft model** (`speculative.rs`, `generation.rs`): drafts
//!   from prompt lookup and from the literals the grammar forces, verified in one batch;
//! - **a repetition guard** (`repetition.rs`): a list that repeats an item, or a string that
//!   cycles, is cut back and steered to what the grammar allows, so small models end their
//!   answers instead of looping until the token budget ([`RepetitionGuard`]);
//! - **KV-cache reuse** (`pool.rs`, `prompt.rs`): retries and calls sharing a system prompt
//!   skip the prompt prefix already in a pooled context's cache; a retry's copy of the failed
//!   answer is tokenised exactly as it was generated, so it is reused too.
//!
//! - **continuous batching** (`batch.rs`): `extract_many` runs many documents in one context,
//!   the next token of every live sequence in one decode, shared prompt prefixes copied.
//!
//! Files, in the order data flows through them: `catalog.rs` (known models by name, the model
//! cache), `model.rs` (loading, the `Llm` glue),
//! `chat_template.rs` (prompt text), `prompt.rs` (prompt tokens), `pool.rs` (contexts, KV
//! reuse), `generation.rs` (the decode loop), `batch.rs` (many sequences in one context),
//! `answer.rs` (one answer's output, grammar and loop cuts), `speculative.rs` (drafts),
//! `sampler.rs` (token choice), `utf8.rs` (chunking), `backend.rs` (process-wide llama.cpp
//! state), `error.rs` (error messages).
//!
//! ```no_run
//! use std::sync::Arc;
//! use instructor_core::{Llm, Message, Request};
//! use instructor_llama::Llama;
//!
//! let llm = Arc::new(Llama::load_default()?);
//! let messages = [Message::user("Jason is 30. Extract name and age as JSON.")];
//! let grammar = r#"root ::= "{\"name\":\"" [A-Za-z]+ "\",\"age\":" [0-9]+ "}""#;
//! let done = llm.complete(&Request::new(&messages).grammar(grammar).max_tokens(64))?;
//! println!("{}", done.text);
//! # Ok::<(), instructor_core::LlmError>(())
//! ```
//!
//! # Features
//!
//! - `openmp` (default): ggml's OpenMP thread pool.
//! - `cuda`: build llama.cpp with CUDA; layers go to the GPU by default
//!   ([`LlamaBuilder::n_gpu_layers`]).
//! - `async`: [`Llama`] implements [`instructor_core::AsyncLlm`]: each generation decodes on a
//!   thread of its own and hands its chunks to the awaiting task (`async_llm.rs`), and
//!   `extract_many_async` drives one batch context on a thread (`async_batch.rs`). Any executor
//!   can await them; none of its threads blocks on a decode.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod answer;
#[cfg(feature = "async")]
mod async_batch;
#[cfg(feature = "async")]
mod async_llm;
mod backend;
mod batch;
mod catalog;
mod chat_template;
mod error;
mod generation;
mod model;
mod pool;
mod prompt;
mod repetition;
mod sampler;
mod speculative;
mod utf8;

pub use catalog::{known_model, KnownModel, DEFAULT_MODEL_NAME, KNOWN_MODELS, MODEL_ENV};
pub use chat_template::ChatTemplate;
pub use model::{Llama, LlamaBuilder, DEFAULT_MODEL_FILE};
pub use repetition::RepetitionGuard;

#[doc(hidden)]
pub mod __private {
    /// Time the default repetition guard takes to read each of `documents` in pieces of about
    /// `piece` bytes (one per token), and the number of pieces; for `decode_bench`.
    pub fn guard_cost(documents: &[&str], piece: usize) -> (std::time::Duration, usize) {
        crate::repetition::cost(documents, piece)
    }
}
pub use sampler::ConstrainMode;
