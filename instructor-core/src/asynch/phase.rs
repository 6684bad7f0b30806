//! Where one awaited attempt is (sent, running, done), shared by the value and list streams.

use std::task::{Context, Poll};

use super::llm::{AsyncLlm, AsyncTokenStream, BoxFuture};
use crate::error::Error;
use crate::llm::LlmError;
use crate::session::Session;

/// The current attempt of an awaited stream.
pub(crate) enum Phase<'l> {
    /// No attempt running: the next poll sends the session's next request.
    Idle,
    /// Sent; waiting for the backend to accept it.
    Opening(BoxFuture<'l, Result<Box<dyn AsyncTokenStream + 'l>, LlmError>>),
    Running(Box<dyn AsyncTokenStream + 'l>),
    /// The stream has returned its last step (or is only yielding what it already holds).
    Done,
}

impl<'l> Phase<'l> {
    /// Sends the next attempt if none runs, and awaits the backend's acceptance: ready once the
    /// attempt runs (or the phase is `Done`), or with the error that kept it from starting.
    pub(crate) fn poll_start<L: AsyncLlm + ?Sized>(
        &mut self,
        llm: &'l L,
        session: &mut Session,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        loop {
            match self {
                Phase::Running(_) | Phase::Done => return Poll::Ready(Ok(())),
                Phase::Idle => match session.request() {
                    Ok(request) => *self = Phase::Opening(llm.generate_async(&request)),
                    Err(e) => return Poll::Ready(Err(e)),
                },
                Phase::Opening(opening) => match opening.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(stream)) => *self = Phase::Running(stream),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                },
            }
        }
    }
}
