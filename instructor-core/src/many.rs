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

use crate::batch::{Batch, BatchEvent, Ended};
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
struct Document<'l, T: ResponseModel, L: Llm + ?Sized> {
    index: usize,
    session: Session<'l, L>,
    partial: PartialValue<T>,
}

/// The run behind both iterators.
struct Run<'l, T: ResponseModel, L: Llm + ?Sized> {
    extractor: Extractor<'l, L>,
    pending: VecDeque<(usize, Prompt)>,
    /// Created on the first `next`, so building the iterator costs nothing.
    batch: Option<Box<dyn Batch + 'l>>,
    /// The batch could not be created: every document fails with this message.
    broken: Option<String>,
    slots: Vec<Option<Document<'l, T, L>>>,
    ready: VecDeque<(usize, Result<Extraction<T>, Error>)>,
    totals: BatchTotals,
    started: Option<Instant>,
}

impl<'l, T: ResponseModel, L: Llm + ?Sized> Run<'l, T, L> {
    fn new(extractor: Extractor<'l, L>, prompts: Vec<Prompt>) -> Self {
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

    fn next(&mut self) -> Option<(usize, Result<Extraction<T>, Error>)> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let item = self.advance();
        if let Some((_, result)) = &item {
            self.totals.documents += 1;
            if result.is_err() {
                self.totals.failed += 1;
            }
            self.totals.elapsed = started.elapsed();
        }
        item
    }

    fn advance(&mut self) -> Option<(usize, Result<Extraction<T>, Error>)> {
        loop {
            if let Some(done) = self.ready.pop_front() {
                return Some(done);
            }
            if let Some(message) = &self.broken {
                let (index, _) = self.pending.pop_front()?;
                let error = LlmError::backend(message.clone());
                return Some((index, Err(error.into())));
            }
            if self.batch.is_none() {
                match self
                    .extractor
                    .llm()
                    .batch(self.extractor.parallel_sequences())
                {
                    Ok(batch) => {
                        let slots = batch
                            .capacity()
                            .clamp(1, self.extractor.parallel_sequences());
                        self.slots = (0..slots).map(|_| None).collect();
                        self.batch = Some(batch);
                    }
                    Err(e) => {
                        self.broken = Some(format!("could not start the batch: {e}"));
                        continue;
                    }
                }
            }
            self.fill();
            let in_flight = self.slots.iter().filter(|s| s.is_some()).count();
            self.totals.peak_in_flight = self.totals.peak_in_flight.max(in_flight);
            if in_flight == 0 {
                if self.ready.is_empty() && self.pending.is_empty() {
                    return None;
                }
                continue;
            }
            let events = self.batch.as_mut().map(|b| b.step()).unwrap_or_default();
            if events.is_empty() {
                // A backend that reports nothing for live sequences would spin forever.
                self.fail_live("the batch stopped advancing its sequences");
            }
            for event in events {
                self.handle(event);
            }
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
            };
            self.start(seq, document);
        }
    }

    /// Submits the document's next attempt into slot `seq`.
    fn start(&mut self, seq: usize, mut document: Document<'l, T, L>) {
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
                feed(&mut document.partial, chunk);
                if stop && document.partial.is_complete() {
                    // The value is closed: the grammar allows nothing but the end.
                    let ended = self.batch.as_mut().and_then(|b| b.cancel(seq));
                    if let Some(ended) = ended {
                        self.conclude(seq, ended, true);
                    }
                }
            }
            BatchEvent::Ended { seq, result } => match result {
                Ok(ended) => self.conclude(seq, ended, false),
                Err(e) => {
                    if let Some(document) = self.slots.get_mut(seq).and_then(Option::take) {
                        self.ready.push_back((document.index, Err(e.into())));
                    }
                }
            },
        }
    }

    /// Judges the ended attempt in slot `seq`: a result, or the re-ask submitted again.
    fn conclude(&mut self, seq: usize, ended: Ended, stopped_early: bool) {
        let Some(mut document) = self.slots.get_mut(seq).and_then(Option::take) else {
            return;
        };
        self.totals.usage.add(&ended.usage);
        document.session.book(&ended.usage, &ended.loops_cut);
        let raw = document.partial.text().to_owned();
        let complete = document.partial.is_complete();
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

/// The values of many extractions, each with its input's index, as each finishes (an
/// [`Iterator`]).
///
/// Created by [`Extractor::extract_many`]; [`ExtractMany::totals`] tells what the run did so far.
pub struct ExtractMany<'l, T: ResponseModel, L: Llm + ?Sized> {
    run: Run<'l, T, L>,
}

impl<'l, T: ResponseModel, L: Llm + ?Sized> ExtractMany<'l, T, L> {
    pub(crate) fn new(extractor: Extractor<'l, L>, prompts: Vec<Prompt>) -> Self {
        Self {
            run: Run::new(extractor, prompts),
        }
    }

    /// Counts, cost and speed of the documents finished so far.
    pub fn totals(&self) -> BatchTotals {
        self.run.totals
    }

    /// The same run, yielding each document's report with its value.
    pub fn with_report(self) -> ExtractManyReports<'l, T, L> {
        ExtractManyReports { run: self.run }
    }
}

impl<T: ResponseModel, L: Llm + ?Sized> Iterator for ExtractMany<'_, T, L> {
    type Item = (usize, Result<T, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        let (index, result) = self.run.next()?;
        Some((index, result.map(Extraction::into_value)))
    }
}

/// [`ExtractMany`] with each document's [`Report`](crate::Report) (an [`Iterator`]).
///
/// Created by [`Extractor::extract_many_with_report`]; [`ExtractManyReports::totals`] gives the
/// batch's totals once the iterator is done.
pub struct ExtractManyReports<'l, T: ResponseModel, L: Llm + ?Sized> {
    run: Run<'l, T, L>,
}

impl<T: ResponseModel, L: Llm + ?Sized> ExtractManyReports<'_, T, L> {
    /// Counts, cost and speed of the documents finished so far.
    pub fn totals(&self) -> BatchTotals {
        self.run.totals
    }
}

impl<T: ResponseModel, L: Llm + ?Sized> Iterator for ExtractManyReports<'_, T, L> {
    type Item = (usize, Result<Extraction<T>, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        self.run.next()
    }
}

/// For [`Extractor`]: the run's inputs as prompts.
pub(crate) fn prompts<P: Into<Prompt>>(inputs: impl IntoIterator<Item = P>) -> Vec<Prompt> {
    inputs.into_iter().map(Into::into).collect()
}
