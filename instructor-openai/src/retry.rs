//! When a failed request may be sent again, and how long to wait first.
//!
//! This module owns the retry policy: only failures where the server cannot have produced an
//! answer we have seen (the connection refused or dropped before any response; HTTP 429, 502,
//! 503, 504) are retried, with exponential backoff or the server's `Retry-After`, capped. It
//! never sees a stream: once content has been handed out, nothing is retried.

use std::io;
use std::time::{Duration, Instant};

/// The first backoff; each retry doubles it.
const BASE_BACKOFF: Duration = Duration::from_millis(250);
/// The longest computed backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The longest `Retry-After` honoured; a server asking for more gets its error returned
/// instead of a silent hang.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Statuses that mean "try again shortly": rate limited, or a proxy/loader not ready.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Whether a ureq error that arrived before any response is worth another try: the server was
/// not (yet) listening, or dropped the connection before answering.
pub(crate) fn is_retryable_error(err: &ureq::Error) -> bool {
    match err {
        ureq::Error::Io(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

/// How long to wait before retry number `retry` (0 for the first), given the server's
/// `Retry-After` header if any. `None` when the server asks for longer than
/// [`MAX_RETRY_AFTER`]: waiting that long inside a call would look like a hang.
pub(crate) fn wait_before(retry: u32, retry_after: Option<&str>) -> Option<Duration> {
    if let Some(seconds) = retry_after.and_then(|v| v.trim().parse::<f64>().ok()) {
        if !(0.0..=MAX_RETRY_AFTER.as_secs_f64()).contains(&seconds) {
            return None;
        }
        return Some(Duration::from_secs_f64(seconds));
    }
    // An HTTP-date `Retry-After` (rare from API servers) falls back to the backoff.
    let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
    Some(BASE_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF))
}

/// Whether to send a failed request again, and after how long: `None` when the failure is not
/// retryable, the retries (`retries` in all; this was number `retry`, from 0) are used up, the
/// server asks for too long a wait, or the wait would pass `deadline`.
pub(crate) fn next_wait(
    retry: u32,
    retries: u32,
    retryable: bool,
    retry_after: Option<&str>,
    deadline: Instant,
) -> Option<Duration> {
    if !retryable || retry >= retries {
        return None;
    }
    let wait = wait_before(retry, retry_after)?;
    (Instant::now() + wait < deadline).then_some(wait)
}

/// [`is_retryable_error`] for the async client: no connection could be made, or it was
/// dropped before any response.
#[cfg(feature = "async")]
pub(crate) fn is_retryable_reqwest(err: &reqwest::Error) -> bool {
    if err.is_connect() {
        return true;
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            );
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let waits: Vec<_> = (0..8).map(|n| wait_before(n, None)).collect();
        assert_eq!(waits[0], Some(Duration::from_millis(250)));
        assert_eq!(waits[1], Some(Duration::from_millis(500)));
        assert_eq!(waits[2], Some(Duration::from_secs(1)));
        assert_eq!(waits[7], Some(MAX_BACKOFF));
        assert_eq!(wait_before(u32::MAX, None), Some(MAX_BACKOFF));
    }

    #[test]
    fn retry_after_seconds_are_honoured_up_to_the_cap() {
        assert_eq!(wait_before(0, Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(wait_before(5, Some(" 0 ")), Some(Duration::ZERO));
        assert_eq!(wait_before(0, Some("30")), Some(MAX_RETRY_AFTER));
        assert_eq!(wait_before(0, Some("3600")), None);
        assert_eq!(wait_before(0, Some("-1")), None);
        assert_eq!(
            wait_before(1, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn only_transient_failures_are_retried() {
        for status in [429, 502, 503, 504] {
            assert!(is_retryable_status(status));
        }
        for status in [400, 401, 404, 413, 422, 500, 501] {
            assert!(!is_retryable_status(status));
        }
        let io = |kind| ureq::Error::Io(io::Error::from(kind));
        assert!(is_retryable_error(&io(io::ErrorKind::ConnectionRefused)));
        assert!(is_retryable_error(&io(io::ErrorKind::ConnectionReset)));
        assert!(!is_retryable_error(&io(io::ErrorKind::PermissionDenied)));
        assert!(!is_retryable_error(&ureq::Error::HostNotFound));
        assert!(!is_retryable_error(&ureq::Error::Timeout(
            ureq::Timeout::Global
        )));
    }
}
