//! Typed, validated structured output from language models.
//!
//! Derive [`ResponseModel`] on a type, then ask any [`Llm`] for it:
//! the grammar keeps the model's output valid JSON of the right shape, `serde_json` parses it,
//! the type's checks validate it, and a failed check is sent back to the model to fix.
//!
//! # Grammars are constants
//!
//! Every [`ResponseModel`] carries its GBNF grammar as a constant built in constant evaluation:
//! a fixed-capacity buffer of rules that the impls of nested types are merged into, with rule
//! names derived from the types (`vec-u8`, `UserDetail-3fa2c1`) so nested user types compose
//! without clashes and each rule is defined once; [`ResponseModel::GBNF`] is the finished text.
//!
//! # Features
//!
//! `async`: [`AsyncLlm`] and the awaited entry points (`extract_async`, streams of partial
//! values and of list items, `extract_many_async`), runtime-agnostic (`futures-core` only).

#[cfg(feature = "async")]
mod asynch;
mod batch;
mod builtins;
mod error;
mod extractor;
mod grammar;
mod grounding;
mod input;
mod item_stream;
mod llm;
mod many;
mod model;
mod partial;
mod partial_stream;
mod prompt;
mod report;
mod schema;
mod session;
mod validate;
mod verbatim;

#[cfg(feature = "async")]
pub use asynch::{
    AsyncBatch, AsyncExtractMany, AsyncExtractManyReports, AsyncItemStream, AsyncLlm,
    AsyncPartialStream, AsyncTokenStream, BoxFuture, Streams,
};
pub use batch::{Batch, BatchEvent, Ended, OneAtATime};
pub use error::Error;
pub use extractor::Extractor;
pub use grounding::Grounding;
pub use input::Prompt;
pub use item_stream::{ItemEvent, ItemReports, ItemStream};
pub use llm::{
    BoxError, Chunk, Completion, FinishReason, Llm, LlmError, LoopCut, LoopKind, Message,
    OwnedRequest, Request, Role, Sampling, TokenStream, Usage,
};
pub use many::{BatchTotals, ExtractMany, ExtractManyReports};
pub use model::{json_schema, ResponseModel};
pub use partial::{Event, JsonError, PartialValue, Seg};
pub use partial_stream::{PartialStream, StreamEvent, StreamRef};
pub use report::{Attempt, Extraction, Report};
pub use validate::{
    validate, validate_grounded, validate_with_context, FieldError, Validate, Validator,
};

/// `#[derive(ResponseModel)]`: see the [`ResponseModel`] trait.
pub use instructor_derive::ResponseModel;

/// What the derive's generated code and the sibling crates (`instructor-llama`,
/// `instructor-openai`, the benchmarks) need from this crate's internals. Not part of the API:
/// anything here may change in any release, which is why the derive is pinned with `=x.y.z`.
#[doc(hidden)]
pub mod __private {
    pub use crate::builtins::{apply_atomic, apply_atomic_shared};
    pub use crate::grammar::{
        Bound, Constraints, External, Grammar, Int, Kind, Name, Text, BODY_CAP, CAP,
    };
    pub use crate::grounding::{
        check_choices, check_verbatim, ground, schema_choices, schema_verbatim, verbatim_rules,
        Texts,
    };
    pub use crate::validate::{
        check_fn, check_items, check_length, check_pattern, check_range, Measure, Measured, PathSeg,
    };
    pub use serde;
    pub use serde_json;

    /// The compile-time grammar builders (see the crate's `grammar` module docs).
    pub mod grammar {
        pub use crate::grammar::*;
    }
    /// The JSON Schema helpers the derive's `json_schema` bodies call.
    pub mod schema {
        pub use crate::schema::*;
    }
    /// The incremental JSON parser under [`PartialValue`](crate::PartialValue), for backends
    /// that watch the output as it is generated (the llama repetition guard).
    pub mod partial {
        pub use crate::partial::{ItemSplitter, PartialParser};
    }
    /// The system prompt the extraction sends, for benchmarks that give a peer the same prompt.
    pub mod prompt {
        pub use crate::prompt::{system_message, DEFAULT_SYSTEM_PROMPT};
    }
}
