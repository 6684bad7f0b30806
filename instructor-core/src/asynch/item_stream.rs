//! Streaming a list asynchronously: the [`Stream`] behind
//! [`Extractor::extract_iter_async`](crate::Extractor::extract_iter_async). The splitting and
//! checking of items are the blocking stream's (`Items` in `item_stream.rs`).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::llm::AsyncLlm;
use super::phase::Phase;
use crate::error::Error;
use crate::item_stream::Items;
use crate::llm::Usage;
use crate::report::Report;
use crate::session::Session;
use crate::ResponseModel;

/// The items of a generated list, each as soon as it is complete (a [`Stream`]): the
/// asynchronous [`ItemStream`](crate::ItemStream).
///
/// Created by [`Extractor::extract_iter_async`](crate::Extractor::extract_iter_async). An item
/// that fails to parse or validate is yielded as [`Error::InvalidItem`] and the stream goes on;
/// any other error ends it.
pub struct AsyncItemStream<'l, T: ResponseModel, L: AsyncLlm + ?Sized> {
    llm: &'l L,
    session: Session,
    phase: Phase<'l>,
    items: Items,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: ResponseModel, L: AsyncLlm + ?Sized> Unpin for AsyncItemStream<'_, T, L> {}

impl<'l, T: ResponseModel, L: AsyncLlm + ?Sized> AsyncItemStream<'l, T, L> {
    pub(crate) fn new(llm: &'l L, session: Session) -> Self {
        Self {
            llm,
            session,
            phase: Phase::Idle,
            items: Items::new(),
            _t: std::marker::PhantomData,
        }
    }

    /// Tokens and time of the list (complete once the stream has returned `None`).
    pub fn usage(&self) -> Usage {
        self.session.usage()
    }

    /// The report of the list so far: its raw text, cost, cut loops and wall time (complete
    /// once the stream has returned `None`).
    pub fn report(&mut self) -> Report {
        self.session.report(self.items.text().to_owned())
    }

    /// Books the generation's end; the error of a list cut at `max_tokens`, if it was.
    fn end(&mut self) -> Option<Error> {
        let Phase::Running(stream) = std::mem::replace(&mut self.phase, Phase::Done) else {
            return None;
        };
        let (finish, usage) = stream.finish();
        self.session.book(&usage, stream.loops_cut());
        self.items.cut_short(&mut self.session, finish)
    }

    fn stop(&mut self, error: Error) -> Poll<Option<Result<T, Error>>> {
        self.phase = Phase::Done;
        self.items.clear();
        Poll::Ready(Some(Err(error)))
    }
}

impl<T: ResponseModel, L: AsyncLlm + ?Sized> Stream for AsyncItemStream<'_, T, L> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.items.pop::<T>(&this.session) {
                return Poll::Ready(Some(item));
            }
            match this.phase.poll_start(this.llm, &mut this.session, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return this.stop(e),
                Poll::Ready(Ok(())) => {}
            }
            match &mut this.phase {
                Phase::Idle | Phase::Opening(_) | Phase::Done => return Poll::Ready(None),
                Phase::Running(stream) => {
                    let chunk = if this.items.is_complete() {
                        None
                    } else {
                        match Pin::new(&mut **stream).poll_next(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(chunk) => chunk,
                        }
                    };
                    match chunk {
                        Some(Ok(chunk)) => {
                            if let Err(e) = this.items.push(chunk) {
                                let _cut = this.end();
                                // Items split before the break are still yielded.
                                return Poll::Ready(Some(Err(e)));
                            }
                        }
                        Some(Err(e)) => {
                            let _cut = this.end();
                            return this.stop(e.into());
                        }
                        None => {
                            if let Some(e) = this.end() {
                                return this.stop(e);
                            }
                        }
                    }
                }
            }
        }
    }
}
