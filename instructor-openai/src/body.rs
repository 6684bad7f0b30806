//! The JSON body of a chat-completions request, built from an [`instructor_core::Request`].
//!
//! This module owns which fields are sent (messages, model, budget, sampling, streaming flags)
//! and delegates the constraint's fields to `constraint.rs`. It must not touch the network.

use instructor_core::Request;
use serde_json::{json, Map, Value};

use crate::constraint::Constraint;

/// The per-backend settings a body needs besides the request itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodySettings<'a> {
    pub(crate) model: Option<&'a str>,
    pub(crate) constraint: Constraint,
    pub(crate) stream_usage: bool,
}

/// The serialised body for `request`, streamed over server-sent events or not.
pub(crate) fn chat_body(
    request: &Request<'_>,
    settings: BodySettings<'_>,
    stream: bool,
) -> Vec<u8> {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect();
    let mut body = Map::new();
    if let Some(model) = settings.model {
        body.insert("model".into(), model.into());
    }
    body.insert("messages".into(), Value::Array(messages));
    body.insert("max_tokens".into(), request.max_tokens.into());
    let sampling = request.sampling;
    // Greedy is sent as temperature 0 rather than left out: servers default to sampling.
    body.insert(
        "temperature".into(),
        f64::from(sampling.temperature.max(0.0)).into(),
    );
    body.insert("top_p".into(), f64::from(sampling.top_p).into());
    body.insert("seed".into(), sampling.seed.into());
    body.insert("stream".into(), stream.into());
    if stream && settings.stream_usage {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    settings
        .constraint
        .apply(&mut body, request.grammar, request.json_schema);
    // Serialising a `Value` built from strings and numbers cannot fail; an empty body would
    // only be rejected by the server with a clear 4xx.
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use instructor_core::{Message, Sampling};

    use super::*;

    fn body(stream: bool, stream_usage: bool, model: Option<&str>) -> Value {
        let messages = [Message::system("be exact"), Message::user("hi")];
        let schema = json!({"type": "integer"});
        let request = Request::new(&messages)
            .grammar("root ::= [0-9]+")
            .json_schema(&schema)
            .max_tokens(7)
            .sampling(Sampling::default().temperature(0.5).top_p(0.25).seed(42));
        let settings = BodySettings {
            model,
            constraint: Constraint::Grammar,
            stream_usage,
        };
        serde_json::from_slice(&chat_body(&request, settings, stream)).unwrap_or_default()
    }

    #[test]
    fn maps_messages_budget_and_sampling() {
        assert_eq!(
            body(false, true, Some("smol")),
            json!({
                "model": "smol",
                "messages": [
                    {"role": "system", "content": "be exact"},
                    {"role": "user", "content": "hi"},
                ],
                "max_tokens": 7,
                "temperature": 0.5,
                "top_p": 0.25,
                "seed": 42,
                "stream": false,
                "grammar": "root ::= [0-9]+",
            })
        );
    }

    #[test]
    fn streaming_asks_for_usage_only_when_enabled() {
        let with = body(true, true, None);
        assert_eq!(with["stream"], true);
        assert_eq!(with["stream_options"], json!({"include_usage": true}));
        assert!(with.get("model").is_none());
        let without = body(true, false, None);
        assert!(without.get("stream_options").is_none());
    }
}
