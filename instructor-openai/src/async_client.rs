//! [`OpenAi`] as an [`AsyncLlm`] (feature `async`): the same requests as the blocking client,
//! sent with an async HTTP client (reqwest on tokio), so an awaiting task never blocks its
//! runtime's thread.
//!
//! This module owns the awaited glue only: sending with the retry policy (`retry.rs` decides),
//! finding the constraint for [`Constraint::Auto`] (`constraint.rs` orders the candidates, and
//! the client's settled constraint is shared with the blocking side), and opening the event
//! stream (`async_sse.rs` reads it with the blocking reader's framing). Many requests at once
//! are `instructor_core::Streams`, the default `AsyncLlm::batch_async`: one stream per slot,
//! all in flight together.

use std::time::Instant;

use instructor_core::{AsyncLlm, AsyncTokenStream, BoxFuture, LlmError, OwnedRequest, Request};

use crate::async_sse::AsyncSse;
use crate::auto::says_llama_cpp;
use crate::client::{OpenAi, MAX_ERROR_BYTES};
use crate::constraint::{auto_candidates, rejects_request};
use crate::error::{http_status, reqwest_failure, retry_after_and_location, server_message};
use crate::retry::{is_retryable_reqwest, is_retryable_status, next_wait};

impl AsyncLlm for OpenAi {
    /// Streams the answer (`"stream": true`) as [`Llm::generate`](instructor_core::Llm) does:
    /// connection failures and 429/502/503/504 answers are retried (awaiting, never sleeping a
    /// thread) before the stream is handed out.
    ///
    /// Needs a tokio runtime with its time driver (reqwest's timeouts and the retry backoff
    /// run on it).
    fn generate_async<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn AsyncTokenStream + 'a>, LlmError>> {
        let request = request.to_owned_request();
        Box::pin(async move {
            let stream = self.open_async(&request).await?;
            Ok(Box::new(stream) as Box<dyn AsyncTokenStream>)
        })
    }
}

impl OpenAi {
    /// Sends a streaming request and returns its event stream.
    async fn open_async(&self, request: &OwnedRequest) -> Result<AsyncSse, LlmError> {
        let (response, sent) = self.post_async(request).await?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("text/event-stream")
            .to_owned();
        if !content_type.starts_with("text/event-stream") {
            // A server that ignores `"stream": true` would otherwise look like an empty stream.
            let text = read_some(response, MAX_ERROR_BYTES).await;
            return Err(LlmError::protocol(format!(
                "{} answered a streaming request with {content_type} instead of an event \
                 stream: {}",
                self.endpoint,
                server_message(&text)
            )));
        }
        Ok(AsyncSse::new(
            response,
            self.endpoint.clone(),
            self.limits(),
            sent,
        ))
    }

    /// [`OpenAi::post`](crate::client) awaited: the constraint in use, or under an unsettled
    /// [`Constraint::Auto`] the search for one. Concurrent first requests search once: the
    /// others wait for the outcome.
    async fn post_async(
        &self,
        owned: &OwnedRequest,
    ) -> Result<(reqwest::Response, Instant), LlmError> {
        let request = owned.request();
        if let Some(constraint) = self.constraint_in_use() {
            return self.send_async(self.body(&request, true, constraint)).await;
        }
        let _searching = self.probe.lock().await;
        if let Some(constraint) = self.constraint_in_use() {
            return self.send_async(self.body(&request, true, constraint)).await;
        }
        let constrained = request.grammar.is_some() || request.json_schema.is_some();
        let grammar_first = request.grammar.is_some() && self.is_llama_cpp_server_async().await;
        let candidates = auto_candidates(
            request.grammar.is_some(),
            request.json_schema.is_some(),
            grammar_first,
        );
        let mut rejected = None;
        for constraint in candidates {
            match self.send_async(self.body(&request, true, constraint)).await {
                Ok(sent) => {
                    if constrained {
                        let _ = self.settled.set(constraint);
                    }
                    return Ok(sent);
                }
                Err(e) if rejects_request(&e) => rejected = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(rejected.unwrap_or_else(|| self.rejected_everything()))
    }

    /// POSTs `body` with the retry policy, within the request timeout (which also bounds
    /// reading the answer: reqwest applies it to the whole exchange).
    async fn send_async(&self, body: Vec<u8>) -> Result<(reqwest::Response, Instant), LlmError> {
        let deadline = Instant::now() + self.limits.request;
        let url = self.endpoint.as_str();
        // Bounded by `retries`: every pass either returns or counts one retry.
        for retry in 0..=self.retries() {
            let sent = Instant::now();
            let remaining = deadline.saturating_duration_since(sent);
            if remaining.is_zero() {
                break;
            }
            let mut call = self
                .http
                .post(&self.request_url)
                .timeout(remaining)
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(auth) = &self.authorization {
                call = call.header("authorization", auth.clone());
            }
            let (error, retryable, retry_after) = match call.send().await {
                Ok(response) if response.status().is_success() => return Ok((response, sent)),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let (retry_after, location) = retry_after_and_location(response.headers());
                    let text = read_some(response, MAX_ERROR_BYTES).await;
                    let error = http_status(status, &text, location.as_deref());
                    (error, is_retryable_status(status), retry_after)
                }
                Err(e) => {
                    let retryable = is_retryable_reqwest(&e);
                    (reqwest_failure(e, url, self.limits, None), retryable, None)
                }
            };
            let wait = next_wait(
                retry,
                self.retries(),
                retryable,
                retry_after.as_deref(),
                deadline,
            );
            let Some(wait) = wait else {
                return Err(error);
            };
            tokio::time::sleep(wait).await;
        }
        Err(self.timed_out())
    }

    /// [`OpenAi::is_llama_cpp_server`](crate::auto), awaited: one short `GET /models`.
    async fn is_llama_cpp_server_async(&self) -> bool {
        const MAX_MODELS_BYTES: u64 = 1 << 20;
        let Some(url) = self.models_url() else {
            return false;
        };
        let mut call = self.http.get(url).timeout(self.probe_limit());
        if let Some(auth) = &self.authorization {
            call = call.header("authorization", auth.clone());
        }
        match call.send().await {
            Ok(response) if response.status().is_success() => {
                says_llama_cpp(&read_some(response, MAX_MODELS_BYTES).await)
            }
            _ => false,
        }
    }
}

/// Up to `limit` bytes of a response body (what arrived, if reading fails part-way).
async fn read_some(mut response: reqwest::Response, limit: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while (out.len() as u64) < limit {
        match response.chunk().await {
            Ok(Some(bytes)) => out.extend_from_slice(&bytes),
            Ok(None) | Err(_) => break,
        }
    }
    out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    out
}
