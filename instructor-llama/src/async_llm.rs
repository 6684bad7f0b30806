//! [`Llama`] as an [`AsyncLlm`] (feature `async`): each generation decodes on a thread of its
//! own and hands its chunks over a channel, so the task awaiting it never blocks its runtime's
//! thread; many documents run in one batch context on one thread (`async_batch.rs`).
//!
//! This module owns only the hand-over: the decode loop, the pool and the engine lock are the
//! blocking backend's (`model.rs`, `generation.rs`), used unchanged on the thread. No runtime is
//! assumed (plain threads, `futures-channel`), so any executor can await it.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures_core::Stream;
use instructor_core::{
    AsyncBatch, AsyncLlm, AsyncTokenStream, BoxFuture, Chunk, FinishReason, Llm, LlmError, LoopCut,
    OwnedRequest, Request, Usage,
};

use crate::async_batch::Threaded;
use crate::model::Llama;

/// What the decode thread tells the stream.
enum Note {
    /// The request was accepted (the prompt fits); chunks follow.
    Started,
    /// A chunk, and what the generation has cost so far (a stream dropped or read no further
    /// once its value has closed still reports its cost).
    Chunk(Chunk, Usage),
    /// The loops cut so far, when a cut was added.
    Loops(Vec<LoopCut>),
    Ended(FinishReason, Usage, Vec<LoopCut>),
    Failed(LlmError),
}

impl AsyncLlm for Llama {
    /// Decodes on a new thread (started when the future is first polled); the future resolves
    /// once the request is accepted. Dropping the stream stops the thread at its next token,
    /// and the answer is remembered for a retry's prompt as in a blocking generation.
    fn generate_async<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn AsyncTokenStream + 'a>, LlmError>> {
        let request = request.to_owned_request();
        let llama = self.clone();
        Box::pin(async move {
            let (sender, mut notes) = unbounded();
            std::thread::Builder::new()
                .name("instructor-llama-decode".to_owned())
                .spawn(move || decode(&llama, &request, &sender))
                .map_err(|e| LlmError::backend(format!("could not start a decode thread: {e}")))?;
            let first = std::future::poll_fn(|cx| Pin::new(&mut notes).poll_next(cx)).await;
            match first {
                Some(Note::Started) => {
                    Ok(Box::new(Handed::new(notes)) as Box<dyn AsyncTokenStream>)
                }
                Some(Note::Failed(e)) => Err(e),
                _ => Err(thread_stopped()),
            }
        })
    }

    /// Up to `sequences` documents in one batch context, decoded on one thread of their own
    /// (the blocking [`Llm::batch`], driven there).
    fn batch_async<'a>(&'a self, sequences: usize) -> Result<Box<dyn AsyncBatch + 'a>, LlmError> {
        Ok(Box::new(Threaded::new(self.clone(), sequences)))
    }
}

fn thread_stopped() -> LlmError {
    LlmError::backend("the decode thread stopped before the answer ended")
}

/// The decode thread: one blocking generation, forwarded until it ends or nobody listens.
fn decode(llama: &Llama, request: &OwnedRequest, notes: &UnboundedSender<Note>) {
    let send = |note| notes.unbounded_send(note).is_ok();
    let mut stream = match llama.generate(&request.request()) {
        Ok(stream) => stream,
        Err(e) => {
            send(Note::Failed(e));
            return;
        }
    };
    if !send(Note::Started) {
        return;
    }
    let mut cuts = 0;
    loop {
        match stream.next_chunk() {
            Some(Ok(chunk)) => {
                let loops = stream.loops_cut();
                if loops.len() != cuts {
                    cuts = loops.len();
                    if !send(Note::Loops(loops.to_vec())) {
                        return;
                    }
                }
                if !send(Note::Chunk(chunk, stream.finish().1)) {
                    return;
                }
            }
            Some(Err(e)) => {
                send(Note::Failed(e));
                return;
            }
            None => {
                let (finish, usage) = stream.finish();
                send(Note::Ended(finish, usage, stream.loops_cut().to_vec()));
                return;
            }
        }
    }
}

/// The awaiting side of a decode thread.
struct Handed {
    notes: UnboundedReceiver<Note>,
    finish: FinishReason,
    usage: Usage,
    loops_cut: Vec<LoopCut>,
    done: bool,
}

impl Handed {
    fn new(notes: UnboundedReceiver<Note>) -> Self {
        Self {
            notes,
            finish: FinishReason::Stop,
            usage: Usage::default(),
            loops_cut: Vec::new(),
            done: false,
        }
    }
}

impl Stream for Handed {
    type Item = Result<Chunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let note = loop {
            match Pin::new(&mut self.notes).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Note::Loops(loops))) => self.loops_cut = loops,
                Poll::Ready(note) => break note,
            }
        };
        let item = match note {
            Some(Note::Chunk(chunk, usage)) => {
                self.usage = usage;
                return Poll::Ready(Some(Ok(chunk)));
            }
            Some(Note::Ended(finish, usage, loops_cut)) => {
                (self.finish, self.usage, self.loops_cut) = (finish, usage, loops_cut);
                None
            }
            Some(Note::Failed(e)) => Some(Err(e)),
            Some(Note::Started | Note::Loops(_)) | None => Some(Err(thread_stopped())),
        };
        self.done = true;
        Poll::Ready(item)
    }
}

impl AsyncTokenStream for Handed {
    /// Once the stream has ended, the generation's; before, its cost up to the last chunk
    /// handed out (the finish reason is then `Stop`: the caller stopped reading).
    fn finish(&self) -> (FinishReason, Usage) {
        (self.finish, self.usage)
    }

    fn loops_cut(&self) -> &[LoopCut] {
        &self.loops_cut
    }
}
