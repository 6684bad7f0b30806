//! The wording of every error this crate returns, mapped onto [`instructor_core::LlmError`].
//!
//! This module owns turning ureq's errors and a server's error bodies into messages for the
//! person at the terminal, and keeping credentials out of them: URLs are shown without their
//! user-info, and the API key is never passed in here at all. It must not decide *whether* to
//! retry; `retry.rs` does.

use std::io;
use std::time::Duration;

use instructor_core::LlmError;

/// The longest server message kept in an error, in characters: enough for any real
/// explanation, short enough that an HTML error page does not flood the terminal.
const MAX_MESSAGE_CHARS: usize = 600;

/// Which time limit was running when a request timed out, so the message can name the right
/// setting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) connect: Duration,
    pub(crate) request: Duration,
}

/// `url` without user-info (`http://user:secret@host/` → `http://host/`), so a credential
/// written into the base URL never reaches an error message or a `Debug` print.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => host,
        None => authority,
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{host}{path}"),
        None => format!("{host}{path}"),
    }
}

/// Maps a ureq failure that happened before any response arrived.
pub(crate) fn before_response(err: ureq::Error, url: &str, limits: Limits) -> LlmError {
    match err {
        ureq::Error::Io(e) => LlmError::connect(url, io_reason(&e)).caused_by(e),
        ureq::Error::HostNotFound => {
            LlmError::connect(url, "the host name did not resolve").caused_by(err)
        }
        ureq::Error::ConnectionFailed => {
            LlmError::connect(url, "no connection could be made").caused_by(err)
        }
        ureq::Error::Timeout(kind) => timeout(kind, url, limits),
        ureq::Error::TlsRequired => LlmError::Config(tls_missing(url)),
        ureq::Error::BadUri(why) => {
            LlmError::Config(format!("the base URL is not a valid URL ({why})"))
        }
        e @ ureq::Error::Protocol(_) => {
            LlmError::protocol(format!("{url} did not answer with valid HTTP")).caused_by(e)
        }
        other => LlmError::connect(url, "the request failed").caused_by(other),
    }
}

/// Maps a failure while reading a response body (the status line was already received).
pub(crate) fn reading_body(err: io::Error, url: &str, limits: Limits, what: &str) -> LlmError {
    match ureq::Error::from(err) {
        // Whichever budget ran out, the headers had arrived: it is the answer that was slow.
        ureq::Error::Timeout(_) => timeout(ureq::Timeout::RecvBody, url, limits),
        ureq::Error::Io(e) => LlmError::protocol(format!(
            "the connection to {url} broke while reading {what}: {}",
            io_reason(&e)
        ))
        .caused_by(e),
        other => LlmError::protocol(format!("could not read {what} from {url}")).caused_by(other),
    }
}

fn timeout(kind: ureq::Timeout, url: &str, limits: Limits) -> LlmError {
    let (during, limit) = match kind {
        ureq::Timeout::Connect | ureq::Timeout::Resolve => {
            ("connecting to", limits.connect.min(limits.request))
        }
        ureq::Timeout::RecvBody => ("reading the answer from", limits.request),
        _ => ("waiting for an answer from", limits.request),
    };
    LlmError::Timeout {
        url: url.to_owned(),
        during: during.to_owned(),
        limit,
    }
}

/// A short reason for an I/O error, worded by what the user can do about it.
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            "the server closed the connection".to_owned()
        }
        io::ErrorKind::UnexpectedEof => "the server closed the connection early".to_owned(),
        // The error itself is the variant's source; its kind is what a reader can act on.
        kind => format!("I/O error ({kind})"),
    }
}

/// Maps a failure of the async client: before any response (`reading` is `None`), or while
/// reading `reading` (the status line was already received).
#[cfg(feature = "async")]
pub(crate) fn reqwest_failure(
    err: reqwest::Error,
    url: &str,
    limits: Limits,
    reading: Option<&str>,
) -> LlmError {
    if err.is_timeout() {
        let kind = match reading {
            Some(_) => ureq::Timeout::RecvBody,
            None if err.is_connect() => ureq::Timeout::Connect,
            None => ureq::Timeout::Global,
        };
        return timeout(kind, url, limits);
    }
    let io = {
        let mut source = std::error::Error::source(&err);
        let mut found = None;
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<io::Error>() {
                found = Some(io_reason(io));
                break;
            }
            source = cause.source();
        }
        found
    };
    match reading {
        Some(what) => LlmError::protocol(format!(
            "the connection to {url} broke while reading {what}: {}",
            io.unwrap_or_else(|| "the body could not be read".to_owned())
        ))
        .caused_by(err),
        None if err.is_connect() => LlmError::connect(
            url,
            io.unwrap_or_else(|| "no connection could be made".to_owned()),
        )
        .caused_by(err),
        None => LlmError::connect(url, io.unwrap_or_else(|| "the request failed".to_owned()))
            .caused_by(err),
    }
}

pub(crate) fn tls_missing(url: &str) -> String {
    format!(
        "{url} needs TLS, but instructor-openai was built without its `rustls` feature; enable \
         it or use an http:// URL"
    )
}

/// The `Retry-After` and `Location` headers of an error response, as text (both clients' responses
/// carry the same `http` header map).
pub(crate) fn retry_after_and_location(
    headers: &ureq::http::HeaderMap,
) -> (Option<String>, Option<String>) {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    (header("retry-after"), header("location"))
}

/// The error for a non-success status, with the server's own explanation from `body`.
pub(crate) fn http_status(status: u16, body: &[u8], location: Option<&str>) -> LlmError {
    let message = if (300..400).contains(&status) {
        match location {
            Some(to) => format!(
                "redirected to {}; point base_url there (redirects are not followed)",
                redact_url(to)
            ),
            None => "a redirect, which is not followed; check base_url".to_owned(),
        }
    } else {
        server_message(body)
    };
    LlmError::Http { status, message }
}

/// The server's explanation in an error body: OpenAI's `{"error":{"message":…}}`, a bare
/// `{"error":"…"}`, FastAPI's `{"detail":…}` (a string, or pydantic's list of `{loc, msg}`),
/// `{"message":…}`, or else the raw text. Always shortened to [`MAX_MESSAGE_CHARS`].
pub(crate) fn server_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|json| json_message(&json))
        .unwrap_or_else(|| text.trim().to_owned());
    if message.is_empty() {
        return "(no explanation in the response body)".to_owned();
    }
    shorten(&message, MAX_MESSAGE_CHARS)
}

fn json_message(json: &serde_json::Value) -> Option<String> {
    let as_text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    };
    if let Some(error) = json.get("error") {
        return match error.get("message") {
            Some(m) => as_text(m),
            None => as_text(error),
        };
    }
    if let Some(detail) = json.get("detail") {
        if let Some(items) = detail.as_array() {
            let parts: Vec<String> = items
                .iter()
                .map(|item| match (item.get("loc"), item.get("msg")) {
                    (Some(loc), Some(msg)) => {
                        format!("{}: {}", loc, as_text(msg).unwrap_or_default())
                    }
                    _ => item.to_string(),
                })
                .collect();
            return Some(parts.join("; "));
        }
        return as_text(detail);
    }
    json.get("message").and_then(as_text)
}

/// `text` cut to at most `max` characters (at a character boundary), marked when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    const LIMITS: Limits = Limits {
        connect: Duration::from_secs(1),
        request: Duration::from_secs(2),
    };

    #[test]
    fn io_failures_keep_the_io_error_as_source() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let err = before_response(ureq::Error::Io(refused), "http://h/v1", LIMITS);
        assert!(err.to_string().contains("connection refused"), "{err}");
        let io = err.source().and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(
            io.map(io::Error::kind),
            Some(io::ErrorKind::ConnectionRefused)
        );

        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "peer reset");
        let err = reading_body(reset, "http://h/v1", LIMITS, "the stream");
        assert!(matches!(err, LlmError::Protocol { .. }), "{err:?}");
        let io = err.source().and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(io.map(|e| e.to_string()), Some("peer reset".to_owned()));

        // Through the extraction's own error the chain is the same.
        let outer = instructor_core::Error::from(err);
        assert!(
            outer.source().is_some_and(|e| e.is::<io::Error>()),
            "{outer:?}"
        );
    }

    #[test]
    fn transport_and_decode_failures_keep_their_cause() {
        let err = before_response(ureq::Error::HostNotFound, "http://h/v1", LIMITS);
        assert!(matches!(err, LlmError::Connect { .. }), "{err:?}");
        let cause = err.source().and_then(|e| e.downcast_ref::<ureq::Error>());
        assert!(
            matches!(cause, Some(ureq::Error::HostNotFound)),
            "{cause:?}"
        );

        let err = crate::response::parse_answer(b"{not json", "http://h/v1")
            .expect_err("invalid JSON is an error");
        assert!(err.to_string().contains("invalid JSON"), "{err}");
        assert!(
            err.source().is_some_and(|e| e.is::<serde_json::Error>()),
            "{err:?}"
        );
    }

    #[test]
    fn redacts_user_info_only() {
        assert_eq!(
            redact_url("https://user:secret@api.example.com/v1?a=b@c"),
            "https://api.example.com/v1?a=b@c"
        );
        assert_eq!(
            redact_url("http://localhost:8080/v1"),
            "http://localhost:8080/v1"
        );
        assert_eq!(redact_url("host:1@x"), "x");
    }

    #[test]
    fn server_messages_in_every_shape() {
        let cases: [(&str, &str); 7] = [
            (
                r#"{"error":{"message":"model not found","type":"invalid_request_error"}}"#,
                "model not found",
            ),
            (r#"{"error":"overloaded"}"#, "overloaded"),
            (r#"{"detail":"Not Found"}"#, "Not Found"),
            (
                r#"{"detail":[{"loc":["body","messages"],"msg":"field required"}]}"#,
                r#"["body","messages"]: field required"#,
            ),
            (r#"{"message":"bad key"}"#, "bad key"),
            ("  Service Unavailable\n", "Service Unavailable"),
            ("", "(no explanation in the response body)"),
        ];
        for (body, want) in cases {
            assert_eq!(server_message(body.as_bytes()), want, "{body}");
        }
    }

    #[test]
    fn long_messages_are_shortened_at_char_boundaries() {
        let long = "é".repeat(2000);
        let short = server_message(long.as_bytes());
        assert!(short.starts_with(&"é".repeat(MAX_MESSAGE_CHARS)));
        assert!(short.ends_with("(4000 bytes in all)"), "{short}");
        assert_eq!(shorten("abc", 3), "abc");
    }

    #[test]
    fn redirects_name_the_target_without_credentials() {
        let err = http_status(307, b"", Some("https://u:p@elsewhere/v1"));
        let text = err.to_string();
        assert!(text.contains("HTTP 307"), "{text}");
        assert!(text.contains("https://elsewhere/v1"), "{text}");
        assert!(!text.contains("u:p"), "{text}");
    }
}
