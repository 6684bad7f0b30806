//! [`OpenAi`]: a chat-completions endpoint as an [`Llm`], its builder, and sending a request
//! with the retry policy applied.
//!
//! This module owns the connection settings (URL, key, timeouts, retries) and the per-request
//! glue (body → POST → retries → answer or event stream). The wording of errors is
//! `error.rs`'s, the policy of retries `retry.rs`'s, the stream's framing `sse.rs`'s,
//! finding the constraint for `Constraint::Auto` `auto.rs`'s, many requests at once `batch.rs`'s,
//! the awaited twin of all this (feature `async`) `async_client.rs`'s.

use std::fmt;
use std::io::{BufReader, Read};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use instructor_core::{Completion, Llm, LlmError, Request, TokenStream};
use ureq::http::{HeaderValue, Response};

use crate::body::{chat_body, BodySettings};
use crate::constraint::Constraint;
use crate::error::{
    before_response, http_status, reading_body, redact_url, retry_after_and_location,
    server_message, tls_missing, Limits,
};
use crate::response::parse_answer;
use crate::retry::{is_retryable_error, is_retryable_status, next_wait};
use crate::sse::SseStream;

/// The base URL when none is given: llama.cpp's `llama-server` on its default port (start
/// llama-cpp-python's server, whose default is 8000, with `--port 8080`).
pub const DEFAULT_BASE_URL: &str = "http://localhost:8080/v1";

/// The most bytes read of a non-streamed answer: far above any answer an extraction asks for.
const MAX_ANSWER_BYTES: u64 = 16 << 20;
/// The most bytes read of an error body; the message is shortened anyway.
pub(crate) const MAX_ERROR_BYTES: u64 = 64 << 10;
/// The longest time limit used: "no limit" in practice, yet adding it to the clock can never
/// overflow (which would panic inside the HTTP client).
const MAX_LIMIT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// An OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp's `llama-server`,
/// llama-cpp-python's server, …) as an [`Llm`].
///
/// [`Llm::complete`] sends one request with `"stream": false`; [`Llm::generate`] streams the
/// answer over server-sent events and hands out each content chunk as it arrives, so
/// [`Extractor::extract_stream`](instructor_core::Extractor::extract_stream) and
/// [`Extractor::extract_iter`](instructor_core::Extractor::extract_iter) see partial values
/// while the server is still writing.
///
/// `OpenAi` is `Send + Sync` and keeps a pool of idle connections: share one. Its `Debug`
/// output never shows the API key, and neither does any error.
///
/// # Usage figures
/// Token counts are the server's `usage` when it sends one. A stream whose server sends none
/// counts each content chunk as one completion token (servers send about one token per chunk)
/// and reports 0 prompt tokens. `prompt_time` is measured here, from sending the request to the
/// first content chunk, and `generation_time` from there to the end; a non-streamed answer
/// puts its whole round trip in `generation_time`.
pub struct OpenAi {
    pub(crate) agent: ureq::Agent,
    /// Where requests go, credentials included.
    pub(crate) request_url: String,
    /// `request_url` without credentials, for messages.
    pub(crate) endpoint: String,
    model: Option<String>,
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) constraint: Constraint,
    /// What [`Constraint::Auto`] settled on, once a request succeeded with it.
    pub(crate) settled: OnceLock<Constraint>,
    pub(crate) limits: Limits,
    retries: u32,
    stream_usage: bool,
    /// The async HTTP client (feature `async`), with the same settings as `agent`.
    #[cfg(feature = "async")]
    pub(crate) http: reqwest::Client,
    /// Held while an awaited request searches for [`Constraint::Auto`]'s constraint, so that
    /// concurrent first requests search once.
    #[cfg(feature = "async")]
    pub(crate) probe: tokio::sync::Mutex<()>,
}

impl fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAi")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.authorization.as_ref().map(|_| "<set>"))
            .field("constraint", &self.constraint)
            .field("connect_timeout", &self.limits.connect)
            .field("request_timeout", &self.limits.request)
            .field("transport_retries", &self.retries)
            .field("stream_usage", &self.stream_usage)
            .finish()
    }
}

/// The event stream of one streamed answer.
pub(crate) type Stream = SseStream<BufReader<ureq::BodyReader<'static>>>;

impl OpenAi {
    /// Starts configuring a server connection; see [`OpenAiBuilder`].
    pub fn builder() -> OpenAiBuilder {
        OpenAiBuilder::default()
    }

    /// The chat-completions URL requests go to (without any credentials written in it).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How the output's shape is passed to the server.
    pub fn constraint(&self) -> Constraint {
        self.constraint
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// A copy that sends requests as this client does, for a thread of its own: with the
    /// constraint [`Constraint::Auto`] settled on, when it has.
    pub(crate) fn detached(&self) -> OpenAi {
        let settled = OnceLock::new();
        if let Some(c) = self.settled.get() {
            let _ = settled.set(*c);
        }
        OpenAi {
            agent: self.agent.clone(),
            request_url: self.request_url.clone(),
            endpoint: self.endpoint.clone(),
            model: self.model.clone(),
            authorization: self.authorization.clone(),
            constraint: self.constraint,
            settled,
            limits: self.limits,
            retries: self.retries,
            stream_usage: self.stream_usage,
            #[cfg(feature = "async")]
            http: self.http.clone(),
            #[cfg(feature = "async")]
            probe: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// The error when the request timeout ran out between retries.
    pub(crate) fn timed_out(&self) -> LlmError {
        LlmError::Timeout {
            url: self.endpoint.clone(),
            during: "waiting for an answer from".to_owned(),
            limit: self.limits.request,
        }
    }

    pub(crate) fn body(
        &self,
        request: &Request<'_>,
        stream: bool,
        constraint: Constraint,
    ) -> Vec<u8> {
        let settings = BodySettings {
            model: self.model.as_deref(),
            constraint,
            stream_usage: self.stream_usage,
        };
        chat_body(request, settings, stream)
    }

    /// Sends a streaming request and returns its event stream (what [`Llm::generate`] boxes,
    /// and what a batch thread reads).
    pub(crate) fn open(&self, request: &Request<'_>) -> Result<Stream, LlmError> {
        let (mut response, sent) = self.post(request, true)?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("text/event-stream")
            .to_owned();
        if !content_type.starts_with("text/event-stream") {
            // A server that ignores `"stream": true` would otherwise look like an empty stream.
            let mut text = Vec::new();
            let _partial = response
                .body_mut()
                .as_reader()
                .take(MAX_ERROR_BYTES)
                .read_to_end(&mut text);
            return Err(LlmError::protocol(format!(
                "{} answered a streaming request with {content_type} instead of an event \
                 stream: {}",
                self.endpoint,
                server_message(&text)
            )));
        }
        let reader = BufReader::new(response.into_body().into_reader());
        Ok(SseStream::new(
            reader,
            self.endpoint.clone(),
            self.limits,
            sent,
        ))
    }

    /// POSTs `body`, retrying what [`crate::retry`] allows within the request timeout, and
    /// returns the successful response with the time its attempt was sent.
    pub(crate) fn send(&self, body: &[u8]) -> Result<(Response<ureq::Body>, Instant), LlmError> {
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
                .agent
                .post(&self.request_url)
                .config()
                .timeout_global(Some(remaining))
                .build()
                .header("content-type", "application/json");
            if let Some(auth) = &self.authorization {
                call = call.header("authorization", auth.clone());
            }
            let (error, retryable, retry_after) = match call.send(body) {
                Ok(response) if response.status().is_success() => return Ok((response, sent)),
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let (retry_after, location) = retry_after_and_location(response.headers());
                    let mut text = Vec::new();
                    // A body cut short still leaves the status to report.
                    let _partial = response
                        .body_mut()
                        .as_reader()
                        .take(MAX_ERROR_BYTES)
                        .read_to_end(&mut text);
                    let error = http_status(status, &text, location.as_deref());
                    (error, is_retryable_status(status), retry_after)
                }
                Err(e) => {
                    let retryable = is_retryable_error(&e);
                    (before_response(e, url, self.limits), retryable, None)
                }
            };
            let wait = next_wait(
                retry,
                self.retries,
                retryable,
                retry_after.as_deref(),
                deadline,
            );
            let Some(wait) = wait else {
                return Err(error);
            };
            std::thread::sleep(wait);
        }
        Err(self.timed_out())
    }
}

impl Llm for OpenAi {
    /// Streams the answer (`"stream": true`). Connection failures and 429/502/503/504 answers
    /// are retried before anything is returned; once the stream is handed out, a failure ends
    /// it with an error.
    fn generate<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> Result<Box<dyn TokenStream + 'a>, LlmError> {
        Ok(Box::new(self.open(request)?))
    }

    /// Up to `sequences` requests in flight at once, each read on its own thread (see
    /// `batch.rs`): set it to what the server runs in parallel (`llama-server --parallel N`).
    fn batch<'a>(
        &'a self,
        sequences: usize,
    ) -> Result<Box<dyn instructor_core::Batch + 'a>, LlmError> {
        Ok(Box::new(crate::batch::Concurrent::new(self, sequences)))
    }

    /// One non-streamed request (`"stream": false`), retried like [`Llm::generate`].
    fn complete(&self, request: &Request<'_>) -> Result<Completion, LlmError> {
        let (response, sent) = self.post(request, false)?;
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut body)
            .map_err(|e| reading_body(e, &self.endpoint, self.limits, "the answer"))?;
        let elapsed = sent.elapsed();
        let answer = parse_answer(&body, &self.endpoint)?;
        let usage = match answer.usage {
            Some(server) => server.usage(Duration::ZERO, elapsed),
            None => instructor_core::Usage::default().generation_time(elapsed),
        };
        Ok(Completion {
            text: answer.text,
            finish: answer.finish,
            usage,
        })
    }
}

/// Where the API key comes from.
#[derive(Clone)]
enum KeySource {
    Value(String),
    Env(String),
}

/// Settings for an [`OpenAi`]; every one but the URL has a default.
///
/// ```no_run
/// use std::time::Duration;
/// use instructor_openai::{Constraint, OpenAi};
///
/// let llm = OpenAi::builder()
///     .base_url("https://api.openai.com/v1")
///     .model("gpt-4o-mini")
///     .api_key_env("OPENAI_API_KEY")
///     .constraint(Constraint::JsonSchema)
///     .connect_timeout(Duration::from_secs(5))
///     .request_timeout(Duration::from_secs(120))
///     .transport_retries(3)
///     .build()?;
/// # Ok::<(), instructor_core::LlmError>(())
/// ```
#[derive(Clone)]
pub struct OpenAiBuilder {
    base_url: String,
    model: Option<String>,
    key: Option<KeySource>,
    constraint: Constraint,
    connect_timeout: Duration,
    request_timeout: Duration,
    retries: u32,
    stream_usage: bool,
}

impl fmt::Debug for OpenAiBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match &self.key {
            None => None,
            Some(KeySource::Value(_)) => Some("<set>".to_owned()),
            Some(KeySource::Env(name)) => Some(format!("from ${name}")),
        };
        f.debug_struct("OpenAiBuilder")
            .field("base_url", &redact_url(&self.base_url))
            .field("model", &self.model)
            .field("api_key", &key)
            .field("constraint", &self.constraint)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("transport_retries", &self.retries)
            .field("stream_usage", &self.stream_usage)
            .finish()
    }
}

impl Default for OpenAiBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: None,
            key: None,
            constraint: Constraint::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            retries: 2,
            stream_usage: true,
        }
    }
}

impl OpenAiBuilder {
    /// The API's base URL, up to and including the version (`…/v1`); requests go to
    /// `{base_url}/chat/completions`. Default [`DEFAULT_BASE_URL`].
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The `model` field of every request. Default: none sent, which single-model servers
    /// (llama.cpp, llama-cpp-python) accept; OpenAI and multi-model servers need it.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The API key, sent as `Authorization: Bearer <key>`. Default: none.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(KeySource::Value(key.into()));
        self
    }

    /// Reads the API key from the environment variable `name` when [`build`](Self::build)
    /// runs (which fails if it is unset), so the key never appears in code.
    #[must_use]
    pub fn api_key_env(mut self, name: impl Into<String>) -> Self {
        self.key = Some(KeySource::Env(name.into()));
        self
    }

    /// How the output's shape is passed to the server. Default [`Constraint::JsonSchema`]; see
    /// [`Constraint`] for which server takes which.
    #[must_use]
    pub fn constraint(mut self, constraint: Constraint) -> Self {
        self.constraint = constraint;
        self
    }

    /// The limit on establishing a connection (DNS, TCP, TLS). Default 10 s; at most a year.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The limit on a whole call: connecting, retries and their waits, and reading the whole
    /// answer, streamed or not. A stream's clock keeps running while the caller works between
    /// chunks. Default 600 s, enough for long answers on a CPU-only server; at most a year.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How many times a request is sent again after a connection was refused or dropped
    /// before any answer, or an HTTP 429/502/503/504, with exponential backoff from 250 ms
    /// (or the server's `Retry-After`, up to 30 s), all within the request timeout. Never
    /// after a stream has handed out content. Default 2.
    #[must_use]
    pub fn transport_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Whether streamed requests ask for the server's token counts with
    /// `"stream_options": {"include_usage": true}`. Default on; turn it off for a server that
    /// rejects the field.
    #[must_use]
    pub fn stream_usage(mut self, enabled: bool) -> Self {
        self.stream_usage = enabled;
        self
    }

    /// Checks the settings and prepares the connection pool. Nothing is sent.
    ///
    /// # Errors
    /// [`LlmError::Config`] when the base URL is not an `http://` or `https://` URL, an
    /// `https://` URL is given without the `rustls` feature, the API key's environment
    /// variable is unset or empty, or the key cannot be sent in an HTTP header.
    pub fn build(self) -> Result<OpenAi, LlmError> {
        let base = self.base_url.trim().trim_end_matches('/');
        let scheme = base
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("http") => {}
            Some("https") if cfg!(feature = "rustls") => {}
            Some("https") => return Err(LlmError::Config(tls_missing(&redact_url(base)))),
            _ => {
                return Err(LlmError::Config(format!(
                    "the base URL {:?} must start with http:// or https://",
                    redact_url(base)
                )))
            }
        }
        let request_url = format!("{base}/chat/completions");
        let authorization = match self.key {
            None => None,
            Some(source) => Some(authorization(source)?),
        };
        let limits = Limits {
            connect: self.connect_timeout.min(MAX_LIMIT),
            request: self.request_timeout.min(MAX_LIMIT),
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A redirected POST would lose its body or change method; report it instead.
            .max_redirects(0)
            .timeout_connect(Some(limits.connect))
            .user_agent(concat!("instructor-rs/", env!("CARGO_PKG_VERSION")))
            .build();
        #[cfg(feature = "async")]
        let http = async_http(limits)?;
        Ok(OpenAi {
            agent: ureq::Agent::new_with_config(config),
            endpoint: redact_url(&request_url),
            request_url,
            model: self.model,
            authorization,
            constraint: self.constraint,
            settled: OnceLock::new(),
            limits,
            retries: self.retries,
            stream_usage: self.stream_usage,
            #[cfg(feature = "async")]
            http,
            #[cfg(feature = "async")]
            probe: tokio::sync::Mutex::new(()),
        })
    }
}

/// The async HTTP client, set up as the blocking agent is: the connect timeout, no redirects
/// (a redirected POST would lose its body), our user agent, and no proxy from the environment
/// (the blocking agent reads none either).
#[cfg(feature = "async")]
fn async_http(limits: Limits) -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .connect_timeout(limits.connect)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("instructor-rs/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .build()
        .map_err(|e| LlmError::Config(format!("could not set up the async HTTP client: {e}")))
}

/// The `Authorization` header for a key, marked sensitive so no log prints it. Errors name the
/// variable, never the key.
fn authorization(source: KeySource) -> Result<HeaderValue, LlmError> {
    let (key, origin) = match source {
        KeySource::Value(key) => (key, "the API key".to_owned()),
        KeySource::Env(name) => match std::env::var(&name) {
            Ok(key) if !key.trim().is_empty() => (key, format!("the API key in ${name}")),
            Ok(_) | Err(std::env::VarError::NotPresent) => {
                return Err(LlmError::Config(format!(
                    "the environment variable {name} (for the API key) is not set or empty; \
                     export it, or leave out api_key_env for a server without keys"
                )))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(LlmError::Config(format!(
                    "the environment variable {name} (for the API key) is not valid UTF-8"
                )))
            }
        },
    };
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.trim())).map_err(|_| {
        LlmError::Config(format!(
            "{origin} contains characters an HTTP header cannot carry (a line break or a \
             control character?)"
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_checks_the_url() {
        let err = OpenAi::builder().base_url("localhost:8080").build();
        assert!(
            matches!(&err, Err(LlmError::Config(m)) if m.contains("http://")),
            "{err:?}"
        );
        let ok = OpenAi::builder().base_url("HTTP://127.0.0.1:1/v1/").build();
        assert_eq!(
            ok.map(|l| l.endpoint().to_owned())
                .map_err(|e| e.to_string()),
            Ok("HTTP://127.0.0.1:1/v1/chat/completions".to_owned())
        );
    }

    #[test]
    fn https_needs_the_rustls_feature() {
        let built = OpenAi::builder()
            .base_url("https://api.example.com/v1")
            .build()
            .map(|_| ());
        if cfg!(feature = "rustls") {
            assert!(built.is_ok(), "{built:?}");
        } else {
            assert!(
                matches!(&built, Err(LlmError::Config(m)) if m.contains("`rustls` feature")),
                "{built:?}"
            );
        }
    }

    #[test]
    fn keys_stay_out_of_debug_and_errors() {
        let secret = "sk-test-0123456789";
        let llm = OpenAi::builder()
            .base_url("http://user:pw@127.0.0.1:1/v1")
            .api_key(secret)
            .build();
        let shown = format!("{llm:?}");
        assert!(shown.contains("<set>"), "{shown}");
        assert!(!shown.contains(secret) && !shown.contains("pw"), "{shown}");
        let builder = format!("{:?}", OpenAi::builder().api_key(secret));
        assert!(!builder.contains(secret), "{builder}");

        let bad = "sk-line\nbreak-secret";
        let err = OpenAi::builder().api_key(bad).build().map(|_| ());
        let text = format!("{err:?}");
        assert!(matches!(err, Err(LlmError::Config(_))), "{text}");
        assert!(!text.contains("break-secret"), "{text}");
    }

    #[test]
    fn unset_key_variable_is_named() {
        let name = "INSTRUCTOR_OPENAI_TEST_UNSET_KEY_VARIABLE";
        let err = OpenAi::builder().api_key_env(name).build().map(|_| ());
        assert!(
            matches!(&err, Err(LlmError::Config(m)) if m.contains(name)),
            "{err:?}"
        );
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<OpenAi>();
    }
}
