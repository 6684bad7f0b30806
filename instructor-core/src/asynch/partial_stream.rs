//! Streaming one value asynchronously: the [`Stream`] behind
//! [`Extractor::extract_stream_async`](crate::Extractor::extract_stream_async) and the future of
//! [`Extractor::extract_async`](crate::Extractor::extract_async). The decisions about the text
//! are the blocking stream's (`Progress` in `partial_stream.rs`); this file only awaits.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::llm::AsyncLlm;
use super::phase::Phase;
use crate::error::Error;
use crate::partial_stream::{Progress, Step, StreamEvent};
use crate::report::Extraction;
use crate::session::Session;
use crate::ResponseModel;

/// Partial values as they are generated, then the validated value (a [`Stream`] of
/// [`StreamEvent`]s): the asynchronous [`PartialStream`](crate::PartialStream).
///
/// Created by [`Extractor::extract_stream_async`](crate::Extractor::extract_stream_async).
pub struct AsyncPartialStream<'l, T: ResponseModel, L: AsyncLlm + ?Sized> {
    llm: &'l L,
    session: Session,
    stop_when_complete: bool,
    phase: Phase<'l>,
    progress: Progress<T>,
}

// No field is ever pinned in place: the backend's futures and streams are boxed.
impl<T: ResponseModel, L: AsyncLlm + ?Sized> Unpin for AsyncPartialStream<'_, T, L> {}

impl<'l, T: ResponseModel, L: AsyncLlm + ?Sized> AsyncPartialStream<'l, T, L> {
    pub(crate) fn new(llm: &'l L, session: Session, stop_when_complete: bool) -> Self {
        Self {
            llm,
            session,
            stop_when_complete,
            phase: Phase::Idle,
            progress: Progress::new(),
        }
    }

    /// Advances to the next step: a new snapshot (read in `progress`), a retry, the value, or
    /// the error that ends the stream.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Step<T>, Error>>> {
        loop {
            match self.phase.poll_start(self.llm, &mut self.session, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return self.fail(e),
                Poll::Ready(Ok(())) => {}
            }
            match &mut self.phase {
                Phase::Idle | Phase::Opening(_) | Phase::Done => return Poll::Ready(None),
                Phase::Running(stream) => {
                    let chunk = if self.progress.wants_more(self.stop_when_complete) {
                        match Pin::new(&mut **stream).poll_next(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(chunk) => chunk,
                        }
                    } else {
                        None
                    };
                    match chunk {
                        Some(Ok(chunk)) => {
                            if self.progress.accept(chunk) {
                                return Poll::Ready(Some(Ok(Step::Partial)));
                            }
                        }
                        Some(Err(e)) => return self.fail(e.into()),
                        None => {
                            let (finish, usage) = stream.finish();
                            self.session.book(&usage, stream.loops_cut());
                            // Ends the generation before the next attempt is sent.
                            self.phase = Phase::Idle;
                            let progress = std::mem::replace(&mut self.progress, Progress::new());
                            return match progress.conclude(&mut self.session, finish) {
                                Ok(step @ Step::Done(_)) => {
                                    self.phase = Phase::Done;
                                    Poll::Ready(Some(Ok(step)))
                                }
                                Ok(step) => Poll::Ready(Some(Ok(step))),
                                Err(e) => self.fail(e),
                            };
                        }
                    }
                }
            }
        }
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<Step<T>, Error>>> {
        self.phase = Phase::Done;
        Poll::Ready(Some(Err(error)))
    }

    /// Runs the stream to its end without copying snapshots: the validated value and its
    /// report.
    pub(crate) async fn run(mut self) -> Result<Extraction<T>, Error> {
        std::future::poll_fn(|cx| loop {
            match self.poll_step(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(Step::Done(done)))) => return Poll::Ready(Ok(*done)),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Some(Ok(_))) => {}
                // The stream only ends after yielding `Done` or an error.
                Poll::Ready(None) => return Poll::Ready(Err(self.session.exhausted())),
            }
        })
        .await
    }
}

impl<T: ResponseModel, L: AsyncLlm + ?Sized> Stream for AsyncPartialStream<'_, T, L> {
    type Item = Result<StreamEvent<T>, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let step = match this.poll_step(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(step) => step,
            };
            let event = match step {
                None => None,
                Some(Err(e)) => Some(Err(e)),
                Some(Ok(Step::Retry(attempt))) => Some(Ok(StreamEvent::Retry(attempt))),
                Some(Ok(Step::Done(done))) => Some(Ok(StreamEvent::Done(done))),
                Some(Ok(Step::Partial)) => match this.progress.partial.get() {
                    Some(snapshot) => Some(Ok(StreamEvent::Partial(snapshot.clone()))),
                    None => continue,
                },
            };
            return Poll::Ready(event);
        }
    }
}
