//! Continuous batching, awaited (feature `async`): [`Threaded`], the [`AsyncBatch`] of
//! [`Llama`], drives the blocking batch context (`batch.rs`) on a thread of its own.
//!
//! The thread owns the context: it takes submissions and cancellations over one channel, steps
//! every live sequence while any is live, and sends each step's events back over another. The
//! awaiting side only keeps, per slot, which submission is live, so that events of a cancelled
//! request are told apart from those of the next request in the same slot. The thread ends when
//! the batch is dropped.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::task::{Context, Poll};

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures_core::Stream;
use instructor_core::{AsyncBatch, Batch, BatchEvent, Ended, LlmError, OwnedRequest, Request};

use crate::batch::Sequences;
use crate::model::Llama;

/// What the awaiting side asks of the thread.
enum Command {
    Submit {
        seq: usize,
        id: u64,
        request: OwnedRequest,
    },
    Cancel {
        seq: usize,
        id: u64,
    },
}

/// An event of the submission `id`.
struct Note {
    id: u64,
    event: BatchEvent,
}

/// Up to `capacity` sequences of one [`Llama`] in one batch context on a thread.
pub(crate) struct Threaded {
    llama: Llama,
    capacity: usize,
    /// Started with the first submission.
    link: Option<(Sender<Command>, UnboundedReceiver<Note>)>,
    /// The live submission of each slot.
    live: Vec<Option<u64>>,
    submitted: u64,
}

impl Threaded {
    pub(crate) fn new(llama: Llama, capacity: usize) -> Self {
        let capacity = capacity.clamp(1, 256);
        Self {
            llama,
            capacity,
            link: None,
            live: vec![None; capacity],
            submitted: 0,
        }
    }

    fn commands(&mut self) -> Result<&Sender<Command>, LlmError> {
        if self.link.is_none() {
            let (commands, inbox) = mpsc::channel();
            let (outbox, notes) = unbounded();
            let llama = self.llama.clone();
            let capacity = self.capacity;
            std::thread::Builder::new()
                .name("instructor-llama-batch".to_owned())
                .spawn(move || serve(&llama, capacity, &inbox, &outbox))
                .map_err(|e| LlmError::backend(format!("could not start the batch thread: {e}")))?;
            self.link = Some((commands, notes));
        }
        match &self.link {
            Some((commands, _)) => Ok(commands),
            None => Err(gone()),
        }
    }

    /// Ends every live sequence: the thread is gone.
    fn fail_live(&mut self) -> Vec<BatchEvent> {
        let mut events = Vec::new();
        for (seq, slot) in self.live.iter_mut().enumerate() {
            if slot.take().is_some() {
                events.push(BatchEvent::Ended {
                    seq,
                    result: Err(gone()),
                });
            }
        }
        events
    }

    /// Keeps an event of a live submission (ending it when it ends); drops stale ones.
    fn accept(&mut self, note: Note, out: &mut Vec<BatchEvent>) {
        let (seq, ends) = match &note.event {
            BatchEvent::Chunk { seq, .. } => (*seq, false),
            BatchEvent::Ended { seq, .. } => (*seq, true),
            _ => return,
        };
        if self.live.get(seq).copied().flatten() != Some(note.id) {
            return;
        }
        if ends {
            self.live[seq] = None;
        }
        out.push(note.event);
    }
}

fn gone() -> LlmError {
    LlmError::backend("the batch thread stopped")
}

impl AsyncBatch for Threaded {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError> {
        if self.live.get(seq) != Some(&None) {
            return Err(LlmError::backend(format!(
                "sequence slot {seq} is not free"
            )));
        }
        self.submitted += 1;
        let id = self.submitted;
        let request = request.to_owned_request();
        self.commands()?
            .send(Command::Submit { seq, id, request })
            .map_err(|_| gone())?;
        self.live[seq] = Some(id);
        Ok(())
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Vec<BatchEvent>> {
        if self.live.iter().all(Option::is_none) {
            return Poll::Ready(Vec::new());
        }
        let mut out = Vec::new();
        loop {
            let Some((_, notes)) = self.link.as_mut() else {
                return Poll::Ready(self.fail_live());
            };
            match std::pin::Pin::new(notes).poll_next(cx) {
                Poll::Ready(Some(note)) => self.accept(note, &mut out),
                Poll::Ready(None) => {
                    out.extend(self.fail_live());
                    return Poll::Ready(out);
                }
                Poll::Pending if out.is_empty() => return Poll::Pending,
                Poll::Pending => return Poll::Ready(out),
            }
        }
    }

    /// The sequence ends on the thread; its [`BatchEvent::Ended`] follows in a later step.
    fn cancel(&mut self, seq: usize) -> Option<Ended> {
        let id = self.live.get(seq).copied().flatten()?;
        if let Some((commands, _)) = &self.link {
            if commands.send(Command::Cancel { seq, id }).is_err() {
                self.live[seq] = None;
            }
        }
        None
    }
}

/// The batch thread: applies commands, steps while any sequence is live, and stops when the
/// awaiting side is gone.
fn serve(
    llama: &Llama,
    capacity: usize,
    inbox: &Receiver<Command>,
    outbox: &UnboundedSender<Note>,
) {
    let mut batch = Sequences::new(llama, capacity).map_err(|e| e.to_string());
    let mut ids: Vec<Option<u64>> = vec![None; capacity];
    loop {
        let live = ids.iter().any(Option::is_some);
        let command = if live {
            match inbox.try_recv() {
                Ok(command) => Some(command),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match inbox.recv() {
                Ok(command) => Some(command),
                Err(_) => return,
            }
        };
        let mut notes = Vec::new();
        match (command, batch.as_mut()) {
            (Some(Command::Submit { seq, id, request }), Ok(batch)) => {
                match batch.submit(seq, &request.request()) {
                    Ok(()) => ids[seq] = Some(id),
                    Err(e) => notes.push((id, ended(seq, Err(e)))),
                }
            }
            (Some(Command::Submit { seq, id, .. }), Err(why)) => {
                let error = LlmError::backend(format!("could not start the batch: {why}"));
                notes.push((id, ended(seq, Err(error))));
            }
            (Some(Command::Cancel { seq, id }), Ok(batch)) => {
                if ids.get(seq).copied().flatten() == Some(id) {
                    ids[seq] = None;
                    if let Some(done) = batch.cancel(seq) {
                        notes.push((id, ended(seq, Ok(done))));
                    }
                }
            }
            (Some(Command::Cancel { .. }), Err(_)) => {}
            (None, Ok(batch)) => {
                for event in batch.step() {
                    let (seq, ends) = match &event {
                        BatchEvent::Chunk { seq, .. } => (*seq, false),
                        BatchEvent::Ended { seq, .. } => (*seq, true),
                        _ => continue,
                    };
                    let id = if ends {
                        ids.get_mut(seq).and_then(Option::take)
                    } else {
                        ids.get(seq).copied().flatten()
                    };
                    if let Some(id) = id {
                        notes.push((id, event));
                    }
                }
            }
            (None, Err(_)) => {}
        }
        for (id, event) in notes {
            if outbox.unbounded_send(Note { id, event }).is_err() {
                return;
            }
        }
    }
}

fn ended(seq: usize, result: Result<Ended, LlmError>) -> BatchEvent {
    BatchEvent::Ended { seq, result }
}
