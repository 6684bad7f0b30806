//! A streamed answer: server-sent events read lazily off the socket, one content chunk per
//! [`TokenStream::next_chunk`].
//!
//! This module owns the event-stream framing (`data:` lines, blank-line dispatch, `[DONE]`),
//! what a well-formed stream is (it must end with `[DONE]` or after a `finish_reason`), and the
//! usage figures of a stream. It reads only as far as the next content chunk, so the caller
//! sees each piece as soon as the server sends it; it never retries (content may already have
//! been handed out).

use std::io::{BufRead, Read};
use std::time::Instant;

use instructor_core::{Chunk, FinishReason, LlmError, TokenStream, Usage};
use serde_json::Value;

use crate::error::{reading_body, server_message, shorten, Limits};
use crate::response::{finish_reason, ServerUsage};

/// The longest event-stream line accepted: far above any real chunk, low enough that a server
/// that never sends a newline cannot exhaust memory.
pub(crate) const MAX_LINE_BYTES: u64 = 4 << 20;

/// What one dispatched event meant.
enum Event {
    Content(String),
    Nothing,
    Done,
}

/// What one line of the body meant.
pub(crate) enum Pulled {
    Content(String),
    /// The stream ended well (`[DONE]`, or the body ended after a `finish_reason`).
    End,
    /// Nothing to hand out yet: read on.
    More,
}

/// The framing and bookkeeping of one streamed answer, fed line by line: shared by the
/// blocking reader ([`SseStream`]) and the asynchronous one (`async_sse.rs`).
pub(crate) struct Framing {
    url: String,
    /// `data:` lines of the event being read, joined with newlines.
    data: String,
    has_data: bool,
    finish: Option<FinishReason>,
    server_usage: Option<ServerUsage>,
    content_chunks: u64,
    started: Instant,
    first_content: Option<Instant>,
    ended: Option<Instant>,
    done: bool,
}

impl Framing {
    /// The framing of a response from `url` whose request was sent at `started`.
    pub(crate) fn new(url: String, started: Instant) -> Self {
        Self {
            url,
            data: String::new(),
            has_data: false,
            finish: None,
            server_usage: None,
            content_chunks: 0,
            started,
            first_content: None,
            ended: None,
            done: false,
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Whether the stream has ended (well or not).
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Handles one line of the body: with its newline, or without it when it is the body's
    /// last; empty at the end of the body.
    pub(crate) fn line(&mut self, line: &[u8]) -> Result<Pulled, LlmError> {
        let at_eof = line.last() != Some(&b'\n');
        if at_eof && line.len() as u64 >= MAX_LINE_BYTES {
            return Err(LlmError::protocol(format!(
                "{} sent an event-stream line longer than {MAX_LINE_BYTES} bytes",
                self.url
            )));
        }
        let event = if line.is_empty() {
            // A last event without its blank line still counts.
            self.dispatch()?
        } else {
            match self.field(line)? {
                // The final line had no newline: dispatch what it added.
                Event::Nothing if at_eof => self.dispatch()?,
                event => event,
            }
        };
        match event {
            Event::Content(text) => Ok(Pulled::Content(text)),
            Event::Done => Ok(Pulled::End),
            Event::Nothing if at_eof => {
                if self.finish.is_some() {
                    return Ok(Pulled::End);
                }
                Err(LlmError::protocol(format!(
                    "the stream from {} was cut off after {} content chunk(s), before \
                     `data: [DONE]` or a finish_reason (a server that fails after starting \
                     its answer can only stop; its log has the reason)",
                    self.url, self.content_chunks
                )))
            }
            Event::Nothing => Ok(Pulled::More),
        }
    }

    /// Turns what reading produced into the stream's next step, keeping count of chunks and
    /// times (`None`: the stream has ended).
    pub(crate) fn deliver(
        &mut self,
        pulled: Result<Option<String>, LlmError>,
    ) -> Option<Result<Chunk, LlmError>> {
        match pulled {
            Ok(Some(text)) => {
                self.content_chunks += 1;
                self.first_content.get_or_insert_with(Instant::now);
                Some(Ok(Chunk::Text(text)))
            }
            Ok(None) => {
                self.end();
                None
            }
            Err(e) => {
                self.end();
                Some(Err(e))
            }
        }
    }

    fn end(&mut self) {
        self.done = true;
        self.ended.get_or_insert_with(Instant::now);
    }

    /// Handles a non-empty line: a field of the current event, or the blank line that
    /// dispatches it.
    fn field(&mut self, line: &[u8]) -> Result<Event, LlmError> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            return self.dispatch();
        }
        // Comments (`:` keep-alives) and other fields (`event:`, `id:`, `retry:`) carry no text.
        if let Some(value) = line.strip_prefix("data:") {
            let value = value.strip_prefix(' ').unwrap_or(value);
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
        Ok(Event::Nothing)
    }

    fn dispatch(&mut self) -> Result<Event, LlmError> {
        if !self.has_data {
            return Ok(Event::Nothing);
        }
        self.has_data = false;
        let data = std::mem::take(&mut self.data);
        if data.trim() == "[DONE]" {
            return Ok(Event::Done);
        }
        let chunk: Value = serde_json::from_str(&data).map_err(|e| {
            LlmError::protocol(format!(
                "{} sent an event that is not JSON: {}",
                self.url,
                shorten(&data, 200)
            ))
            .caused_by(e)
        })?;
        if chunk.get("error").is_some() {
            return Err(LlmError::backend(format!(
                "{} reported an error in the middle of the stream: {}",
                self.url,
                server_message(data.as_bytes())
            )));
        }
        let usage = ServerUsage::from_json(&chunk);
        if usage.is_some() {
            self.server_usage = usage;
        }
        let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
            if usage.is_some() {
                return Ok(Event::Nothing);
            }
            return Err(LlmError::protocol(format!(
                "{} sent a stream chunk without choices: {}",
                self.url,
                shorten(&data, 200)
            )));
        };
        // The usage-only chunk of `include_usage` has an empty `choices`.
        let Some(choice) = choices.first() else {
            return Ok(Event::Nothing);
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(finish_reason(reason));
        }
        match choice.pointer("/delta/content").and_then(Value::as_str) {
            Some(text) if !text.is_empty() => Ok(Event::Content(text.to_owned())),
            _ => Ok(Event::Nothing),
        }
    }

    /// Token counts are the server's when it sent a `usage` chunk; otherwise
    /// `completion_tokens` is the number of content chunks (servers send about one token per
    /// chunk) and `prompt_tokens` is 0. Times are measured here: the prompt until the first
    /// content chunk, generation the rest.
    pub(crate) fn finish(&self) -> (FinishReason, Usage) {
        let end = self.ended.unwrap_or_else(Instant::now);
        let first = self.first_content.unwrap_or(end);
        let prompt_time = first.saturating_duration_since(self.started);
        let generation_time = end.saturating_duration_since(first);
        let usage = match self.server_usage {
            Some(server) => server.usage(prompt_time, generation_time),
            None => Usage::default()
                .completion_tokens(self.content_chunks)
                .prompt_time(prompt_time)
                .generation_time(generation_time),
        };
        (self.finish.unwrap_or(FinishReason::Stop), usage)
    }
}

/// A streamed chat completion, pulled chunk by chunk off a blocking reader.
pub(crate) struct SseStream<R> {
    reader: R,
    limits: Limits,
    line: Vec<u8>,
    framing: Framing,
}

impl<R: BufRead> SseStream<R> {
    /// A stream over a response body whose request was sent at `started`.
    pub(crate) fn new(reader: R, url: String, limits: Limits, started: Instant) -> Self {
        Self {
            reader,
            limits,
            line: Vec::with_capacity(256),
            framing: Framing::new(url, started),
        }
    }

    /// Reads lines until one carries content or the stream ends.
    fn pull(&mut self) -> Result<Option<String>, LlmError> {
        loop {
            self.line.clear();
            (&mut self.reader)
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut self.line)
                .map_err(|e| reading_body(e, self.framing.url(), self.limits, "the stream"))?;
            match self.framing.line(&self.line)? {
                Pulled::Content(text) => return Ok(Some(text)),
                Pulled::End => return Ok(None),
                Pulled::More => {}
            }
        }
    }
}

impl<R: BufRead> TokenStream for SseStream<R> {
    fn next_chunk(&mut self) -> Option<Result<Chunk, LlmError>> {
        if self.framing.is_done() {
            return None;
        }
        let pulled = self.pull();
        self.framing.deliver(pulled)
    }

    /// See [`Framing::finish`].
    fn finish(&self) -> (FinishReason, Usage) {
        self.framing.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::time::Duration;

    use super::*;

    fn stream(body: &str) -> SseStream<Cursor<Vec<u8>>> {
        let limits = Limits {
            connect: Duration::from_secs(1),
            request: Duration::from_secs(1),
        };
        SseStream::new(
            Cursor::new(body.as_bytes().to_vec()),
            "http://h/v1/chat/completions".into(),
            limits,
            Instant::now(),
        )
    }

    /// Every chunk, then the error that ended the stream if any.
    fn drain(body: &str) -> (Vec<String>, Option<LlmError>, FinishReason, Usage) {
        let mut s = stream(body);
        let mut chunks = Vec::new();
        let mut error = None;
        // Bounded: a stream of this test's size has fewer events than bytes.
        for _ in 0..=body.len() {
            match s.next_chunk() {
                Some(Ok(Chunk::Text(c))) => chunks.push(c),
                Some(Ok(Chunk::Rewind(_))) => panic!("this server never takes text back"),
                Some(Err(e)) => error = Some(e),
                None => break,
            }
        }
        assert!(s.next_chunk().is_none(), "a finished stream stays finished");
        let (finish, usage) = s.finish();
        (chunks, error, finish, usage)
    }

    fn delta(content: &str) -> String {
        format!(
            "data: {}\r\n\r\n",
            serde_json::json!({"choices":[{"index":0,"delta":{"content":content},"finish_reason":null}]})
        )
    }

    #[test]
    fn content_chunks_finish_and_usage() {
        let body = format!(
            ": keep-alive\n\ndata: {}\n\n{}{}data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
            r#"{"choices":[{"delta":{"role":"assistant"}}]}"#,
            delta("{\"a\""),
            delta(":1}"),
            r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#,
        );
        let (chunks, error, finish, usage) = drain(&body);
        assert_eq!(chunks, ["{\"a\"", ":1}"]);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(finish, FinishReason::Length);
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (9, 3));
    }

    #[test]
    fn without_server_usage_chunks_are_counted() {
        let body = format!("{}{}{}data: [DONE]", delta("x"), delta(""), delta("y"));
        let (chunks, error, finish, usage) = drain(&body);
        assert_eq!(chunks, ["x", "y"]);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(finish, FinishReason::Stop);
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (0, 2));
    }

    #[test]
    fn multi_line_data_and_missing_done_after_finish() {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\ndata: \"finish_reason\":\"stop\"}]}\n\n";
        let (chunks, error, finish, _) = drain(body);
        assert_eq!(chunks, ["hi"]);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(finish, FinishReason::Stop);
    }

    #[test]
    fn a_cut_stream_is_a_protocol_error_after_its_content() {
        let body = format!("{}{}data: {{\"choi", delta("a"), delta("b"));
        let (chunks, error, _, _) = drain(&body);
        assert_eq!(chunks, ["a", "b"]);
        match error {
            Some(LlmError::Protocol { message: msg, .. }) => {
                assert!(msg.contains("not JSON"), "{msg}")
            }
            other => panic!("{other:?}"),
        }
        let (chunks, error, _, _) = drain(&delta("a"));
        assert_eq!(chunks, ["a"]);
        match error {
            Some(LlmError::Protocol { message: msg, .. }) => {
                assert!(msg.contains("cut off after 1 content chunk"), "{msg}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_errors_and_chunks_without_choices() {
        let (_, error, _, _) = drain("data: {\"error\":{\"message\":\"out of memory\"}}\n\n");
        match error {
            Some(LlmError::Backend { message: msg, .. }) => {
                assert!(msg.contains("out of memory"), "{msg}")
            }
            other => panic!("{other:?}"),
        }
        let (_, error, _, _) = drain("data: {\"id\":1}\n\n");
        assert!(
            matches!(error, Some(LlmError::Protocol { .. })),
            "{error:?}"
        );
    }
}
