//! Asynchronous extraction (feature `async`): the same loop as the blocking entry points
//! (prompt → constrained generation → parse → validate → re-ask), awaited instead of pulled, so
//! a service on an async runtime never blocks one of its threads on a model.
//!
//! This module owns the asynchronous backend contract ([`AsyncLlm`], [`AsyncTokenStream`],
//! [`AsyncBatch`] and its default, one stream per sequence) and the futures and
//! [`Stream`](futures_core::Stream)s the [`Extractor`](crate::Extractor) hands out. It shares
//! every decision about the text with the blocking side (`session.rs`, the `Progress` of
//! `partial_stream.rs`, the `Items` of `item_stream.rs`, the `Run` of `many.rs`); nothing here
//! parses JSON or judges an answer. It is runtime-agnostic: no executor, timer or thread is
//! started here (backends decide how they wait).

mod batch;
mod extract;
mod item_stream;
mod llm;
mod many;
mod partial_stream;
mod phase;

pub use batch::{AsyncBatch, Streams};
pub use item_stream::AsyncItemStream;
pub use llm::{AsyncLlm, AsyncTokenStream, BoxFuture};
pub use many::{AsyncExtractMany, AsyncExtractManyReports};
pub use partial_stream::AsyncPartialStream;
