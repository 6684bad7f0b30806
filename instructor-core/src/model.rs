//! The [`ResponseModel`] trait: everything the library knows about a type it can extract.
//!
//! One trait supplies, for every type (built-in or derived), its compile-time grammar, its JSON
//! Schema, its partial type for streaming, and its validation. The derive only composes the
//! impls of the field types; it never looks at type names.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::grammar::{Grammar, Text, CAP};
use crate::partial::{Event, Seg};
use crate::validate::Validator;
#[cfg(feature = "async")]
use crate::{AsyncItemStream, AsyncLlm, AsyncPartialStream};
use crate::{Error, Llm};
use crate::{Extractor, ItemStream, PartialStream, Prompt};

/// A type that can be extracted from a language model's output.
///
/// Implement it with `#[derive(ResponseModel)]`; the library implements it for `String`, `bool`,
/// `char`, every integer and float type, `Option`, `Vec`, `Box`, arrays, string-keyed maps,
/// tuples up to 4 and `serde_json::Value`.
///
/// ```
/// use instructor_core::ResponseModel;
///
/// /// A person mentioned in the text.
/// #[derive(Debug, serde::Deserialize, ResponseModel)]
/// struct UserDetail {
///     /// The person's first name.
///     name: String,
///     #[instructor(range(min = 0, max = 150))]
///     age: u8,
/// }
///
/// assert!(UserDetail::GBNF.starts_with("root ::= UserDetail-"));
/// let user: UserDetail = serde_json::from_str(r#"{"name":"Jason","age":30}"#).unwrap();
/// assert!(instructor_core::validate(&user).is_ok());
/// ```
pub trait ResponseModel: DeserializeOwned + Sized + 'static {
    /// The grammar of one value of this type, built in constant evaluation.
    ///
    /// Hidden with its building blocks (`__private::grammar`): the derive and the built-in impls
    /// write it; users read the finished text in [`GBNF`](Self::GBNF).
    #[doc(hidden)]
    const GRAMMAR: Grammar;

    /// The complete GBNF grammar (`root` plus every rule) for this type as the whole output.
    ///
    /// The default keeps the grammar's full fixed-capacity buffer; the derive overrides it with
    /// an exactly-sized constant.
    const GBNF: &'static str = Self::__FULL_GBNF.as_str();

    #[doc(hidden)]
    const __FULL_GBNF: &'static Text<CAP> = &Self::GRAMMAR.with_root_rule();

    /// A description of the type for the prompt (from its doc comment), if any.
    const DESCRIPTION: Option<&'static str> = None;

    /// What a value looks like while it is still being generated: every field optional.
    type Partial: Clone + std::fmt::Debug + 'static;

    /// This type's JSON Schema. User types add themselves to `defs` and return a `$ref`.
    fn json_schema(defs: &mut Map<String, Value>) -> Value;

    /// Feeds one parser event to the partial value in `slot`; `path` is relative to this value.
    fn apply_partial(slot: &mut Option<Self::Partial>, path: &[Seg<'_>], event: &Event<'_>);

    /// Whether the list or map at `path` (relative to this value; `[]` is this value itself) may
    /// hold an item equal, byte for byte, to an earlier item of the same list.
    ///
    /// A backend's repetition guard cuts such a repeat as a loop unless this says yes. The
    /// default says no; `#[instructor(allow_repeats)]` on a field or a type says yes for every
    /// list inside it, and containers forward the question to the type of the item at `path`.
    fn repeats_allowed(path: &[Seg<'_>]) -> bool {
        let _ = path;
        false
    }

    /// Checks the constraints the grammar cannot guarantee (and re-checks those it can).
    fn validate(&self, v: &mut Validator<'_>) {
        let _ = v;
    }

    /// Extracts a validated value from a prompt or a conversation with default options
    /// (3 attempts, greedy).
    ///
    /// For other options use [`Extractor`].
    fn extract<L: Llm + ?Sized>(llm: &L, prompt: impl Into<Prompt>) -> Result<Self, Error> {
        Extractor::new(llm).extract(prompt)
    }

    /// Streams partial values of this type from `prompt`, then the validated value.
    fn extract_stream<'l, L: Llm + ?Sized>(
        llm: &'l L,
        prompt: impl Into<Prompt>,
    ) -> PartialStream<'l, Self, L> {
        Extractor::new(llm).extract_stream(prompt)
    }

    /// Streams a list of values of this type from `prompt`, each item as soon as it is complete
    /// (see [`Extractor::extract_iter`]: invalid items are reported, not retried).
    fn extract_iter<'l, L: Llm + ?Sized>(
        llm: &'l L,
        prompt: impl Into<Prompt>,
    ) -> ItemStream<'l, Self, L> {
        Extractor::new(llm).extract_iter(prompt)
    }

    /// Extracts a validated value from a prompt or a conversation with default options,
    /// awaited (feature `async`; see [`Extractor::extract_async`]).
    ///
    /// ```no_run
    /// # async fn demo(llm: &impl instructor_core::AsyncLlm) -> Result<(), instructor_core::Error> {
    /// use instructor_core::ResponseModel;
    ///
    /// #[derive(Debug, serde::Deserialize, ResponseModel)]
    /// struct UserDetail { name: String, age: u8 }
    ///
    /// let user = UserDetail::extract_async(llm, "Jason is 30").await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "async")]
    fn extract_async<L: AsyncLlm + ?Sized>(
        llm: &L,
        prompt: impl Into<Prompt>,
    ) -> impl std::future::Future<Output = Result<Self, Error>> + Send
    where
        Self: Send,
        Self::Partial: Send,
    {
        let prompt = prompt.into();
        let extractor = Extractor::new(llm);
        async move { extractor.extract_async(prompt).await }
    }

    /// Streams partial values of this type from `prompt`, then the validated value (feature
    /// `async`; see [`Extractor::extract_stream_async`]).
    #[cfg(feature = "async")]
    fn extract_stream_async<'l, L: AsyncLlm + ?Sized>(
        llm: &'l L,
        prompt: impl Into<Prompt>,
    ) -> AsyncPartialStream<'l, Self, L> {
        Extractor::new(llm).extract_stream_async(prompt)
    }

    /// Streams a list of values of this type from `prompt`, each item as soon as it is
    /// complete (feature `async`; see [`Extractor::extract_iter_async`]).
    #[cfg(feature = "async")]
    fn extract_iter_async<'l, L: AsyncLlm + ?Sized>(
        llm: &'l L,
        prompt: impl Into<Prompt>,
    ) -> AsyncItemStream<'l, Self, L> {
        Extractor::new(llm).extract_iter_async(prompt)
    }
}

/// The JSON Schema of `T` as a whole output, with the definitions of nested user types in `$defs`.
///
/// ```
/// let schema = instructor_core::json_schema::<Vec<u8>>();
/// assert_eq!(schema["type"], "array");
/// ```
pub fn json_schema<T: ResponseModel>() -> Value {
    let mut defs = Map::new();
    let mut root = T::json_schema(&mut defs);
    if !defs.is_empty() {
        if let Value::Object(obj) = &mut root {
            obj.insert("$defs".into(), Value::Object(defs));
        } else {
            let mut obj = Map::new();
            obj.insert("allOf".into(), Value::Array(vec![root]));
            obj.insert("$defs".into(), Value::Object(defs));
            root = Value::Object(obj);
        }
    }
    root
}
