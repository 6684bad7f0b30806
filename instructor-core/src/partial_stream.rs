//! Streaming one value: partial snapshots as tokens arrive, re-asks on a failed check, then
//! the validated value. The per-token work is the partial parser's (`partial/`); the
//! attempts, requests and report are the session's (`session.rs`).

use crate::error::Error;
use crate::llm::{Chunk, FinishReason, Llm, TokenStream};
use crate::partial::PartialValue;
use crate::report::{Attempt, Extraction};
use crate::session::{Concluded, Session};
use crate::ResponseModel;

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

struct Running<'l, T: ResponseModel> {
    stream: Box<dyn TokenStream + 'l>,
    progress: Progress<T>,
}

/// One attempt's output as it arrives, and the decisions every way of streaming a value makes
/// about it (the blocking [`PartialStream`] and the asynchronous one share them).
pub(crate) struct Progress<T: ResponseModel> {
    pub(crate) partial: PartialValue<T>,
    /// Set when the JSON value closed and generation was stopped early.
    stopped_early: bool,
}

impl<T: ResponseModel> Progress<T> {
    pub(crate) fn new() -> Self {
        Self {
            partial: PartialValue::new(),
            stopped_early: false,
        }
    }

    /// Whether to ask the backend for another chunk. Once the value has closed the grammar
    /// allows nothing but the end, so with `stop_when_complete` that decode is skipped.
    pub(crate) fn wants_more(&mut self, stop_when_complete: bool) -> bool {
        if stop_when_complete && self.partial.is_complete() {
            self.stopped_early = true;
            return false;
        }
        true
    }

    /// Applies one chunk; true when it brought a new snapshot to show.
    pub(crate) fn accept(&mut self, chunk: Chunk) -> bool {
        let before = self.partial.events();
        feed(&mut self.partial, chunk);
        self.partial.events() != before && self.partial.get().is_some()
    }

    /// Judges the ended attempt (see [`Session::conclude`]): the value, or a queued retry.
    pub(crate) fn conclude(
        self,
        session: &mut Session,
        finish: FinishReason,
    ) -> Result<Step<T>, Error> {
        let raw = self.partial.text().to_owned();
        let complete = self.partial.is_complete();
        match session.conclude::<T>(raw, finish, self.stopped_early, complete)? {
            Concluded::Done(done) => Ok(Step::Done(done)),
            Concluded::Retry(attempt) => Ok(Step::Retry(attempt)),
        }
    }
}

/// Partial values as they are generated, then the validated value (an [`Iterator`]).
///
/// Created by [`Extractor::extract_stream`](crate::Extractor::extract_stream).
pub struct PartialStream<'l, T: ResponseModel, L: Llm + ?Sized> {
    llm: &'l L,
    session: Session,
    stop_when_complete: bool,
    current: Option<Running<'l, T>>,
    finished: bool,
}

/// What one step of a value's stream produced: a new snapshot (read in place) or an owned
/// event.
pub(crate) enum Step<T: ResponseModel> {
    Partial,
    Retry(Attempt),
    Done(Box<Extraction<T>>),
}

impl<'l, T: ResponseModel, L: Llm + ?Sized> PartialStream<'l, T, L> {
    pub(crate) fn new(llm: &'l L, session: Session, stop_when_complete: bool) -> Self {
        Self {
            llm,
            session,
            stop_when_complete,
            current: None,
            finished: false,
        }
    }

    /// Runs the stream to its end: the validated value and its report.
    pub(crate) fn run(mut self) -> Result<Extraction<T>, Error> {
        while let Some(step) = self.next_ref() {
            if let StreamRef::Done(done) = step? {
                return Ok(*done);
            }
        }
        // The stream only ends after yielding `Done` or an error.
        Err(self.session.exhausted())
    }

    fn step(&mut self) -> Result<Option<Step<T>>, Error> {
        loop {
            let Some(run) = self.current.as_mut() else {
                let stream = self.session.start(self.llm)?;
                self.current = Some(Running {
                    stream,
                    progress: Progress::new(),
                });
                continue;
            };
            let chunk = if run.progress.wants_more(self.stop_when_complete) {
                run.stream.next_chunk()
            } else {
                None
            };
            match chunk {
                Some(chunk) => {
                    if run.progress.accept(chunk?) {
                        return Ok(Some(Step::Partial));
                    }
                }
                None => {
                    let Some(run) = self.current.take() else {
                        continue;
                    };
                    let finish = self.session.end(run.stream.as_ref());
                    // The generation ends here, before the next attempt starts: a backend that
                    // keeps the answer for the retry's prompt (llama's KV cache) does so when
                    // its stream is dropped.
                    drop(run.stream);
                    return run.progress.conclude(&mut self.session, finish).map(Some);
                }
            }
        }
    }

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
                let snapshot = self
                    .current
                    .as_ref()
                    .and_then(|run| run.progress.partial.get())?;
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

/// Applies one chunk of an attempt to its partial parse (shared with batches, `many.rs`).
pub(crate) fn feed<T: ResponseModel>(partial: &mut PartialValue<T>, chunk: Chunk) {
    match chunk {
        Chunk::Text(text) => {
            // Invalid JSON only comes from a backend that ignores the grammar; the final parse
            // of the whole attempt reports it and re-asks.
            let _invalid = partial.push(&text).is_err();
        }
        Chunk::Rewind(n) => {
            // Rare (a cut loop): parse the kept text again from the start.
            let mut kept = partial.text().to_owned();
            Chunk::Rewind(n).apply_to(&mut kept);
            *partial = PartialValue::new();
            let _invalid = partial.push(&kept).is_err();
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
