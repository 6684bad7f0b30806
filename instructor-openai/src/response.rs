//! Reading a chat-completions answer: the whole-body JSON of a non-streamed request, and the
//! pieces (finish reason, token counts) that streamed chunks share with it.
//!
//! This module owns what counts as a well-formed answer. It must not do I/O: it is handed the
//! bytes or the parsed chunk.

use std::time::Duration;

use instructor_core::{FinishReason, LlmError, Usage};
use serde_json::Value;

use crate::error::shorten;

/// Token counts as the server reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerUsage {
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    /// Prompt tokens served from the server's cache, when it says.
    pub(crate) cached_tokens: u64,
}

impl ServerUsage {
    /// The `usage` object of a body or chunk, when it has one with token counts.
    pub(crate) fn from_json(json: &Value) -> Option<Self> {
        let usage = json.get("usage")?;
        let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
        if usage.get("prompt_tokens").is_none() && usage.get("completion_tokens").is_none() {
            return None;
        }
        Some(Self {
            prompt_tokens: count(usage.get("prompt_tokens")),
            completion_tokens: count(usage.get("completion_tokens")),
            cached_tokens: count(usage.pointer("/prompt_tokens_details/cached_tokens")),
        })
    }

    /// Into the backend-neutral figures, with client-side timings.
    pub(crate) fn usage(self, prompt_time: Duration, generation_time: Duration) -> Usage {
        Usage::default()
            .prompt_tokens(self.prompt_tokens)
            .prompt_tokens_evaluated(self.prompt_tokens.saturating_sub(self.cached_tokens))
            .completion_tokens(self.completion_tokens)
            .prompt_time(prompt_time)
            .generation_time(generation_time)
    }
}

/// OpenAI's `finish_reason`: only `"length"` means the answer was cut; `"stop"`, llama.cpp's
/// `"eos"` and anything else mean the model ended it.
pub(crate) fn finish_reason(reason: &str) -> FinishReason {
    if reason == "length" {
        FinishReason::Length
    } else {
        FinishReason::Stop
    }
}

/// A parsed non-streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub(crate) text: String,
    pub(crate) finish: FinishReason,
    pub(crate) usage: Option<ServerUsage>,
}

/// Parses a non-streamed chat-completions body.
pub(crate) fn parse_answer(body: &[u8], url: &str) -> Result<Answer, LlmError> {
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        LlmError::protocol(format!(
            "{url} answered with invalid JSON: {}",
            shorten(&String::from_utf8_lossy(body), 200)
        ))
        .caused_by(e)
    })?;
    let choice = json
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| {
            LlmError::protocol(format!(
                "{url} answered without any choice: {}",
                shorten(&json.to_string(), 200)
            ))
        })?;
    let text = match choice.pointer("/message/content") {
        Some(Value::String(s)) => s.clone(),
        // A null content is an empty answer (some servers send it with a tool call).
        Some(Value::Null) => String::new(),
        _ => {
            return Err(LlmError::protocol(format!(
                "{url} answered with a choice that has no message content: {}",
                shorten(&choice.to_string(), 200)
            )))
        }
    };
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map_or(FinishReason::Stop, finish_reason);
    Ok(Answer {
        text,
        finish,
        usage: ServerUsage::from_json(&json),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://h/v1/chat/completions";

    #[test]
    fn parses_text_finish_and_usage() {
        let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"{\"a\":1}"},
            "finish_reason":"length"}],"usage":{"prompt_tokens":12,"completion_tokens":5,
            "prompt_tokens_details":{"cached_tokens":10}}}"#;
        let answer = parse_answer(body, URL).map_err(|e| e.to_string());
        assert_eq!(
            answer,
            Ok(Answer {
                text: r#"{"a":1}"#.into(),
                finish: FinishReason::Length,
                usage: Some(ServerUsage {
                    prompt_tokens: 12,
                    completion_tokens: 5,
                    cached_tokens: 10
                }),
            })
        );
        let usage = ServerUsage {
            prompt_tokens: 12,
            completion_tokens: 5,
            cached_tokens: 10,
        }
        .usage(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(usage.prompt_tokens_evaluated, 2);
    }

    #[test]
    fn null_content_and_missing_usage_are_accepted() {
        let body = br#"{"choices":[{"message":{"content":null},"finish_reason":"stop"}]}"#;
        let answer = parse_answer(body, URL).map_err(|e| e.to_string());
        assert_eq!(
            answer,
            Ok(Answer {
                text: String::new(),
                finish: FinishReason::Stop,
                usage: None
            })
        );
    }

    #[test]
    fn malformed_bodies_are_protocol_errors() {
        for body in [
            &b"<html>oops</html>"[..],
            br#"{"choices":[]}"#,
            br#"{"object":"chat.completion"}"#,
            br#"{"choices":[{"message":{}}]}"#,
        ] {
            match parse_answer(body, URL) {
                Err(LlmError::Protocol { message: msg, .. }) => assert!(msg.contains(URL), "{msg}"),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }
}
