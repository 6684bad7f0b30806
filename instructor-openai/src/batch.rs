//! Many requests in flight at once: [`Concurrent`], the [`Batch`] the HTTP backend gives
//! [`Extractor::extract_many`](instructor_core::Extractor::extract_many).
//!
//! A server that batches requests itself (`llama-server --parallel N`, vLLM) decodes the
//! sequences of concurrent requests together, so the client's part is only to keep `N`
//! requests open. Each submitted request is sent and read on a thread of its own, which
//! forwards the stream's chunks over one channel; [`Batch::step`] waits for the next chunks of
//! any sequence. This module owns that plumbing only: the request's body, retries and the
//! stream's framing stay `client.rs`'s and `sse.rs`'s.
//!
//! Every thread is bounded in time by the client's request timeout (each read of the stream
//! is), and one that is cancelled, or whose batch is dropped, stops at its next chunk and
//! closes its connection, which tells the server to stop generating.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use instructor_core::{
    Batch, BatchEvent, Chunk, Ended, FinishReason, LlmError, OwnedRequest, Request, TokenStream,
    Usage,
};

use crate::client::{OpenAi, Stream};

/// Up to `capacity` requests of one [`OpenAi`] client in flight at once.
pub(crate) struct Concurrent<'a> {
    llm: &'a OpenAi,
    slots: Vec<Option<Slot>>,
    /// Counts submissions, so that a cancelled request's late chunks are told apart from those
    /// of the next request in the same slot.
    submitted: u64,
    events: Receiver<Note>,
    sender: Sender<Note>,
}

/// A live request.
struct Slot {
    id: u64,
    cancel: Arc<AtomicBool>,
    chunks: u64,
    started: Instant,
}

/// What a request's thread reports.
struct Note {
    seq: usize,
    id: u64,
    event: ThreadEvent,
}

enum ThreadEvent {
    Chunk(Chunk),
    Ended(Result<Ended, LlmError>),
}

/// How a thread gets its stream: opened already (on the caller's thread), or to open itself.
enum Start {
    Opened(Box<Stream>),
    Open(Box<OpenAi>, OwnedRequest),
}

impl<'a> Concurrent<'a> {
    pub(crate) fn new(llm: &'a OpenAi, capacity: usize) -> Self {
        let (sender, events) = mpsc::channel();
        Concurrent {
            llm,
            slots: (0..capacity.max(1)).map(|_| None).collect(),
            submitted: 0,
            events,
            sender,
        }
    }

    /// The longest a step may wait for any live request's next event: one read of a stream is
    /// bounded by the request timeout, so by then every thread has reported or ended.
    fn step_limit(&self) -> Duration {
        self.llm.limits().request + Duration::from_secs(5)
    }
}

impl Batch for Concurrent<'_> {
    fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError> {
        match self.slots.get(seq) {
            Some(None) => {}
            Some(Some(_)) => return Err(LlmError::backend(format!("sequence slot {seq} is busy"))),
            None => {
                return Err(LlmError::backend(format!(
                    "no sequence slot {seq} (this batch has {})",
                    self.slots.len()
                )))
            }
        }
        // Until `Constraint::Auto` has settled, the first constrained request finds out what
        // the server accepts here, once, rather than on every thread.
        let unsettled = self.llm.constraint_in_use().is_none()
            && (request.grammar.is_some() || request.json_schema.is_some());
        let start = if unsettled {
            Start::Opened(Box::new(self.llm.open(request)?))
        } else {
            Start::Open(Box::new(self.llm.detached()), request.to_owned_request())
        };
        self.submitted += 1;
        let id = self.submitted;
        let cancel = Arc::new(AtomicBool::new(false));
        let sender = self.sender.clone();
        let flag = Arc::clone(&cancel);
        std::thread::Builder::new()
            .name(format!("instructor-openai-seq{seq}"))
            .spawn(move || read(start, seq, id, &flag, &sender))
            .map_err(|e| LlmError::backend(format!("could not start a request thread: {e}")))?;
        self.slots[seq] = Some(Slot {
            id,
            cancel,
            chunks: 0,
            started: Instant::now(),
        });
        Ok(())
    }

    fn step(&mut self) -> Vec<BatchEvent> {
        let mut out = Vec::new();
        if self.slots.iter().all(Option::is_none) {
            return out;
        }
        let deadline = Instant::now() + self.step_limit();
        // Wait for the first event of a live request, then take whatever else has arrived.
        while out.is_empty() {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(wait) {
                Ok(message) => self.accept(message, &mut out),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return self.time_out_all();
                }
            }
        }
        while let Ok(message) = self.events.try_recv() {
            self.accept(message, &mut out);
        }
        out
    }

    fn cancel(&mut self, seq: usize) -> Option<Ended> {
        let slot = self.slots.get_mut(seq)?.take()?;
        slot.cancel.store(true, Ordering::SeqCst);
        Some(Ended::new(FinishReason::Stop, counted(&slot), Vec::new()))
    }
}

impl Concurrent<'_> {
    /// Turns a thread's message into an event of the live request it belongs to; drops those
    /// of requests cancelled since.
    fn accept(&mut self, message: Note, out: &mut Vec<BatchEvent>) {
        let seq = message.seq;
        let Some(slot) = self.slots.get_mut(seq).and_then(Option::as_mut) else {
            return;
        };
        if slot.id != message.id {
            return;
        }
        match message.event {
            ThreadEvent::Chunk(chunk) => {
                slot.chunks += 1;
                out.push(BatchEvent::Chunk { seq, chunk });
            }
            ThreadEvent::Ended(result) => {
                self.slots[seq] = None;
                out.push(BatchEvent::Ended { seq, result });
            }
        }
    }

    /// Ends every live request with a timeout: no thread reported within the limit.
    fn time_out_all(&mut self) -> Vec<BatchEvent> {
        let limit = self.step_limit();
        let url = self.llm.endpoint().to_owned();
        (0..self.slots.len())
            .filter_map(|seq| {
                let slot = self.slots[seq].take()?;
                slot.cancel.store(true, Ordering::SeqCst);
                Some(BatchEvent::Ended {
                    seq,
                    result: Err(LlmError::Timeout {
                        url: url.clone(),
                        during: "waiting for the next chunk of a batched answer from".to_owned(),
                        limit,
                    }),
                })
            })
            .collect()
    }
}

impl Drop for Concurrent<'_> {
    /// Stops every request still running: its thread ends at its next chunk.
    fn drop(&mut self) {
        for slot in self.slots.iter().flatten() {
            slot.cancel.store(true, Ordering::SeqCst);
        }
    }
}

/// What a request cancelled before its end cost, as far as the client saw: a completion token
/// per content chunk (as `sse.rs` counts for servers that send no usage).
fn counted(slot: &Slot) -> Usage {
    Usage::default()
        .completion_tokens(slot.chunks)
        .generation_time(slot.started.elapsed())
}

/// A request's thread: opens the stream when it was not opened already, and forwards its
/// chunks and its end until it is cancelled or nobody listens.
fn read(start: Start, seq: usize, id: u64, cancel: &AtomicBool, sender: &Sender<Note>) {
    let send = |event| sender.send(Note { seq, id, event }).is_ok();
    let mut stream = match start {
        Start::Opened(stream) => stream,
        Start::Open(client, owned) => match client.open(&owned.request()) {
            Ok(stream) => Box::new(stream),
            Err(e) => {
                send(ThreadEvent::Ended(Err(e)));
                return;
            }
        },
    };
    loop {
        if cancel.load(Ordering::SeqCst) {
            return;
        }
        match stream.next_chunk() {
            Some(Ok(chunk)) => {
                if !send(ThreadEvent::Chunk(chunk)) {
                    return;
                }
            }
            Some(Err(e)) => {
                send(ThreadEvent::Ended(Err(e)));
                return;
            }
            None => {
                let (finish, usage) = stream.finish();
                let ended = Ended::new(finish, usage, stream.loops_cut().to_vec());
                send(ThreadEvent::Ended(Ok(ended)));
                return;
            }
        }
    }
}
