//! [`LlmError`], how a backend says it failed: part of the backend contract, next to the
//! [`Llm`](super::Llm) trait. Variants that wrap another error keep it as their source.

/// The error a backend wraps as the cause of an [`LlmError`]: an I/O, HTTP, decode or llama.cpp
/// error, whatever the backend had.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure inside a backend (model loading, context, decoding, transport).
///
/// Variants that wrap another error (an I/O or HTTP failure, a JSON decode error, llama.cpp's
/// own error) keep it as their [`source`](std::error::Error::source); their message says what
/// was under way, the source says why it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The model file could not be found or loaded.
    #[error("could not load the model: {message}")]
    ModelLoad {
        /// What could not be loaded, and what to do about it.
        message: String,
        /// The I/O or llama.cpp error behind it, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The prompt plus `max_tokens` does not fit in the context window.
    #[error("the prompt ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceeds the context size ({n_ctx} tokens); shorten the prompt, lower max_tokens or raise n_ctx")]
    ContextOverflow {
        /// Tokens in the rendered prompt.
        prompt_tokens: usize,
        /// The requested generation budget.
        max_tokens: u32,
        /// The context window.
        n_ctx: u32,
    },
    /// The grammar was rejected by the backend.
    #[error("the backend rejected the grammar: {0}")]
    Grammar(String),
    /// Anything else the backend reports.
    #[error("{message}")]
    Backend {
        /// What went wrong.
        message: String,
        /// The backend's own error behind it, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend's settings are unusable (a malformed URL, an unset API-key variable, a
    /// missing cargo feature); nothing was sent.
    #[error("invalid backend configuration: {0}")]
    Config(String),
    /// A remote backend could not be reached: the connection was refused or reset before any
    /// answer, or the host name did not resolve.
    #[error("could not connect to {url}: {message}; is the server running and the URL right?")]
    Connect {
        /// The address that was tried (credentials never included).
        url: String,
        /// What failed, for example "connection refused".
        message: String,
        /// The I/O or transport error behind it, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A remote backend answered with an HTTP error status.
    #[error("the server answered HTTP {status}: {message}")]
    Http {
        /// The HTTP status code, 400 to 599 (or a redirect the backend does not follow).
        status: u16,
        /// The server's own explanation (from its JSON error body, or its raw text, shortened).
        message: String,
    },
    /// A remote backend took longer than a configured time limit.
    #[error("timed out {during} {url} after {limit:?}; raise the timeout or check the server")]
    Timeout {
        /// The address that was called (credentials never included).
        url: String,
        /// What was under way, for example "connecting to".
        during: String,
        /// The limit that was reached.
        limit: std::time::Duration,
    },
    /// A remote backend's answer broke the protocol: malformed JSON, no choices, or a stream
    /// cut off before it ended.
    #[error("invalid answer from the server: {message}")]
    Protocol {
        /// What was wrong with the answer.
        message: String,
        /// The I/O, HTTP or JSON decode error behind it, if any.
        #[source]
        source: Option<BoxError>,
    },
}

impl LlmError {
    /// [`LlmError::ModelLoad`] without a cause.
    pub fn model_load(message: impl Into<String>) -> Self {
        LlmError::ModelLoad {
            message: message.into(),
            source: None,
        }
    }

    /// [`LlmError::Backend`] without a cause.
    pub fn backend(message: impl Into<String>) -> Self {
        LlmError::Backend {
            message: message.into(),
            source: None,
        }
    }

    /// [`LlmError::Protocol`] without a cause.
    pub fn protocol(message: impl Into<String>) -> Self {
        LlmError::Protocol {
            message: message.into(),
            source: None,
        }
    }

    /// [`LlmError::Connect`] to `url` without a cause.
    pub fn connect(url: impl Into<String>, message: impl Into<String>) -> Self {
        LlmError::Connect {
            url: url.into(),
            message: message.into(),
            source: None,
        }
    }

    /// This error with `cause` as its [`source`](std::error::Error::source).
    ///
    /// Only the variants that wrap another error ([`ModelLoad`](Self::ModelLoad),
    /// [`Backend`](Self::Backend), [`Connect`](Self::Connect), [`Protocol`](Self::Protocol))
    /// keep one; the others are returned unchanged.
    #[must_use]
    pub fn caused_by(mut self, cause: impl Into<BoxError>) -> Self {
        match &mut self {
            LlmError::ModelLoad { source, .. }
            | LlmError::Backend { source, .. }
            | LlmError::Connect { source, .. }
            | LlmError::Protocol { source, .. } => *source = Some(cause.into()),
            _ => {}
        }
        self
    }
}
