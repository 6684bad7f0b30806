//! The extraction loop: prompt → constrained generation → parse → validate → re-ask.
//!
//! [`Extractor`] owns the options; each `extract*` call runs the loop for one type. The loop
//! never trusts the backend: whatever the grammar promised, the output is parsed with
//! `serde_json` and validated, and a failure is sent back to the model with its errors until the
//! attempts run out.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Attempt, Error};
use crate::grounding::{Grounding, Sets};
use crate::llm::{
    Chunk, FinishReason, Llm, LoopCut, Message, Request, Sampling, TokenStream, Usage,
};
use crate::partial::{ItemSplitter, PartialValue};
use crate::prompt::{reask_message, system_message, DEFAULT_SYSTEM_PROMPT};
use crate::validate::validate_grounded;
use crate::ResponseModel;

/// Options of an extraction, builder-style, with defaults that work on the default model.
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
pub struct Extractor<'l, L: Llm + ?Sized> {
    llm: &'l L,
    system_prompt: Option<String>,
    max_attempts: u32,
    max_tokens: u32,
    sampling: Sampling,
    context: Option<Arc<dyn Any + Send + Sync>>,
    stop_when_complete: bool,
    /// Sources and choice sets of grounded fields (setters in `grounding.rs`).
    pub(crate) grounding: Sets,
}

impl<'l, L: Llm + ?Sized> Extractor<'l, L> {
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
            grounding: Sets::default(),
        }
    }

    /// Replaces the default instruction at the top of the system prompt (the type's and fields'
    /// descriptions are still appended after it).
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

    /// Extracts a `T` from one user prompt.
    pub fn extract<T: ResponseModel>(&self, prompt: &str) -> Result<T, Error> {
        self.extract_with_report(prompt).map(|e| e.value)
    }

    /// Extracts a `T` from one user prompt, with the report of what it took.
    pub fn extract_with_report<T: ResponseModel>(
        &self,
        prompt: &str,
    ) -> Result<Extraction<T>, Error> {
        self.extract_messages(&[Message::user(prompt)])
    }

    /// Extracts a `T` continuing a whole conversation. A leading system message replaces the
    /// default instruction (the descriptions are appended to it).
    pub fn extract_messages<T: ResponseModel>(
        &self,
        messages: &[Message],
    ) -> Result<Extraction<T>, Error> {
        let mut stream = self.stream_messages::<T>(messages);
        while let Some(step) = stream.next_ref() {
            if let StreamRef::Done(done) = step? {
                return Ok(*done);
            }
        }
        // The stream only ends after yielding `Done` or an error.
        Err(Error::RetriesExhausted {
            attempts: stream.attempts,
            usage: stream.usage,
        })
    }

    /// Streams partial values of `T` as tokens arrive, then the final validated value.
    pub fn extract_stream<T: ResponseModel>(&self, prompt: &str) -> PartialStream<'l, T, L> {
        self.stream_messages(&[Message::user(prompt)])
    }

    /// [`Extractor::extract_stream`] continuing a whole conversation.
    pub fn stream_messages<T: ResponseModel>(
        &self,
        messages: &[Message],
    ) -> PartialStream<'l, T, L> {
        let prepared = self.grounding.prepare::<T>(messages);
        PartialStream {
            llm: self.llm,
            conversation: self.conversation::<T>(messages, &prepared.schema),
            gbnf: prepared.gbnf,
            schema: prepared.schema,
            grounding: prepared.grounding,
            grounding_error: prepared.error,
            max_tokens: self.max_tokens,
            sampling: self.sampling,
            context: self.context.clone(),
            stop_when_complete: self.stop_when_complete,
            attempts_left: self.max_attempts,
            attempts: Vec::new(),
            loops_cut: Vec::new(),
            usage: Usage::default(),
            started: Instant::now(),
            current: None,
            finished: false,
            _t: PhantomData,
        }
    }

    /// Streams the items of a list of `T`, each as soon as it is complete and valid.
    ///
    /// The model writes a JSON array of `T`; every item is parsed and validated when its closing
    /// character arrives. An invalid item is yielded as an error and the stream goes on.
    pub fn extract_iter<T: ResponseModel>(&self, prompt: &str) -> ItemStream<'l, T, L> {
        let messages = [Message::user(prompt)];
        let prepared = self.grounding.prepare::<Vec<T>>(&messages);
        ItemStream {
            llm: self.llm,
            conversation: {
                let mut c = self.conversation::<Vec<T>>(&messages, &prepared.schema);
                if let Some(system) = c.first_mut() {
                    system.content.push_str(LIST_INSTRUCTION);
                }
                c
            },
            gbnf: prepared.gbnf,
            schema: prepared.schema,
            grounding: prepared.grounding,
            grounding_error: prepared.error,
            max_tokens: self.max_tokens,
            sampling: self.sampling,
            context: self.context.clone(),
            stream: None,
            splitter: ItemSplitter::new(),
            split: 0,
            index: 0,
            pending: std::collections::VecDeque::new(),
            usage: Usage::default(),
            done: false,
            _t: PhantomData,
        }
    }

    fn conversation<T: ResponseModel>(
        &self,
        messages: &[Message],
        schema: &serde_json::Value,
    ) -> Vec<Message> {
        let (instruction, rest) = match messages.split_first() {
            Some((first, rest)) if first.role == crate::Role::System => {
                (first.content.as_str(), rest)
            }
            _ => (
                self.system_prompt
                    .as_deref()
                    .unwrap_or(DEFAULT_SYSTEM_PROMPT),
                messages,
            ),
        };
        let mut out = Vec::with_capacity(rest.len() + 1);
        out.push(system_message(instruction, T::DESCRIPTION, schema));
        out.extend_from_slice(rest);
        out
    }
}

/// Appended to the system prompt of list extractions: without it the default model often
/// answers with an empty list.
const LIST_INSTRUCTION: &str =
    "\nAnswer with a JSON array holding one element for every item the message mentions.";

/// A validated value and the report of how it was obtained.
#[derive(Debug, Clone)]
pub struct Extraction<T> {
    /// The validated value.
    pub value: T,
    /// What it took.
    pub report: Report,
}

/// How an extraction went.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The failed attempts before the successful one, each with its raw output and errors.
    pub failed_attempts: Vec<Attempt>,
    /// The raw output of the successful attempt.
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
    /// Attempts made, the successful one included.
    pub fn attempts(&self) -> usize {
        self.failed_attempts.len() + 1
    }
}

/// One step of a [`PartialStream`].
#[derive(Debug, Clone)]
pub enum StreamEvent<T: ResponseModel> {
    /// A snapshot of the value being written.
    Partial(T::Partial),
    /// The attempt failed to validate; the model is being asked again and snapshots restart.
    Retry(Attempt),
    /// The final validated value.
    Done(Box<Extraction<T>>),
}

struct Running<'l, T: ResponseModel> {
    stream: Box<dyn TokenStream + 'l>,
    partial: PartialValue<T>,
    /// Set when the JSON value closed and generation was stopped early.
    stopped_early: bool,
}

/// Partial values as they are generated, then the validated value (an [`Iterator`]).
///
/// Created by [`Extractor::extract_stream`].
pub struct PartialStream<'l, T: ResponseModel, L: Llm + ?Sized> {
    llm: &'l L,
    conversation: Vec<Message>,
    gbnf: std::borrow::Cow<'static, str>,
    schema: serde_json::Value,
    grounding: Option<Arc<Grounding>>,
    grounding_error: Option<Error>,
    max_tokens: u32,
    sampling: Sampling,
    context: Option<Arc<dyn Any + Send + Sync>>,
    stop_when_complete: bool,
    attempts_left: u32,
    attempts: Vec<Attempt>,
    loops_cut: Vec<LoopCut>,
    usage: Usage,
    started: Instant,
    current: Option<Running<'l, T>>,
    finished: bool,
    _t: PhantomData<T>,
}

impl<'l, T: ResponseModel, L: Llm + ?Sized> PartialStream<'l, T, L> {
    fn start_attempt(&mut self) -> Result<(), Error> {
        if let Some(e) = self.grounding_error.take() {
            self.attempts_left = 0;
            return Err(e);
        }
        self.attempts_left -= 1;
        let request = Request::new(&self.conversation)
            .grammar(&self.gbnf)
            .json_schema(&self.schema)
            .max_tokens(self.max_tokens)
            .sampling(self.sampling)
            .repeats_allowed(T::repeats_allowed);
        let stream = self.llm.generate(&request)?;
        self.current = Some(Running {
            stream,
            partial: PartialValue::new(),
            stopped_early: false,
        });
        Ok(())
    }

    /// Parses and validates the finished attempt: the value, or a queued retry.
    fn finish_attempt(&mut self, run: Running<'l, T>) -> Result<Step<T>, Error> {
        let (finish, usage) = run.stream.finish();
        self.usage.add(&usage);
        self.loops_cut.extend_from_slice(run.stream.loops_cut());
        let raw = run.partial.text().to_owned();
        if finish == FinishReason::Length && !run.stopped_early && !run.partial.is_complete() {
            return Err(Error::Truncated {
                max_tokens: self.max_tokens,
                partial: raw,
                attempts: std::mem::take(&mut self.attempts),
                usage: Box::new(self.usage),
            });
        }
        let errors = match serde_json::from_str::<T>(&raw) {
            Ok(value) => {
                match validate_grounded(&value, self.context.as_deref(), self.grounding.as_deref())
                {
                    Ok(()) => {
                        let report = Report {
                            failed_attempts: std::mem::take(&mut self.attempts),
                            raw,
                            usage: self.usage,
                            loops_cut: std::mem::take(&mut self.loops_cut),
                            elapsed: self.started.elapsed(),
                        };
                        return Ok(Step::Done(Box::new(Extraction { value, report })));
                    }
                    Err(errors) => errors.iter().map(ToString::to_string).collect(),
                }
            }
            Err(e) => vec![format!("the answer is not valid JSON for this type: {e}")],
        };
        let attempt = Attempt {
            output: raw.clone(),
            errors,
        };
        self.attempts.push(attempt.clone());
        if self.attempts_left == 0 {
            return Err(Error::RetriesExhausted {
                attempts: std::mem::take(&mut self.attempts),
                usage: self.usage,
            });
        }
        self.conversation.push(Message::assistant(raw));
        self.conversation.push(reask_message(&attempt.errors));
        Ok(Step::Retry(attempt))
    }

    fn step(&mut self) -> Result<Option<Step<T>>, Error> {
        loop {
            if self.current.is_none() {
                self.start_attempt()?;
            }
            let Some(run) = self.current.as_mut() else {
                continue;
            };
            let chunk = if self.stop_when_complete && run.partial.is_complete() {
                // The value is closed: the grammar allows nothing but the end, so skip that decode.
                run.stopped_early = true;
                None
            } else {
                run.stream.next_chunk()
            };
            match chunk {
                Some(chunk) => {
                    let before = run.partial.events();
                    match chunk? {
                        Chunk::Text(text) => {
                            // Invalid JSON only comes from a backend that ignores the grammar;
                            // the final parse of the whole attempt reports it and re-asks.
                            let _invalid = run.partial.push(&text).is_err();
                        }
                        Chunk::Rewind(n) => {
                            // Rare (a cut loop): parse the kept text again from the start.
                            let mut kept = run.partial.text().to_owned();
                            Chunk::Rewind(n).apply_to(&mut kept);
                            run.partial = PartialValue::new();
                            let _invalid = run.partial.push(&kept).is_err();
                        }
                    }
                    if run.partial.events() != before && run.partial.get().is_some() {
                        return Ok(Some(Step::Partial));
                    }
                }
                None => {
                    let Some(run) = self.current.take() else {
                        continue;
                    };
                    return self.finish_attempt(run).map(Some);
                }
            }
        }
    }
}

/// What [`PartialStream::step`] produced: a new snapshot (read in place) or an owned event.
enum Step<T: ResponseModel> {
    Partial,
    Retry(Attempt),
    Done(Box<Extraction<T>>),
}

/// One step of a [`PartialStream`], borrowing the snapshot instead of cloning it.
#[derive(Debug)]
pub enum StreamRef<'s, T: ResponseModel> {
    /// The current snapshot of the value being written.
    Partial(&'s T::Partial),
    /// The attempt failed to validate; snapshots restart with the next attempt.
    Retry(Attempt),
    /// The final validated value.
    Done(Box<Extraction<T>>),
}

impl<'l, T: ResponseModel, L: Llm + ?Sized> PartialStream<'l, T, L> {
    /// Like [`Iterator::next`], but lends the snapshot instead of cloning it, so the cost of a
    /// token stays independent of the output's length even for large values.
    ///
    /// ```no_run
    /// # fn demo(llm: &impl instructor_core::Llm) -> Result<(), instructor_core::Error> {
    /// use instructor_core::{Extractor, StreamRef};
    /// let mut stream = Extractor::new(llm).extract_stream::<Vec<String>>("List three colours");
    /// while let Some(step) = stream.next_ref() {
    ///     if let StreamRef::Partial(words) = step? {
    ///         println!("{} so far", words.len());
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn next_ref(&mut self) -> Option<Result<StreamRef<'_, T>, Error>> {
        if self.finished {
            return None;
        }
        match self.step() {
            Ok(Some(Step::Partial)) => {
                let snapshot = self.current.as_ref().and_then(|run| run.partial.get())?;
                Some(Ok(StreamRef::Partial(snapshot)))
            }
            Ok(Some(Step::Retry(a))) => Some(Ok(StreamRef::Retry(a))),
            Ok(Some(Step::Done(d))) => {
                self.finished = true;
                Some(Ok(StreamRef::Done(d)))
            }
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

impl<T: ResponseModel, L: Llm + ?Sized> Iterator for PartialStream<'_, T, L> {
    type Item = Result<StreamEvent<T>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_ref()?.map(|step| match step {
            StreamRef::Partial(p) => StreamEvent::Partial(p.clone()),
            StreamRef::Retry(a) => StreamEvent::Retry(a),
            StreamRef::Done(d) => StreamEvent::Done(d),
        }))
    }
}

/// The items of a generated list, each as soon as it is complete (an [`Iterator`]).
///
/// Created by [`Extractor::extract_iter`].
pub struct ItemStream<'l, T: ResponseModel, L: Llm + ?Sized> {
    llm: &'l L,
    conversation: Vec<Message>,
    gbnf: std::borrow::Cow<'static, str>,
    schema: serde_json::Value,
    grounding: Option<Arc<Grounding>>,
    grounding_error: Option<Error>,
    max_tokens: u32,
    sampling: Sampling,
    context: Option<Arc<dyn Any + Send + Sync>>,
    stream: Option<Box<dyn TokenStream + 'l>>,
    splitter: ItemSplitter,
    /// Items the splitter has produced so far (yielded or pending).
    split: usize,
    index: usize,
    pending: std::collections::VecDeque<String>,
    usage: Usage,
    done: bool,
    _t: PhantomData<T>,
}

impl<T: ResponseModel, L: Llm + ?Sized> ItemStream<'_, T, L> {
    /// Tokens and time so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Repetition loops the backend cut out of the list so far (a list that repeats an earlier
    /// item is closed before the repeat, which is never yielded).
    pub fn loops_cut(&self) -> &[LoopCut] {
        self.stream.as_ref().map_or(&[], |s| s.loops_cut())
    }

    fn item(&mut self, raw: String) -> Result<T, Error> {
        let index = self.index;
        self.index += 1;
        let value: T = serde_json::from_str(&raw).map_err(|e| Error::InvalidItem {
            index,
            raw: raw.clone(),
            errors: vec![format!("not valid JSON for this type: {e}")],
        })?;
        validate_grounded(&value, self.context.as_deref(), self.grounding.as_deref()).map_err(
            |errors| Error::InvalidItem {
                index,
                raw,
                errors: errors.iter().map(ToString::to_string).collect(),
            },
        )?;
        Ok(value)
    }

    fn step(&mut self) -> Result<Option<T>, Error> {
        loop {
            if let Some(raw) = self.pending.pop_front() {
                return self.item(raw).map(Some);
            }
            if self.done {
                return Ok(None);
            }
            if self.stream.is_none() {
                if let Some(e) = self.grounding_error.take() {
                    self.done = true;
                    return Err(e);
                }
                let request = Request::new(&self.conversation)
                    .grammar(&self.gbnf)
                    .json_schema(&self.schema)
                    .max_tokens(self.max_tokens)
                    .sampling(self.sampling)
                    .repeats_allowed(<Vec<T> as ResponseModel>::repeats_allowed);
                self.stream = Some(self.llm.generate(&request)?);
            }
            let Some(stream) = self.stream.as_mut() else {
                continue;
            };
            let chunk = if self.splitter.is_complete() {
                None
            } else {
                stream.next_chunk()
            };
            match chunk {
                Some(chunk) => {
                    let pushed = match chunk? {
                        Chunk::Text(text) => self.splitter.push(&text),
                        Chunk::Rewind(n) => {
                            // A cut loop: split the kept text again. Backends never take back
                            // text that completed an item, so the items produced before come
                            // out again and are skipped.
                            let mut kept = self.splitter.text().to_owned();
                            Chunk::Rewind(n).apply_to(&mut kept);
                            self.splitter = ItemSplitter::new();
                            self.splitter.push(&kept).map(|mut items| {
                                let seen = self.split.min(items.len());
                                self.split = seen;
                                items.drain(..seen);
                                items
                            })
                        }
                    };
                    match pushed {
                        Ok(items) => {
                            self.split += items.len();
                            self.pending.extend(items)
                        }
                        Err(e) => {
                            // Only a backend that ignores the grammar gets here; nothing after
                            // the break can be split into items.
                            self.done = true;
                            return Err(Error::InvalidItem {
                                index: self.index,
                                raw: self.splitter.text().to_owned(),
                                errors: vec![format!("the list is not valid JSON: {e}")],
                            });
                        }
                    }
                }
                None => {
                    self.done = true;
                    let (finish, usage) = stream.finish();
                    self.usage.add(&usage);
                    if finish == FinishReason::Length && !self.splitter.is_complete() {
                        return Err(Error::Truncated {
                            max_tokens: self.max_tokens,
                            partial: self.splitter.text().to_owned(),
                            attempts: Vec::new(),
                            usage: Box::new(self.usage),
                        });
                    }
                }
            }
        }
    }
}

impl<T: ResponseModel, L: Llm + ?Sized> Iterator for ItemStream<'_, T, L> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(Some(v)) => Some(Ok(v)),
            Ok(None) => None,
            // An invalid item is reported and the list goes on; anything else ends it.
            Err(e @ Error::InvalidItem { .. }) => Some(Err(e)),
            Err(e) => {
                self.done = true;
                self.pending.clear();
                Some(Err(e))
            }
        }
    }
}
