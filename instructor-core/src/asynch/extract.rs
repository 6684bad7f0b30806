//! The asynchronous entry points of [`Extractor`]: the same options, awaited.

use super::item_stream::AsyncItemStream;
use super::llm::AsyncLlm;
use super::many::{AsyncExtractMany, AsyncExtractManyReports};
use super::partial_stream::AsyncPartialStream;
use crate::error::Error;
use crate::extractor::Extractor;
use crate::input::Prompt;
use crate::many::{prompts, Run};
use crate::report::Extraction;
use crate::ResponseModel;

/// The asynchronous entry points (feature `async`), for backends that implement [`AsyncLlm`].
/// Each behaves as its blocking twin; none blocks the thread that polls it.
impl<'l, L: AsyncLlm + ?Sized> Extractor<'l, L> {
    /// Extracts a validated `T` from a prompt or a conversation: [`Extractor::extract`],
    /// awaited.
    ///
    /// ```no_run
    /// # async fn demo(llm: &impl instructor_core::AsyncLlm) -> Result<(), instructor_core::Error> {
    /// use instructor_core::{Extractor, ResponseModel};
    ///
    /// #[derive(Debug, serde::Deserialize, ResponseModel)]
    /// struct UserDetail { name: String, age: u8 }
    ///
    /// let user: UserDetail = Extractor::new(llm).extract_async("Jason is 30").await?;
    /// # Ok(()) }
    /// ```
    pub async fn extract_async<T: ResponseModel>(
        &self,
        prompt: impl Into<Prompt>,
    ) -> Result<T, Error> {
        self.extract_async_with_report(prompt)
            .await
            .map(Extraction::into_value)
    }

    /// [`Extractor::extract_async`], with the report of what it took.
    pub async fn extract_async_with_report<T: ResponseModel>(
        &self,
        prompt: impl Into<Prompt>,
    ) -> Result<Extraction<T>, Error> {
        self.extract_stream_async::<T>(prompt).run().await
    }

    /// Partial values of `T` as tokens arrive, then the validated value (a
    /// [`Stream`](futures_core::Stream)): [`Extractor::extract_stream`], awaited.
    pub fn extract_stream_async<T: ResponseModel>(
        &self,
        prompt: impl Into<Prompt>,
    ) -> AsyncPartialStream<'l, T, L> {
        AsyncPartialStream::new(
            self.llm(),
            self.session::<T>(prompt.into()),
            self.stops_when_complete(),
        )
    }

    /// The items of a list of `T`, each as soon as it is complete and valid (a
    /// [`Stream`](futures_core::Stream)): [`Extractor::extract_iter`], awaited (invalid items
    /// are reported, not retried).
    pub fn extract_iter_async<T: ResponseModel>(
        &self,
        prompt: impl Into<Prompt>,
    ) -> AsyncItemStream<'l, T, L> {
        AsyncItemStream::new(self.llm(), self.list_session::<T>(prompt.into()))
    }

    /// A validated `T` from each input, up to [`Extractor::parallel`] at once, yielded as
    /// `(index, result)` as each finishes (a [`Stream`](futures_core::Stream)):
    /// [`Extractor::extract_many`], awaited. The backend's [`AsyncLlm::batch_async`] decides how
    /// the documents share it (requests in flight for a server, one batched decode for a local
    /// model).
    pub fn extract_many_async<T: ResponseModel>(
        &self,
        inputs: impl IntoIterator<Item = impl Into<Prompt>>,
    ) -> AsyncExtractMany<'l, T, L> {
        AsyncExtractMany::new(Run::new(self.clone(), prompts(inputs)))
    }

    /// [`Extractor::extract_many_async`], with each document's report; the run's totals come
    /// from [`AsyncExtractManyReports::totals`].
    pub fn extract_many_async_with_report<T: ResponseModel>(
        &self,
        inputs: impl IntoIterator<Item = impl Into<Prompt>>,
    ) -> AsyncExtractManyReports<'l, T, L> {
        self.extract_many_async(inputs).with_report()
    }
}
