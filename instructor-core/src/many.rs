//! Many documents at once: one extraction per document, run side by side in a backend's
//! [`Batch`], results yielded as each finishes.
//!
//! Each document gets the same [`Session`] an `extract` call gets, and every ended attempt goes
//! through [`Session::conclude`], so truncation, validation, re-asks and grounding behave per
//! document exactly as in [`Extractor::extract`](crate::Extractor::extract). This module only
//! keeps the slots filled and routes the batch's events to their documents; it never talks to
//! a model except through [`Batch`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::batch::{Batch, BatchEvent, Ended, Slots};
use crate::error::Error;
use crate::extractor::Extractor;
use crate::input::Prompt;
use crate::llm::{Llm, LlmError, Usage};
use crate::partial::PartialValue;
use crate::partial_stream::feed;
use crate::report::Extraction;
use crate::session::{Concluded, Session};
use crate::ResponseModel;

/// What a whole [`Extractor::extract_many`] run did: counts, cost and speed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct BatchTotals {
    /// Documents finished so far (successes and failures).
    pub documents: usize,
    /// Of those, the ones that ended in an error.
    pub failed: usize,
    /// Tokens and time of every generation in the run, retries and failed documents included.
    pub usage: Usage,
    /// Wall time from the first result asked for to the last one yielded.
    pub elapsed: Duration,
    /// The most sequences that were live in the backend at once.
    pub peak_in_flight: usize,
}

impl BatchTotals {
    /// Finished documents per second of wall time (0 before any time has passed).
    pub fn documents_per_second(&self) -> f64 {
        per_second(self.documents as f64, self.elapsed)
    }

    /// Generated tokens per second of wall time, over all sequences together.
    pub fn tokens_per_second(&self) -> f64 {
        per_second(self.usage.completion_tokens as f64, self.elapsed)
    }
}

fn per_second(count: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count / secs
    } else {
        0.0
    }
}

/// One document's extraction in a slot.
struct Document<T: ResponseModel> {
    index: usize,
    session: Session,
    partial: PartialValue<T>,
    /// The value closed and the sequence was cancelled; its end is still to come (a backend
    /// whose [`Slots::cancel`] answers later). Chunks that arrive meanwhile are dropped.
    stopping: bool,
}

/// A finished document: its input's index and its extraction or error.
pub(crate) type Finished<T> = (usize, Result<Extraction<T>, Error>);

/// What [`Run::next_ready`] found.
pub(crate) enum Next<T> {
    /// A finished document.
    Ready(usize, Result<Extraction<T>, Error>),
    /// The caller must step the batch and pass the events to [`Run::handle_all`].
    Step,
    /// Every document has been yielded.
    End,
}

/// The run behind the iterators and streams of many documents, over a batch `B` (a blocking
/// [`Batch`] or an asynchronous one): keeps the slots filled and routes events to documents.
/// Stepping the batch is the caller's, so the same run serves both.
pub(crate) struct Run<'l, T: ResponseModel, L: ?Sized, B: ?Sized + Slots> {
    extractor: Extractor<'l, L>,
    pending: VecDeque<(usize, Prompt)>,
    /// Installed by the caller on the first `next`, so building the iterator costs nothing.
    batch: Option<Box<B>>,
    /// The batch could not be created: every document fails with this message.
    broken: Option<String>,
    slots: Vec<Option<Document<T>>>,
    ready: VecDeque<Finished<T>>,
    totals: BatchTotals,
    started: Option<Instant>,
}

impl<'l, T: ResponseModel, L: ?Sized, B: ?Sized + Slots> Run<'l, T, L, B> {
    pub(crate) fn new(extractor: Extractor<'l, L>, prompts: Vec<Prompt>) -> Self {
        Self {
            extractor,
            pending: prompts.into_iter().enumerate().collect(),
            batch: None,
            broken: None,
            slots: Vec::new(),
            ready: VecDeque::new(),
            totals: BatchTotals::default(),
            started: None,
        }
    }

    pub(crate) fn extractor(&self) -> &Extractor<'l, L> {
        &self.extractor
    }

    pub(crate) fn totals(&self) -> BatchTotals {
        self.totals
    }

    /// How many sequences the batch needs: [`Extractor::parallel`], or fewer when there are
    /// fewer documents (a backend sizes its memory by it: a batch context holds a KV cache per
    /// sequence).
    pub(crate) fn sequences(&self) -> usize {
        self.extractor
            .parallel_sequences()
            .min(self.pending.len())
            .max(1)
    }

    /// Whether the caller must create the batch and [`install`](Self::install) it first.
    pub(crate) fn needs_batch(&self) -> bool {
        self.batch.is_none() && self.broken.is_none()
    }

    /// Takes the backend's batch, or the error that kept it from being made (then every
    /// document fails with it).
    pub(crate) fn install(&mut self, batch: Result<Box<B>, LlmError>) {
        match batch {
            Ok(batch) => {
                let slots = batch
                    .capacity()
                    .clamp(1, self.extractor.parallel_sequences());
                self.slots = (0..slots).map(|_| None).collect();
                self.batch = Some(batch);
            }
            Err(e) => self.broken = Some(format!("could not start the batch: {e}")),
        }
    }

    /// The batch, for the caller to step.
    pub(crate) fn batch_mut(&mut self) -> Option<&mut B> {
        self.batch.as_deref_mut()
    }

    /// The next finished document, or what the caller must do first.
    pub(crate) fn next_ready(&mut self) -> Next<T> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let Some((index, result)) = self.advance() else {
            return if self.needs_batch() || self.is_live() {
                Next::Step
            } else {
                Next::End
            };
        };
        self.totals.documents += 1;
        if result.is_err() {
            self.totals.failed += 1;
        }
        self.totals.elapsed = started.elapsed();
        Next::Ready(index, result)
    }

    /// A finished document, or `None` when the batch must be stepped (or created) or the run is
    /// over (`needs_batch` and the live slots tell which).
    fn advance(&mut self) -> Option<Finished<T>> {
        if let Some(done) = self.ready.pop_front() {
            return Some(done);
        }
        if let Some(message) = &self.broken {
            let (index, _) = self.pending.pop_front()?;
            let error = LlmError::backend(message.clone());
            return Some((index, Err(error.into())));
        }
        self.batch.as_ref()?;
        loop {
            self.fill();
            if let Some(done) = self.ready.pop_front() {
                return Some(done);
            }
            let in_flight = self.slots.iter().filter(|s| s.is_some()).count();
            self.totals.peak_in_flight = self.totals.peak_in_flight.max(in_flight);
            if in_flight > 0 || self.pending.is_empty() {
                return None;
            }
        }
    }

    /// Whether a live sequence is waiting for the batch to be stepped.
    pub(crate) fn is_live(&self) -> bool {
        self.slots.iter().any(Option::is_some)
    }

    /// Routes one step's events to their documents.
    pub(crate) fn handle_all(&mut self, events: Vec<BatchEvent>) {
        if events.is_empty() && self.is_live() {
            // A backend that reports nothing for live sequences would spin forever.
            self.fail_live("the batch stopped advancing its sequences");
        }
        for event in events {
            self.handle(event);
        }
    }

    /// Starts the next documents in the free slots.
    fn fill(&mut self) {
        for seq in 0..self.slots.len() {
            if self.slots[seq].is_some() {
                continue;
            }
            let Some((index, prompt)) = self.pending.pop_front() else {
                return;
            };
            let session = self.extractor.session::<T>(prompt);
            let document = Document {
                index,
                session,
                partial: PartialValue::new(),
                stopping: false,
            };
            self.start(seq, document);
        }
    }

    /// Submits the document's next attempt into slot `seq`.
    fn start(&mut self, seq: usize, mut document: Document<T>) {
        let Some(batch) = self.batch.as_mut() else {
            return;
        };
        let submitted = match document.session.request() {
            Ok(request) => batch.submit(seq, &request).map_err(Error::from),
            Err(e) => Err(e),
        };
        match submitted {
            Ok(()) => {
                document.partial = PartialValue::new();
                document.stopping = false;
                self.slots[seq] = Some(document);
            }
            Err(e) => self.ready.push_back((document.index, Err(e))),
        }
    }

    fn handle(&mut self, event: BatchEvent) {
        match event {
            BatchEvent::Chunk { seq, chunk } => {
                let stop = self.extractor.stops_when_complete();
                let Some(document) = self.slots.get_mut(seq).and_then(Option::as_mut) else {
                    return;
                };
                if document.stopping {
                    return;
                }
                feed(&mut document.partial, chunk);
                if stop && document.partial.is_complete() {
                    // The value is closed: the grammar allows nothing but the end.
                    document.stopping = true;
                    let ended = self.batch.as_mut().and_then(|b| b.cancel(seq));
                    if let Some(ended) = ended {
                        self.conclude(seq, ended);
                    }
                }
            }
            BatchEvent::Ended { seq, result } => match result {
                Ok(ended) => self.conclude(seq, ended),
                Err(e) => {
                    if let Some(document) = self.slots.get_mut(seq).and_then(Option::take) {
                        self.ready.push_back((document.index, Err(e.into())));
                    }
                }
            },
        }
    }

    /// Judges the ended attempt in slot `seq`: a result, or the re-ask submitted again.
    fn conclude(&mut self, seq: usize, ended: Ended) {
        let Some(mut document) = self.slots.get_mut(seq).and_then(Option::take) else {
            return;
        };
        self.totals.usage.add(&ended.usage);
        document.session.book(&ended.usage, &ended.loops_cut);
        let raw = document.partial.text().to_owned();
        let complete = document.partial.is_complete();
        let stopped_early = document.stopping;
        match document
            .session
            .conclude::<T>(raw, ended.finish, stopped_early, complete)
        {
            Ok(Concluded::Done(done)) => self.ready.push_back((document.index, Ok(*done))),
            Ok(Concluded::Retry(_)) => self.start(seq, document),
            Err(e) => self.ready.push_back((document.index, Err(e))),
        }
    }

    fn fail_live(&mut self, message: &str) {
        for seq in 0..self.slots.len() {
            if let Some(document) = self.slots[seq].take() {
                if let Some(batch) = self.batch.as_mut() {
                    let _ended = batch.cancel(seq);
                }
                let error = LlmError::backend(message.to_owned());
                self.ready.push_back((document.index, Err(error.into())));
            }
        }
    }
}

/// Drives a run over a blocking [`Batch`] to its next finished document.
fn next_blocking<'l, T: ResponseModel, L: Llm + ?Sized>(
    run: &mut Run<'l, T, L, dyn Batch + 'l>,
) -> Option<Finished<T>> {
    loop {
        match run.next_ready() {
            Next::Ready(index, result) => return Some((index, result)),
            Next::End => return None,
            Next::Step => {
                if run.needs_batch() {
                    let batch = run.extractor().llm().batch(run.sequences());
                    run.install(batch);
                    continue;
                }
                let events = run.batch_mut().map(|b| b.step()).unwrap_or_default();
                run.handle_all(events);
            }
        }
    }
}

/// The values of many extractions, each with its input's index, as each finishes (an
/// [`Iterator`]).
///
/// Created by [`Extractor::extract_many`]; [`ExtractMany::totals`] tells what the run did so far.
pub struct ExtractMany<'l, T: ResponseModel, L: Llm + ?Sized> {
    run: Run<'l, T, L, dyn Batch + 'l>,
}

impl<'l, T: ResponseModel, L: Llm + ?Sized> ExtractMany<'l, T, L> {
    pub(crate) fn new(extractor: Extractor<'l, L>, prompts: Vec<Prompt>) -> Self {
        Self {
            run: Run::new(extractor, prompts),
        }
    }

    /// Counts, cost and speed of the documents finished so far.
    pub fn totals(&self) -> BatchTotals {
        self.run.totals()
    }

    /// The same run, yielding each document's report with its value.
    pub fn with_report(self) -> ExtractManyReports<'l, T, L> {
        ExtractManyReports { run: self.run }
    }
}

impl<T: ResponseModel, L: Llm + ?Sized> Iterator for ExtractMany<'_, T, L> {
    type Item = (usize, Result<T, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        let (index, result) = next_blocking(&mut self.run)?;
        Some((index, result.map(Extraction::into_value)))
    }
}

/// [`ExtractMany`] with each document's [`Report`](crate::Report) (an [`Iterator`]).
///
/// Created by [`Extractor::extract_many_with_report`]; [`ExtractManyReports::totals`] gives the
/// batch's totals once the iterator is done.
pub struct ExtractManyReports<'l, T: ResponseModel, L: Llm + ?Sized> {
    run: Run<'l, T, L, dyn Batch + 'l>,
}

impl<T: ResponseModel, L: Llm + ?Sized> ExtractManyReports<'_, T, L> {
    /// Counts, cost and speed of the documents finished so far.
    pub fn totals(&self) -> BatchTotals {
        self.run.totals()
    }
}

impl<T: ResponseModel, L: Llm + ?Sized> Iterator for ExtractManyReports<'_, T, L> {
    type Item = (usize, Result<Extraction<T>, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        next_blocking(&mut self.run)
    }
}

/// For [`Extractor`]: the run's inputs as prompts.
pub(crate) fn prompts<P: Into<Prompt>>(inputs: impl IntoIterator<Item = P>) -> Vec<Prompt> {
    inputs.into_iter().map(Into::into).collect()
}
