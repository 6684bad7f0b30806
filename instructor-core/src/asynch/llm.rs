//! The asynchronous backend interface: [`AsyncLlm`] and the stream of one generation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_core::Stream;

use super::batch::{AsyncBatch, Streams};
use crate::llm::{Chunk, FinishReason, LlmError, LoopCut, Request, Usage};

/// A boxed future that can move between threads (what [`AsyncLlm`] methods return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A generation in progress, awaited chunk by chunk: a [`Stream`] of [`Chunk`]s, then why it
/// ended and what it cost.
///
/// The asynchronous twin of [`TokenStream`](crate::TokenStream). Dropping it early stops the
/// generation.
pub trait AsyncTokenStream: Stream<Item = Result<Chunk, LlmError>> + Send + Unpin {
    /// Why the generation ended (meaningful once the stream has returned `None`) and what it
    /// cost.
    fn finish(&self) -> (FinishReason, Usage);
    /// The loops the backend's repetition guard cut out of this generation so far, in order.
    fn loops_cut(&self) -> &[LoopCut] {
        &[]
    }
}

/// A language model that can be awaited: the asynchronous twin of [`Llm`](crate::Llm).
///
/// Implementations must not block the thread that polls them: an HTTP backend awaits its
/// socket, a local backend decodes on a thread of its own and hands the chunks over.
pub trait AsyncLlm: Send + Sync {
    /// Starts generating the assistant's answer to `request.messages`. The future resolves
    /// once the backend has accepted the request (a prompt over the context fails here).
    ///
    /// The request is only borrowed for this call: a backend copies what it needs before
    /// returning the future.
    fn generate_async<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn AsyncTokenStream + 'a>, LlmError>>;

    /// Several generations at once, in up to `sequences` slots (see [`AsyncBatch`]): what
    /// [`Extractor::extract_many_async`](crate::Extractor::extract_many_async) runs on.
    ///
    /// The default, [`Streams`], keeps one [`AsyncLlm::generate_async`] stream per slot and
    /// polls them together, so a server that batches requests (`llama-server --parallel N`,
    /// vLLM) sees `sequences` requests at once; a backend that decodes many sequences in one
    /// call overrides it.
    ///
    /// # Errors
    /// The backend cannot set up the batch.
    fn batch_async<'a>(&'a self, sequences: usize) -> Result<Box<dyn AsyncBatch + 'a>, LlmError> {
        Ok(Box::new(Streams::new(self, sequences)))
    }
}

impl<L: AsyncLlm + ?Sized> AsyncLlm for &L {
    fn generate_async<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn AsyncTokenStream + 'a>, LlmError>> {
        (**self).generate_async(request)
    }

    fn batch_async<'a>(&'a self, sequences: usize) -> Result<Box<dyn AsyncBatch + 'a>, LlmError> {
        (**self).batch_async(sequences)
    }
}

impl<L: AsyncLlm + ?Sized> AsyncLlm for Arc<L> {
    fn generate_async<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn AsyncTokenStream + 'a>, LlmError>> {
        (**self).generate_async(request)
    }

    fn batch_async<'a>(&'a self, sequences: usize) -> Result<Box<dyn AsyncBatch + 'a>, LlmError> {
        (**self).batch_async(sequences)
    }
}
