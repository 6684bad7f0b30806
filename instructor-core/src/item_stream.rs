//! Streaming a list: each item parsed and validated as soon as its closing character arrives.
//!
//! The list is one generation: an invalid item is reported and the list goes on; it is not
//! re-asked (the items before and after it are already out). The splitting is
//! `partial/items.rs`'s [`ItemSplitter`]; the request, cost and report are the session's.

use std::collections::VecDeque;

use crate::error::Error;
use crate::llm::{Chunk, FinishReason, Llm, LoopCut, TokenStream, Usage};
use crate::partial::ItemSplitter;
use crate::report::Report;
use crate::session::Session;
use crate::validate::FieldError;
use crate::ResponseModel;

/// The items of a generated list, each as soon as it is complete (an [`Iterator`]).
///
/// Created by [`Extractor::extract_iter`](crate::Extractor::extract_iter); an item that fails
/// to parse or validate is yielded as [`Error::InvalidItem`] and the stream goes on.
pub struct ItemStream<'l, T: ResponseModel, L: Llm + ?Sized> {
    session: Session<'l, L>,
    stream: Option<Box<dyn TokenStream + 'l>>,
    splitter: ItemSplitter,
    /// Items the splitter has produced so far (yielded or pending).
    split: usize,
    index: usize,
    pending: VecDeque<String>,
    done: bool,
    _t: std::marker::PhantomData<T>,
}

impl<'l, T: ResponseModel, L: Llm + ?Sized> ItemStream<'l, T, L> {
    pub(crate) fn new(session: Session<'l, L>) -> Self {
        Self {
            session,
            stream: None,
            splitter: ItemSplitter::new(),
            split: 0,
            index: 0,
            pending: VecDeque::new(),
            done: false,
            _t: std::marker::PhantomData,
        }
    }

    /// Tokens and time so far (the generation's, once it has ended).
    pub fn usage(&self) -> Usage {
        self.session.usage()
    }

    /// Repetition loops the backend cut out of the list so far (a list that repeats an earlier
    /// item is closed before the repeat, which is never yielded).
    pub fn loops_cut(&self) -> &[LoopCut] {
        match &self.stream {
            Some(s) => s.loops_cut(),
            None => self.session.loops_cut(),
        }
    }

    /// The report of the list so far: its raw text, cost, cut loops and wall time. Complete
    /// once the stream has returned `None`; `failed_attempts` stays empty (lists are not
    /// re-asked).
    pub fn report(&mut self) -> Report {
        let raw = self.splitter.text().to_owned();
        let mut report = self.session.report(raw);
        if let Some(stream) = &self.stream {
            report.loops_cut = stream.loops_cut().to_vec();
        }
        report
    }

    fn item(&mut self, raw: String) -> Result<T, Error> {
        let index = self.index;
        self.index += 1;
        self.session
            .check::<T>(&raw)
            .map_err(|errors| Error::InvalidItem { index, raw, errors })
    }

    fn end(&mut self) -> FinishReason {
        self.done = true;
        match self.stream.take() {
            Some(stream) => self.session.end(stream.as_ref()),
            None => FinishReason::Stop,
        }
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
                self.stream = Some(self.session.start()?);
            }
            let Some(stream) = self.stream.as_mut() else {
                continue;
            };
            let chunk = if self.splitter.is_complete() {
                None
            } else {
                stream.next_chunk()
            };
            let Some(chunk) = chunk else {
                let finish = self.end();
                if finish == FinishReason::Length && !self.splitter.is_complete() {
                    return Err(self.session.truncated(self.splitter.text().to_owned()));
                }
                continue;
            };
            let pushed = match chunk? {
                Chunk::Text(text) => self.splitter.push(&text),
                Chunk::Rewind(n) => {
                    // A cut loop: split the kept text again. Backends never take back text that
                    // completed an item, so the items produced before come out again and are
                    // skipped.
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
                    // Only a backend that ignores the grammar gets here; nothing after the
                    // break can be split into items.
                    self.end();
                    return Err(Error::InvalidItem {
                        index: self.index,
                        raw: self.splitter.text().to_owned(),
                        errors: vec![FieldError::new(
                            "",
                            format!("the list is not valid JSON: {e}"),
                        )],
                    });
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

/// One step of an [`ItemReports`] stream.
#[derive(Debug, Clone)]
pub enum ItemEvent<T> {
    /// The next valid item.
    Item(T),
    /// The list has ended: what it took (the last step).
    Done(Box<Report>),
}

/// [`ItemStream`] with the list's [`Report`] as its last step (an [`Iterator`]).
///
/// Created by [`Extractor::extract_iter_with_report`](crate::Extractor::extract_iter_with_report).
pub struct ItemReports<'l, T: ResponseModel, L: Llm + ?Sized> {
    items: ItemStream<'l, T, L>,
    reported: bool,
}

impl<'l, T: ResponseModel, L: Llm + ?Sized> ItemReports<'l, T, L> {
    pub(crate) fn new(items: ItemStream<'l, T, L>) -> Self {
        Self {
            items,
            reported: false,
        }
    }
}

impl<T: ResponseModel, L: Llm + ?Sized> Iterator for ItemReports<'_, T, L> {
    type Item = Result<ItemEvent<T>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.reported {
            return None;
        }
        match self.items.next() {
            Some(step) => {
                if matches!(step, Err(ref e) if !matches!(e, Error::InvalidItem { .. })) {
                    // The list ended with this error: no report follows.
                    self.reported = true;
                }
                Some(step.map(ItemEvent::Item))
            }
            None => {
                self.reported = true;
                Some(Ok(ItemEvent::Done(Box::new(self.items.report()))))
            }
        }
    }
}
