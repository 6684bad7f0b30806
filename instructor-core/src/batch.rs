//! The backend side of many generations at once: the [`Batch`] trait a backend implements to
//! interleave several sequences, and [`OneAtATime`], the default that runs them one after
//! another through [`Llm::generate`] so every backend works.
//!
//! This module owns only the contract (submit a request into a sequence slot, step every live
//! sequence, cancel one); it knows nothing of answer types, parsing or retries, which stay the
//! extraction loop's (`session.rs`, driven per document by `many.rs`).

use crate::llm::{Chunk, FinishReason, Llm, LlmError, LoopCut, Request, TokenStream, Usage};

/// Several generations advanced together, each in its own sequence slot.
///
/// The caller [`submit`](Batch::submit)s a request into a free slot (`0..capacity()`), then calls
/// [`step`](Batch::step) repeatedly: each call advances every live sequence (a backend that
/// batches decodes does them in one model call) and returns what happened, slot by slot. A
/// sequence ends with [`BatchEvent::Ended`], after which its slot is free again; the caller may
/// also end one early with [`cancel`](Batch::cancel) (the extraction loop does when the JSON
/// value has closed).
///
/// Obtained from [`Llm::batch`].
pub trait Batch {
    /// How many sequences may be live at once (at least 1). Slots are `0..capacity()`.
    fn capacity(&self) -> usize;

    /// Starts a generation for `request` in the free slot `seq`.
    ///
    /// # Errors
    /// The backend's error for this request only (a prompt that does not fit the sequence's
    /// context is [`LlmError::ContextOverflow`]); other sequences are not affected.
    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError>;

    /// Advances every live sequence by one step (at least one chunk or an end per sequence, over
    /// a few steps for a prompt still being evaluated). Empty when no sequence is live.
    fn step(&mut self) -> Vec<BatchEvent>;

    /// Ends the live sequence in slot `seq` now, freeing the slot; what it cost so far. `None`
    /// when the slot holds no live sequence.
    fn cancel(&mut self, seq: usize) -> Option<Ended>;
}

/// What one sequence did in a [`Batch::step`].
#[derive(Debug)]
#[non_exhaustive]
pub enum BatchEvent {
    /// More output of the sequence in slot `seq` (as [`TokenStream::next_chunk`] gives it).
    Chunk {
        /// The slot.
        seq: usize,
        /// The output.
        chunk: Chunk,
    },
    /// The sequence in slot `seq` ended (its slot is free) or failed.
    Ended {
        /// The slot.
        seq: usize,
        /// Why it ended and what it cost, or the backend's error for this sequence.
        result: Result<Ended, LlmError>,
    },
}

/// A finished sequence: why it ended, what it cost, the loops the backend cut out of it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Ended {
    /// Why the generation ended.
    pub finish: FinishReason,
    /// What it cost.
    pub usage: Usage,
    /// Repetition loops cut out of it (see [`TokenStream::loops_cut`]).
    pub loops_cut: Vec<LoopCut>,
}

impl Ended {
    /// An ended sequence, as a backend reports it.
    pub fn new(finish: FinishReason, usage: Usage, loops_cut: Vec<LoopCut>) -> Self {
        Self {
            finish,
            usage,
            loops_cut,
        }
    }

    fn of(stream: &dyn TokenStream) -> Self {
        let (finish, usage) = stream.finish();
        Self::new(finish, usage, stream.loops_cut().to_vec())
    }
}

/// The default [`Batch`]: one sequence at a time through [`Llm::generate`] (capacity 1).
///
/// Every backend gets it from [`Llm::batch`]'s default; results are those of one `generate`
/// call per request, in order.
pub struct OneAtATime<'a, L: Llm + ?Sized> {
    llm: &'a L,
    live: Option<Box<dyn TokenStream + 'a>>,
}

impl<'a, L: Llm + ?Sized> OneAtATime<'a, L> {
    /// A batch of one sequence on `llm`.
    pub fn new(llm: &'a L) -> Self {
        Self { llm, live: None }
    }
}

impl<L: Llm + ?Sized> Batch for OneAtATime<'_, L> {
    fn capacity(&self) -> usize {
        1
    }

    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError> {
        if seq != 0 || self.live.is_some() {
            return Err(LlmError::backend(format!(
                "sequence slot {seq} is not free (this batch runs one sequence at a time)"
            )));
        }
        self.live = Some(self.llm.generate(request)?);
        Ok(())
    }

    fn step(&mut self) -> Vec<BatchEvent> {
        let Some(stream) = self.live.as_mut() else {
            return Vec::new();
        };
        let event = match stream.next_chunk() {
            Some(Ok(chunk)) => return vec![BatchEvent::Chunk { seq: 0, chunk }],
            Some(Err(e)) => BatchEvent::Ended {
                seq: 0,
                result: Err(e),
            },
            None => BatchEvent::Ended {
                seq: 0,
                result: Ok(Ended::of(stream.as_ref())),
            },
        };
        self.live = None;
        vec![event]
    }

    fn cancel(&mut self, seq: usize) -> Option<Ended> {
        if seq != 0 {
            return None;
        }
        let stream = self.live.take()?;
        Some(Ended::of(stream.as_ref()))
    }
}

/// What the document runner (`many.rs`) needs of a batch, blocking or asynchronous: its slots,
/// submitting into one, and ending one early. Stepping is the caller's.
pub(crate) trait Slots {
    fn capacity(&self) -> usize;
    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError>;
    /// `Some` when the sequence ended now; `None` when the slot held nothing live, or when its
    /// [`BatchEvent::Ended`] comes in a later step.
    fn cancel(&mut self, seq: usize) -> Option<Ended>;
}

impl Slots for dyn Batch + '_ {
    fn capacity(&self) -> usize {
        Batch::capacity(self)
    }

    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError> {
        Batch::submit(self, seq, request)
    }

    fn cancel(&mut self, seq: usize) -> Option<Ended> {
        Batch::cancel(self, seq)
    }
}
