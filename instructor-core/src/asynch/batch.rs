//! Many asynchronous generations at once: the [`AsyncBatch`] contract and [`Streams`], the
//! default that keeps one [`AsyncLlm::generate_async`] stream per slot.

use std::pin::Pin;
use std::task::{Context, Poll};

use super::llm::{AsyncLlm, AsyncTokenStream, BoxFuture};
use crate::batch::{BatchEvent, Ended, Slots};
use crate::llm::{FinishReason, LlmError, Request, Usage};

/// Several generations advanced together, each in its own sequence slot: the asynchronous twin
/// of [`Batch`](crate::Batch).
///
/// The caller [`submit`](AsyncBatch::submit)s a request into a free slot (`0..capacity()`),
/// then polls [`poll_step`](AsyncBatch::poll_step): it is ready once at least one live sequence
/// has something to report, and returns what happened, slot by slot. A sequence ends with
/// [`BatchEvent::Ended`], after which its slot is free again.
///
/// Obtained from [`AsyncLlm::batch_async`].
pub trait AsyncBatch: Send {
    /// How many sequences may be live at once (at least 1). Slots are `0..capacity()`.
    fn capacity(&self) -> usize;

    /// Starts a generation for `request` in the free slot `seq`, without waiting for it: an
    /// error the backend finds later is that sequence's [`BatchEvent::Ended`].
    ///
    /// # Errors
    /// The slot is not free, or the request cannot be sent at all.
    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError>;

    /// What the live sequences did since the last step: ready with at least one event while a
    /// sequence is live, ready with none when no sequence is live.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Vec<BatchEvent>>;

    /// Ends the live sequence in slot `seq`. `Some` with what it cost when it ended now; `None`
    /// when the slot holds no live sequence, or when its end comes as a [`BatchEvent::Ended`]
    /// in a later step (a backend that decodes elsewhere; chunks it sends for the sequence in
    /// between are dropped by the caller).
    fn cancel(&mut self, seq: usize) -> Option<Ended>;
}

impl Slots for dyn AsyncBatch + '_ {
    fn capacity(&self) -> usize {
        AsyncBatch::capacity(self)
    }

    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError> {
        AsyncBatch::submit(self, seq, request)
    }

    fn cancel(&mut self, seq: usize) -> Option<Ended> {
        AsyncBatch::cancel(self, seq)
    }
}

/// The default [`AsyncBatch`]: one [`AsyncLlm::generate_async`] stream per slot, all polled
/// together, each step taking at most one chunk of each sequence.
///
/// With an HTTP backend this keeps `capacity` requests in flight on the caller's task; a server
/// that batches requests decodes them together.
pub struct Streams<'a, L: AsyncLlm + ?Sized> {
    llm: &'a L,
    slots: Vec<Option<Slot<'a>>>,
}

enum Slot<'a> {
    /// Sent; waiting for the backend to accept it.
    Opening(BoxFuture<'a, Result<Box<dyn AsyncTokenStream + 'a>, LlmError>>),
    Running(Box<dyn AsyncTokenStream + 'a>),
}

impl<'a, L: AsyncLlm + ?Sized> Streams<'a, L> {
    /// Up to `capacity` (at least 1) generations of `llm` at once.
    pub fn new(llm: &'a L, capacity: usize) -> Self {
        Self {
            llm,
            slots: (0..capacity.max(1)).map(|_| None).collect(),
        }
    }
}

fn ended(stream: &dyn AsyncTokenStream) -> Ended {
    let (finish, usage) = stream.finish();
    Ended::new(finish, usage, stream.loops_cut().to_vec())
}

impl<L: AsyncLlm + ?Sized> AsyncBatch for Streams<'_, L> {
    fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError> {
        match self.slots.get(seq) {
            Some(None) => {}
            _ => {
                return Err(LlmError::backend(format!(
                    "sequence slot {seq} is not free (this batch has {})",
                    self.slots.len()
                )))
            }
        }
        self.slots[seq] = Some(Slot::Opening(self.llm.generate_async(request)));
        Ok(())
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Vec<BatchEvent>> {
        let mut events = Vec::new();
        let mut live = false;
        for seq in 0..self.slots.len() {
            let Some(slot) = self.slots[seq].as_mut() else {
                continue;
            };
            live = true;
            if let Slot::Opening(opening) = slot {
                match opening.as_mut().poll(cx) {
                    Poll::Pending => continue,
                    Poll::Ready(Ok(stream)) => *slot = Slot::Running(stream),
                    Poll::Ready(Err(e)) => {
                        self.slots[seq] = None;
                        events.push(BatchEvent::Ended {
                            seq,
                            result: Err(e),
                        });
                        continue;
                    }
                }
            }
            let Slot::Running(stream) = slot else {
                continue;
            };
            match Pin::new(&mut **stream).poll_next(cx) {
                Poll::Pending => {}
                Poll::Ready(Some(Ok(chunk))) => events.push(BatchEvent::Chunk { seq, chunk }),
                Poll::Ready(Some(Err(e))) => {
                    self.slots[seq] = None;
                    events.push(BatchEvent::Ended {
                        seq,
                        result: Err(e),
                    });
                }
                Poll::Ready(None) => {
                    let result = Ok(ended(stream.as_ref()));
                    self.slots[seq] = None;
                    events.push(BatchEvent::Ended { seq, result });
                }
            }
        }
        if events.is_empty() && live {
            Poll::Pending
        } else {
            Poll::Ready(events)
        }
    }

    fn cancel(&mut self, seq: usize) -> Option<Ended> {
        match self.slots.get_mut(seq)?.take()? {
            Slot::Running(stream) => Some(ended(stream.as_ref())),
            Slot::Opening(_) => Some(Ended::new(FinishReason::Stop, Usage::default(), Vec::new())),
        }
    }
}
