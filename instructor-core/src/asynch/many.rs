//! Many documents at once, asynchronously: the [`Stream`]s behind
//! [`Extractor::extract_many_async`](crate::Extractor::extract_many_async). The slots, sessions
//! and judgements are the blocking run's (`Run` in `many.rs`); this file only awaits the
//! backend's [`AsyncBatch`] steps.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::batch::AsyncBatch;
use super::llm::AsyncLlm;
use crate::error::Error;
use crate::many::{BatchTotals, Finished, Next, Run};
use crate::report::Extraction;
use crate::ResponseModel;

type AsyncRun<'l, T, L> = Run<'l, T, L, dyn AsyncBatch + 'l>;

fn poll_run<'l, T: ResponseModel, L: AsyncLlm + ?Sized>(
    run: &mut AsyncRun<'l, T, L>,
    cx: &mut Context<'_>,
) -> Poll<Option<Finished<T>>> {
    loop {
        match run.next_ready() {
            Next::Ready(index, result) => return Poll::Ready(Some((index, result))),
            Next::End => return Poll::Ready(None),
            Next::Step => {
                if run.needs_batch() {
                    let extractor = run.extractor();
                    let batch = extractor.llm().batch_async(extractor.parallel_sequences());
                    run.install(batch);
                    continue;
                }
                let Some(batch) = run.batch_mut() else {
                    continue;
                };
                match batch.poll_step(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(events) => run.handle_all(events),
                }
            }
        }
    }
}

/// The values of many extractions, each with its input's index, as each finishes (a
/// [`Stream`]): the asynchronous [`ExtractMany`](crate::ExtractMany).
///
/// Created by [`Extractor::extract_many_async`](crate::Extractor::extract_many_async);
/// [`AsyncExtractMany::totals`] tells what the run did so far.
pub struct AsyncExtractMany<'l, T: ResponseModel, L: AsyncLlm + ?Sized> {
    run: AsyncRun<'l, T, L>,
}

impl<T: ResponseModel, L: AsyncLlm + ?Sized> Unpin for AsyncExtractMany<'_, T, L> {}

impl<'l, T: ResponseModel, L: AsyncLlm + ?Sized> AsyncExtractMany<'l, T, L> {
    pub(crate) fn new(run: AsyncRun<'l, T, L>) -> Self {
        Self { run }
    }

    /// Counts, cost and speed of the documents finished so far.
    pub fn totals(&self) -> BatchTotals {
        self.run.totals()
    }

    /// The same run, yielding each document's report with its value.
    pub fn with_report(self) -> AsyncExtractManyReports<'l, T, L> {
        AsyncExtractManyReports { run: self.run }
    }
}

impl<T: ResponseModel, L: AsyncLlm + ?Sized> Stream for AsyncExtractMany<'_, T, L> {
    type Item = (usize, Result<T, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_run(&mut self.get_mut().run, cx)
            .map(|next| next.map(|(index, result)| (index, result.map(Extraction::into_value))))
    }
}

/// [`AsyncExtractMany`] with each document's [`Report`](crate::Report) (a [`Stream`]).
///
/// Created by
/// [`Extractor::extract_many_async_with_report`](crate::Extractor::extract_many_async_with_report).
pub struct AsyncExtractManyReports<'l, T: ResponseModel, L: AsyncLlm + ?Sized> {
    run: AsyncRun<'l, T, L>,
}

impl<T: ResponseModel, L: AsyncLlm + ?Sized> Unpin for AsyncExtractManyReports<'_, T, L> {}

impl<T: ResponseModel, L: AsyncLlm + ?Sized> AsyncExtractManyReports<'_, T, L> {
    /// Counts, cost and speed of the documents finished so far.
    pub fn totals(&self) -> BatchTotals {
        self.run.totals()
    }
}

impl<T: ResponseModel, L: AsyncLlm + ?Sized> Stream for AsyncExtractManyReports<'_, T, L> {
    type Item = (usize, Result<Extraction<T>, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_run(&mut self.get_mut().run, cx)
    }
}
