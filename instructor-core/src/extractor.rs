//! [`Extractor`]: the options of an extraction and its entry points.
//!
//! The loop is prompt → constrained generation → parse → validate → re-ask. This file only
//! holds the options and builds the conversation; the loop itself is `session.rs` plus the
//! stream that runs it (`partial_stream.rs` for one value, `item_stream.rs` for a list). The
//! loop never trusts the backend: whatever the grammar promised, the output is parsed with
//! `serde_json` and validated, and a failure is sent back to the model with its errors until
//! the attempts run out.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::grounding::Sets;
use crate::input::Prompt;
use crate::item_stream::{ItemReports, ItemStream};
use crate::llm::{Llm, Message, Sampling};
use crate::many::{self, ExtractMany, ExtractManyReports};
use crate::partial_stream::PartialStream;
use crate::prompt::{list_system_message, system_message, DEFAULT_SYSTEM_PROMPT};
use crate::report::Extraction;
use crate::session::{Options, Session};
use crate::ResponseModel;

/// Options of an extraction, builder-style, with defaults that work on the default model.
///
/// Every entry point takes a prompt string or a message history ([`Prompt`]).
///
/// ```no_run
/// # fn demo(llm: &impl instructor_core::Llm) -> Result<(), instructor_core::Error> {
/// use instructor_core::{Extractor, ResponseModel};
///
/// #[derive(Debug, serde::Deserialize, ResponseModel)]
/// struct UserDetail { name: String, age: u8 }
///
/// let user: UserDetail = Extractor::new(llm).max_retries(2).extract("Extract `Jason is 30 years old`")?;
/// # Ok(()) }
/// ```
pub struct Extractor<'l, L: ?Sized> {
    llm: &'l L,
    system_prompt: Option<String>,
    max_attempts: u32,
    max_tokens: u32,
    sampling: Sampling,
    context: Option<Arc<dyn Any + Send + Sync>>,
    stop_when_complete: bool,
    parallel: usize,
    /// Sources and choice sets of grounded fields (setters in `grounding.rs`).
    pub(crate) grounding: Sets,
}

impl<L: ?Sized> Clone for Extractor<'_, L> {
    fn clone(&self) -> Self {
        Self {
            llm: self.llm,
            system_prompt: self.system_prompt.clone(),
            max_attempts: self.max_attempts,
            max_tokens: self.max_tokens,
            sampling: self.sampling,
            context: self.context.clone(),
            stop_when_complete: self.stop_when_complete,
            parallel: self.parallel,
            grounding: self.grounding.clone(),
        }
    }
}

impl<L: ?Sized> fmt::Debug for Extractor<'_, L> {
    /// The options (the backend and the context are opaque).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extractor")
            .field("system_prompt", &self.system_prompt)
            .field("max_attempts", &self.max_attempts)
            .field("max_tokens", &self.max_tokens)
            .field("sampling", &self.sampling)
            .field("context", &self.context.as_ref().map(|_| ".."))
            .field("parallel", &self.parallel)
            .field("grounding", &self.grounding)
            .finish_non_exhaustive()
    }
}

impl<'l, L: ?Sized> Extractor<'l, L> {
    /// Default options: 3 attempts, 512 tokens per attempt, greedy decoding.
    pub fn new(llm: &'l L) -> Self {
        Self {
            llm,
            system_prompt: None,
            max_attempts: 3,
            max_tokens: 512,
            sampling: Sampling::default(),
            context: None,
            stop_when_complete: true,
            parallel: 1,
            grounding: Sets::default(),
        }
    }

    /// Replaces the default instruction at the top of the system prompt (the type's and fields'
    /// descriptions are still appended after it). A leading system message in the prompt
    /// replaces it in turn.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into());
        self
    }

    /// Attempts in total, the first included (as in Python instructor's `max_retries`).
    /// At least 1. Default 3.
    pub fn max_retries(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Token budget of each attempt. Default 512.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// Sampling temperature; 0 (the default) is greedy.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.sampling.temperature = temperature;
        self
    }

    /// Nucleus sampling threshold (default 1.0, off).
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.sampling.top_p = top_p;
        self
    }

    /// Seed for non-greedy sampling.
    pub fn seed(mut self, seed: u32) -> Self {
        self.sampling.seed = seed;
        self
    }

    /// A value validators can read with [`Validator::context`](crate::Validator::context), such
    /// as the source text a quote must come from.
    pub fn context<C: Any + Send + Sync>(mut self, context: C) -> Self {
        self.context = Some(Arc::new(context));
        self
    }

    /// Sequences [`Extractor::extract_many`] runs at once (at least 1, default 1). A backend
    /// caps it at what it can hold ([`Batch::capacity`](crate::Batch::capacity)); the default
    /// backend implementation holds one.
    pub fn parallel(mut self, sequences: usize) -> Self {
        self.parallel = sequences.max(1);
        self
    }

    /// The session of one extraction of a `T` (shared by streams and batches).
    pub(crate) fn session<T: ResponseModel>(&self, prompt: Prompt) -> Session {
        let prepared = self.grounding.prepare::<T>(prompt.messages());
        let (instruction, rest) = prompt.split_instruction();
        let system = system_message(
            self.instruction(instruction),
            T::DESCRIPTION,
            &prepared.schema,
        );
        Session::new::<T>(conversation(system, rest), prepared, self.options())
    }

    /// The session of one streamed list of `T` (the list prompt, a `Vec<T>` answer).
    pub(crate) fn list_session<T: ResponseModel>(&self, prompt: Prompt) -> Session {
        let prepared = self.grounding.prepare::<Vec<T>>(prompt.messages());
        let (instruction, rest) = prompt.split_instruction();
        let system = list_system_message(self.instruction(instruction), &prepared.schema);
        Session::new::<Vec<T>>(conversation(system, rest), prepared, self.options())
    }

    pub(crate) fn llm(&self) -> &'l L {
        self.llm
    }

    pub(crate) fn parallel_sequences(&self) -> usize {
        self.parallel
    }

    pub(crate) fn stops_when_complete(&self) -> bool {
        self.stop_when_complete
    }

    fn instruction<'a>(&'a self, from_prompt: Option<&'a str>) -> &'a str {
        from_prompt
            .or(self.system_prompt.as_deref())
            .unwrap_or(DEFAULT_SYSTEM_PROMPT)
    }

    fn options(&self) -> Options {
        Options {
            max_attempts: self.max_attempts,
            max_tokens: self.max_tokens,
            sampling: self.sampling,
            context: self.context.clone(),
        }
    }
}

/// The blocking entry points, for backends that implement [`Llm`].
impl<'l, L: Llm + ?Sized> Extractor<'l, L> {
    /// Extracts a validated `T` from a prompt or a conversation.
    pub fn extract<T: ResponseModel>(&self, prompt: impl Into<Prompt>) -> Result<T, Error> {
        self.extract_with_report(prompt).map(Extraction::into_value)
    }

    /// [`Extractor::extract`], with the report of what it took (failed attempts, raw output,
    /// usage).
    pub fn extract_with_report<T: ResponseModel>(
        &self,
        prompt: impl Into<Prompt>,
    ) -> Result<Extraction<T>, Error> {
        self.extract_stream::<T>(prompt).run()
    }

    /// Extracts a validated `T` from each input, up to [`Extractor::parallel`] at once in the
    /// backend's [`Batch`](crate::Batch), yielding `(index, result)` as each finishes (not in
    /// input order).
    ///
    /// Each document runs the loop [`Extractor::extract`] runs (re-asks, validation, the
    /// backend's repetition guard, grounding); a document that fails is an `Err` at its index
    /// and the others go on.
    ///
    /// ```no_run
    /// # fn demo(llm: &impl instructor_core::Llm) {
    /// use instructor_core::Extractor;
    /// let texts = ["Jason is 30", "Ada is 36"];
    /// let mut ages = vec![None; texts.len()];
    /// for (i, age) in Extractor::new(llm).parallel(8).extract_many::<u8>(texts) {
    ///     ages[i] = age.ok();
    /// }
    /// # }
    /// ```
    pub fn extract_many<T: ResponseModel>(
        &self,
        inputs: impl IntoIterator<Item = impl Into<Prompt>>,
    ) -> ExtractMany<'l, T, L> {
        ExtractMany::new(self.clone(), many::prompts(inputs))
    }

    /// [`Extractor::extract_many`], with each document's report; the run's totals (documents
    /// and tokens per second, peak sequences in flight) come from
    /// [`ExtractManyReports::totals`].
    pub fn extract_many_with_report<T: ResponseModel>(
        &self,
        inputs: impl IntoIterator<Item = impl Into<Prompt>>,
    ) -> ExtractManyReports<'l, T, L> {
        self.extract_many(inputs).with_report()
    }

    /// Streams partial values of `T` as tokens arrive, then the validated value with its
    /// report ([`StreamEvent::Done`](crate::StreamEvent::Done)); a failed check yields
    /// [`StreamEvent::Retry`](crate::StreamEvent::Retry) and the model is asked again.
    pub fn extract_stream<T: ResponseModel>(
        &self,
        prompt: impl Into<Prompt>,
    ) -> PartialStream<'l, T, L> {
        PartialStream::new(
            self.llm,
            self.session::<T>(prompt.into()),
            self.stop_when_complete,
        )
    }

    /// Streams the items of a list of `T`, each as soon as it is complete and valid.
    ///
    /// The model writes a JSON array of `T` in one generation; every item is parsed and
    /// validated when its closing character arrives.
    ///
    /// # Invalid items are not retried
    ///
    /// An item that fails to parse or validate is yielded as [`Error::InvalidItem`] (its
    /// index, raw JSON and errors) and the stream goes on with the next item: the items around
    /// it are already out, so the list is not re-asked and [`Extractor::max_retries`] does not
    /// apply. Any other error (the backend failed, the list was cut at `max_tokens` as
    /// [`Error::Truncated`]) ends the stream. To re-ask for the whole list instead, extract a
    /// `Vec<T>` with [`Extractor::extract`].
    pub fn extract_iter<T: ResponseModel>(
        &self,
        prompt: impl Into<Prompt>,
    ) -> ItemStream<'l, T, L> {
        ItemStream::new(self.llm, self.list_session::<T>(prompt.into()))
    }

    /// [`Extractor::extract_iter`], with the list's report (raw text, usage, cut loops) as the
    /// last step ([`ItemEvent::Done`](crate::ItemEvent::Done)).
    pub fn extract_iter_with_report<T: ResponseModel>(
        &self,
        prompt: impl Into<Prompt>,
    ) -> ItemReports<'l, T, L> {
        ItemReports::new(self.extract_iter(prompt))
    }
}

fn conversation(system: Message, rest: &[Message]) -> Vec<Message> {
    let mut out = Vec::with_capacity(rest.len() + 1);
    out.push(system);
    out.extend_from_slice(rest);
    out
}
