//! A streamed answer read off an async response body (feature `async`): the bytes as they
//! arrive, cut into lines for the blocking reader's framing (`sse.rs`'s [`Framing`]), one
//! content chunk per poll. Like the blocking reader it never retries.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;
use instructor_core::{AsyncTokenStream, Chunk, FinishReason, LlmError, Usage};

use crate::error::{reqwest_failure, Limits};
use crate::sse::{Framing, Pulled, MAX_LINE_BYTES};

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// A streamed chat completion, awaited chunk by chunk.
pub(crate) struct AsyncSse {
    body: Body,
    limits: Limits,
    /// Bytes received and not yet cut into lines.
    buffer: Vec<u8>,
    body_ended: bool,
    framing: Framing,
}

impl AsyncSse {
    /// A stream over `response`'s body, whose request was sent at `started`.
    pub(crate) fn new(
        response: reqwest::Response,
        url: String,
        limits: Limits,
        started: Instant,
    ) -> Self {
        Self {
            body: Box::pin(response.bytes_stream()),
            limits,
            buffer: Vec::new(),
            body_ended: false,
            framing: Framing::new(url, started),
        }
    }

    /// Cuts and handles lines until one carries content or the stream ends.
    fn poll_pull(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<String>, LlmError>> {
        loop {
            let pulled = if let Some(newline) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=newline).collect();
                self.framing.line(&line)
            } else if self.body_ended || self.buffer.len() as u64 >= MAX_LINE_BYTES {
                // The body's last line (or an over-long one, which the framing rejects).
                let rest = std::mem::take(&mut self.buffer);
                self.framing.line(&rest)
            } else {
                match self.body.as_mut().poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(bytes))) => {
                        self.buffer.extend_from_slice(&bytes);
                        continue;
                    }
                    Poll::Ready(Some(Err(e))) => {
                        let url = self.framing.url().to_owned();
                        let error = reqwest_failure(e, &url, self.limits, Some("the stream"));
                        return Poll::Ready(Err(error));
                    }
                    Poll::Ready(None) => {
                        self.body_ended = true;
                        continue;
                    }
                }
            };
            match pulled {
                Ok(Pulled::Content(text)) => return Poll::Ready(Ok(Some(text))),
                Ok(Pulled::End) => return Poll::Ready(Ok(None)),
                Ok(Pulled::More) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Stream for AsyncSse {
    type Item = Result<Chunk, LlmError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.framing.is_done() {
            return Poll::Ready(None);
        }
        match this.poll_pull(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(pulled) => Poll::Ready(this.framing.deliver(pulled)),
        }
    }
}

impl AsyncTokenStream for AsyncSse {
    /// As the blocking stream's (see `sse.rs`).
    fn finish(&self) -> (FinishReason, Usage) {
        self.framing.finish()
    }
}
