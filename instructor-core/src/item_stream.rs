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

/// A list's text as it arrives, split into items (shared by the blocking [`ItemStream`] and
/// the asynchronous one): what is pending, what was yielded, and the parse and check of each.
pub(crate) struct Items {
    splitter: ItemSplitter,
    /// Items the splitter has produced so far (yielded or pending).
    split: usize,
    index: usize,
    pending: VecDeque<String>,
}

impl Items {
    pub(crate) fn new() -> Self {
        Self {
            splitter: ItemSplitter::new(),
            split: 0,
            index: 0,
            pending: VecDeque::new(),
        }
    }

    /// The next complete item, parsed and checked (an invalid one is [`Error::InvalidItem`]).
    pub(crate) fn pop<T: ResponseModel>(&mut self, session: &Session) -> Option<Result<T, Error>> {
        let raw = self.pending.pop_front()?;
        let index = self.index;
        self.index += 1;
        Some(
            session
                .check::<T>(&raw)
                .map_err(|errors| Error::InvalidItem { index, raw, errors }),
        )
    }

    /// Whether the list has closed (nothing more to ask the backend for).
    pub(crate) fn is_complete(&self) -> bool {
        self.splitter.is_complete()
    }

    /// The list's text so far.
    pub(crate) fn text(&self) -> &str {
        self.splitter.text()
    }

    /// Splits one more chunk; items it completed become pending. An error means the text is
    /// not JSON (only a backend that ignores the grammar gets there): nothing after the break
    /// can be split, so the list ends with it.
    pub(crate) fn push(&mut self, chunk: Chunk) -> Result<(), Error> {
        let pushed = match chunk {
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
                self.pending.extend(items);
                Ok(())
            }
            Err(e) => Err(Error::InvalidItem {
                index: self.index,
                raw: self.splitter.text().to_owned(),
                errors: vec![FieldError::new(
                    "",
                    format!("the list is not valid JSON: {e}"),
                )],
            }),
        }
    }

    /// The error of a list the backend ended at `max_tokens` before it closed, if it did.
    pub(crate) fn cut_short(&self, session: &mut Session, finish: FinishReason) -> Option<Error> {
        (finish == FinishReason::Length && !self.is_complete())
            .then(|| session.truncated(self.text().to_owned()))
    }

    /// Forgets the items not yet yielded (the list ended with an error).
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }
}

/// The items of a generated list, each as soon as it is complete (an [`Iterator`]).
///
/// Created by [`Extractor::extract_iter`](crate::Extractor::extract_iter); an item that fails
/// to parse or validate is yielded as [`Error::InvalidItem`] and the stream goes on.
pub struct ItemStream<'l, T: ResponseModel, L: Llm + ?Sized> {
    llm: &'l L,
    session: Session,
    stream: Option<Box<dyn TokenStream + 'l>>,
    items: Items,
    done: bool,
    _t: std::marker::PhantomData<T>,
}

impl<'l, T: ResponseModel, L: Llm + ?Sized> ItemStream<'l, T, L> {
    pub(crate) fn new(llm: &'l L, session: Session) -> Self {
        Self {
            llm,
            session,
            stream: None,
            items: Items::new(),
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
        let raw = self.items.text().to_owned();
        let mut report = self.session.report(raw);
        if let Some(stream) = &self.stream {
            report.loops_cut = stream.loops_cut().to_vec();
        }
        report
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
            if let Some(item) = self.items.pop::<T>(&self.session) {
                return item.map(Some);
            }
            if self.done {
                return Ok(None);
            }
            let Some(stream) = self.stream.as_mut() else {
                self.stream = Some(self.session.start(self.llm)?);
                continue;
            };
            let chunk = if self.items.is_complete() {
                None
            } else {
                stream.next_chunk()
            };
            let Some(chunk) = chunk else {
                let finish = self.end();
                if let Some(e) = self.items.cut_short(&mut self.session, finish) {
                    return Err(e);
                }
                continue;
            };
            if let Err(e) = self.items.push(chunk?) {
                self.end();
                return Err(e);
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
                self.items.clear();
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
