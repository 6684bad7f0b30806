//! Partial values while the output is still being generated.
//!
//! An incremental JSON parser ([`PartialParser`]) turns text chunks into [`Event`]s, each with
//! the path of the value it belongs to. Every [`ResponseModel`](crate::ResponseModel) routes an
//! event into its partial value in place ([`ResponseModel::apply_partial`](crate::ResponseModel::apply_partial)),
//! so the cost of a token does not grow with the length of the output.
//!
//! Snapshot semantics: a string shows its text so far; numbers, booleans, enums, maps and other
//! "atomic" values appear once complete; a sequence shows its complete items plus the item being
//! written, as far as it is itself partial.

mod error;
mod items;
mod parser;
mod state;
mod value;

pub use error::JsonError;
pub use items::ItemSplitter;
pub use parser::PartialParser;
pub use value::PartialValue;

/// Where the parser sends its events: the value's path from the root, and what happened.
type Sink<'s> = &'s mut dyn FnMut(&[Seg<'_>], &Event<'_>);

/// A step in the path of the value an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    /// The value of an object member with this (unescaped) key.
    Key(&'a str),
    /// The item of an array at this index.
    Index(usize),
}

/// What happened to the value at the event's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// An object (`{`) began.
    ObjectStart,
    /// An array (`[`) began.
    ArrayStart,
    /// A string value grew by this (unescaped) text; the first chunk may be empty.
    Str(&'a str),
    /// The value is complete; `raw` is its whole JSON text.
    End {
        /// The value's JSON text.
        raw: &'a str,
        /// Byte offset of `raw` in all the text fed so far ([`PartialParser::text`]): where the
        /// value began, so a consumer can cut the text back to just before it.
        start: usize,
    },
}
