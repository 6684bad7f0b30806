//! Error paths against hand-written misbehaving servers on 127.0.0.1: malformed bodies, cut
//! streams, retries (and their bounds), refused connections, timeouts, redirects, and keys kept
//! out of messages. These fake the server on purpose; `server.rs` runs a real one.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use instructor_core::{Chunk, FinishReason, Llm, LlmError, Message, Request, TokenStream};
use instructor_openai::{Constraint, OpenAi};
use serde_json::{json, Value};

/// What a fake server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    headers: HashMap<String, String>,
    body: Value,
}

/// Answers one connection: gets the connection right after its request was read.
type Handler = Box<dyn FnOnce(&mut TcpStream) + Send>;

/// A server on 127.0.0.1 that serves each incoming connection with the next handler, then
/// closes it. Stops accepting when dropped or after 10 s.
struct FakeServer {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    fn start(handlers: Vec<Handler>) -> Self {
        Self::with_models(handlers, None)
    }

    /// A server whose `GET /models` answers `models` (others answer 404).
    fn with_models(handlers: Vec<Handler>, models: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("local addr"));
        listener.set_nonblocking(true).expect("nonblocking");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut handlers = handlers.into_iter();
                let mut next = handlers.next();
                while next.is_some() && Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                    let Ok((mut conn, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    };
                    let _ = conn.set_nonblocking(false);
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    match read_request(&mut conn) {
                        // `Constraint::Auto` asks `GET /models` what the server is: these
                        // servers do not say, and the answer uses no handler.
                        Some(Incoming::Get(path)) => {
                            let models = models.as_deref().filter(|_| path.ends_with("/models"));
                            let _ = conn.write_all(match models {
                                Some(body) => format!(
                                    "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                    body.len()
                                ),
                                None => "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n".to_owned(),
                            }.as_bytes());
                            continue;
                        }
                        Some(Incoming::Post(request)) => {
                            if let Ok(mut all) = seen.lock() {
                                all.push(request);
                            }
                        }
                        None => {}
                    }
                    if let Some(handler) = next.take() {
                        handler(&mut conn);
                    }
                    next = handlers.next();
                }
            })
        };
        Self {
            base_url,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A request as the fake server read it.
enum Incoming {
    /// A `GET` of this path.
    Get(String),
    /// A `POST` and what it carried.
    Post(Seen),
}

fn read_request(conn: &mut TcpStream) -> Option<Incoming> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut headers = HashMap::new();
    let mut line = String::new();
    reader.read_line(&mut line).ok()?; // request line
    let get = line
        .strip_prefix("GET ")
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned);
    for _ in 0..100 {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    if let Some(path) = get {
        return Some(Incoming::Get(path));
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Incoming::Post(Seen {
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    }))
}

fn respond(status: &str, headers: &[(&str, &str)], body: &str) -> Handler {
    let mut text = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    Box::new(move |conn| {
        let _ = conn.write_all(text.as_bytes());
    })
}

fn json_ok(body: &Value) -> Handler {
    respond(
        "200 OK",
        &[("content-type", "application/json")],
        &body.to_string(),
    )
}

fn answer(content: &str) -> Value {
    json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
        "finish_reason": "stop"}], "usage": {"prompt_tokens": 11, "completion_tokens": 4}})
}

/// Writes the head of a chunked event-stream response.
fn sse_head(conn: &mut TcpStream) {
    let _ = conn.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\
          connection: close\r\n\r\n",
    );
}

/// Writes one server-sent event as one HTTP chunk.
fn sse_event(conn: &mut TcpStream, data: &str) {
    let event = format!("data: {data}\r\n\r\n");
    let _ = conn.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes());
    let _ = conn.flush();
}

fn sse_delta(conn: &mut TcpStream, content: &str) {
    sse_event(
        conn,
        &json!({"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
            .to_string(),
    );
}

fn sse_end(conn: &mut TcpStream) {
    let _ = conn.write_all(b"0\r\n\r\n");
}

fn llm(server: &FakeServer) -> OpenAi {
    OpenAi::builder()
        .base_url(&server.base_url)
        .request_timeout(Duration::from_secs(10))
        .build()
        .expect("valid settings")
}

const SCHEMA: &str = r#"{"type":"object","properties":{"n":{"type":"integer"}}}"#;

fn with_request<R>(f: impl FnOnce(&Request<'_>) -> R) -> R {
    let messages = [Message::user("Give n")];
    let schema: Value = serde_json::from_str(SCHEMA).unwrap_or(Value::Null);
    f(&Request::new(&messages)
        .grammar("root ::= \"{}\"")
        .json_schema(&schema)
        .max_tokens(16))
}

/// Pulls a stream to its end (bounded), collecting chunks and the first error.
fn drain(stream: &mut dyn TokenStream) -> (Vec<String>, Option<LlmError>) {
    let mut chunks = Vec::new();
    for _ in 0..1000 {
        match stream.next_chunk() {
            Some(Ok(Chunk::Text(c))) => chunks.push(c),
            Some(Ok(Chunk::Rewind(_))) => panic!("an HTTP stream never takes text back"),
            Some(Err(e)) => return (chunks, Some(e)),
            None => return (chunks, None),
        }
    }
    panic!("the stream did not end within 1000 chunks");
}

#[test]
fn complete_sends_the_request_and_reads_the_answer() {
    let server = FakeServer::start(vec![json_ok(&answer(r#"{"n":3}"#))]);
    let llm = OpenAi::builder()
        .base_url(&server.base_url)
        .model("smol")
        .api_key("sk-test-secret")
        .constraint(Constraint::JsonObjectSchema)
        .build()
        .expect("valid settings");
    let done = with_request(|r| llm.complete(r)).expect("an answer");
    assert_eq!(done.text, r#"{"n":3}"#);
    assert_eq!(done.finish, FinishReason::Stop);
    assert_eq!(
        (done.usage.prompt_tokens, done.usage.completion_tokens),
        (11, 4)
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let body = &seen[0].body;
    assert_eq!(body["model"], "smol");
    assert_eq!(body["stream"], false);
    assert_eq!(body["max_tokens"], 16);
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(
        body["messages"][0],
        json!({"role": "user", "content": "Give n"})
    );
    assert_eq!(body["response_format"]["type"], "json_object");
    assert_eq!(
        body["response_format"]["schema"],
        serde_json::from_str::<Value>(SCHEMA).unwrap_or(Value::Null)
    );
    assert_eq!(
        seen[0].headers.get("authorization").map(String::as_str),
        Some("Bearer sk-test-secret")
    );
}

#[test]
fn malformed_or_choiceless_bodies_are_protocol_errors() {
    let server = FakeServer::start(vec![
        respond(
            "200 OK",
            &[("content-type", "application/json")],
            "{\"choices\": [ oops",
        ),
        json_ok(&json!({"object": "chat.completion"})),
    ]);
    let llm = llm(&server);
    for want in ["invalid JSON", "without any choice"] {
        match with_request(|r| llm.complete(r)) {
            Err(LlmError::Protocol(msg)) => {
                assert!(msg.contains(want), "{msg}");
                assert!(msg.contains(&server.base_url), "{msg}");
            }
            other => panic!("expected Protocol({want}), got {other:?}"),
        }
    }
    assert_eq!(server.seen().len(), 2, "a malformed body is not retried");
}

#[test]
fn streams_are_pulled_lazily_chunk_by_chunk() {
    let (go, wait) = mpsc::channel::<()>();
    let server = FakeServer::start(vec![Box::new(move |conn| {
        sse_head(conn);
        sse_event(conn, r#"{"choices":[{"delta":{"role":"assistant"}}]}"#);
        sse_delta(conn, "{\"n\":");
        // The rest only once the client has seen the first chunk: a client that buffered
        // the whole body would wait here and then see a cut stream.
        if wait.recv_timeout(Duration::from_secs(5)).is_err() {
            return;
        }
        sse_delta(conn, "42}");
        sse_event(
            conn,
            r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#,
        );
        sse_event(
            conn,
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}"#,
        );
        sse_event(conn, "[DONE]");
        sse_end(conn);
    })]);
    let llm = llm(&server);
    with_request(|r| {
        let mut stream = llm.generate(r).expect("a stream");
        let first = stream.next_chunk().map(|c| c.map_err(|e| e.to_string()));
        assert_eq!(first, Some(Ok(Chunk::Text("{\"n\":".to_owned()))));
        go.send(()).expect("server waiting");
        let (rest, error) = drain(stream.as_mut());
        assert_eq!(rest, ["42}"]);
        assert!(error.is_none(), "{error:?}");
        let (finish, usage) = stream.finish();
        assert_eq!(finish, FinishReason::Length);
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (7, 2));
    });
    let seen = server.seen();
    assert_eq!(seen[0].body["stream"], true);
    assert_eq!(
        seen[0].body["stream_options"],
        json!({"include_usage": true})
    );
    // The default constraint is the JSON Schema response format.
    assert_eq!(seen[0].body["response_format"]["type"], "json_schema");
}

#[test]
fn a_stream_cut_midway_errors_after_its_content_and_is_not_retried() {
    let server = FakeServer::start(vec![
        Box::new(|conn| {
            sse_head(conn);
            sse_delta(conn, "{\"n\"");
            sse_delta(conn, ":4");
            // Closed without the final chunk, [DONE] or a finish_reason.
        }),
        json_ok(&answer("{}")),
    ]);
    let llm = llm(&server);
    with_request(|r| {
        let mut stream = llm.generate(r).expect("a stream");
        let (chunks, error) = drain(stream.as_mut());
        assert_eq!(chunks, ["{\"n\"", ":4"]);
        match error {
            Some(LlmError::Protocol(msg)) => assert!(msg.contains(&server.base_url), "{msg}"),
            other => panic!("expected a protocol error, got {other:?}"),
        }
        assert!(
            stream.next_chunk().is_none(),
            "the stream ends after its error"
        );
    });
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn a_stream_ending_cleanly_without_done_is_also_cut() {
    let server = FakeServer::start(vec![Box::new(|conn| {
        sse_head(conn);
        sse_delta(conn, "{}");
        sse_end(conn);
    })]);
    let llm = llm(&server);
    with_request(|r| {
        let mut stream = llm.generate(r).expect("a stream");
        let (chunks, error) = drain(stream.as_mut());
        assert_eq!(chunks, ["{}"]);
        assert!(
            matches!(&error, Some(LlmError::Protocol(m)) if m.contains("cut off after 1")),
            "{error:?}"
        );
    });
}

#[test]
fn service_unavailable_then_ok_is_retried_after_retry_after() {
    let server = FakeServer::start(vec![
        respond(
            "503 Service Unavailable",
            &[("retry-after", "1")],
            r#"{"error":{"message":"model loading"}}"#,
        ),
        json_ok(&answer("{\"n\":1}")),
    ]);
    let llm = llm(&server);
    let started = Instant::now();
    let done = with_request(|r| llm.complete(r)).expect("the retry succeeds");
    assert_eq!(done.text, "{\"n\":1}");
    assert_eq!(server.seen().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 honoured"
    );
}

fn rejected(status: &str, message: &str) -> Handler {
    respond(
        status,
        &[("content-type", "application/json")],
        &json!({"error": {"message": message}}).to_string(),
    )
}

#[test]
fn auto_moves_past_a_rejected_constraint_and_keeps_the_one_that_worked() {
    let server = FakeServer::start(vec![
        rejected(
            "500 Internal Server Error",
            "response_format.type must be 'text' or 'json_object'",
        ),
        json_ok(&answer(r#"{"n":3}"#)),
        json_ok(&answer(r#"{"n":4}"#)),
    ]);
    let llm = llm(&server);
    assert_eq!(llm.constraint_in_use(), None);
    let first = with_request(|r| llm.complete(r)).expect("the second constraint is accepted");
    assert_eq!(first.text, r#"{"n":3}"#);
    assert_eq!(llm.constraint_in_use(), Some(Constraint::Grammar));
    let second = with_request(|r| llm.complete(r)).expect("settled");
    assert_eq!(second.text, r#"{"n":4}"#);
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "one rejection, then one request per call");
    assert_eq!(seen[0].body["response_format"]["type"], "json_schema");
    for s in &seen[1..] {
        assert_eq!(s.body["grammar"], "root ::= \"{}\"");
        assert!(s.body.get("response_format").is_none(), "{}", s.body);
    }
}

#[test]
fn auto_sends_the_grammar_first_to_llama_cpp_servers() {
    let models = json!({"object": "list", "data": [{"id": "m.gguf", "object": "model", "owned_by": "llamacpp"}]});
    let server = FakeServer::with_models(
        vec![json_ok(&answer(r#"{"n":3}"#))],
        Some(models.to_string()),
    );
    let llm = llm(&server);
    let done = with_request(|r| llm.complete(r)).expect("the grammar is accepted");
    assert_eq!(done.text, r#"{"n":3}"#);
    assert_eq!(llm.constraint_in_use(), Some(Constraint::Grammar));
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "no json_schema round trip first");
    assert_eq!(seen[0].body["grammar"], "root ::= \"{}\"");
}

#[test]
fn auto_ends_with_no_constraint_when_the_server_rejects_them_all() {
    let server = FakeServer::start(vec![
        rejected("400 Bad Request", "unknown field response_format"),
        rejected("422 Unprocessable Entity", "unknown field grammar"),
        rejected("400 Bad Request", "json_object is not supported"),
        json_ok(&answer(r#"{"n":5}"#)),
    ]);
    let llm = llm(&server);
    let done = with_request(|r| llm.complete(r)).expect("plain requests are accepted");
    assert_eq!(done.text, r#"{"n":5}"#);
    assert_eq!(llm.constraint_in_use(), Some(Constraint::None));
    let seen = server.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[2].body["response_format"]["type"], "json_object");
    assert!(seen[3].body.get("response_format").is_none() && seen[3].body.get("grammar").is_none());
}

#[test]
fn auto_settles_nothing_when_the_failure_is_not_a_rejection() {
    let server = FakeServer::start(vec![
        rejected("401 Unauthorized", "Incorrect API key provided"),
        json_ok(&answer("{}")),
    ]);
    let llm = llm(&server);
    match with_request(|r| llm.complete(r)) {
        Err(LlmError::Http { status: 401, .. }) => {}
        other => panic!("expected the 401, got {other:?}"),
    }
    assert_eq!(
        server.seen().len(),
        1,
        "an auth failure is not a constraint problem"
    );
    assert_eq!(llm.constraint_in_use(), None);
}

#[test]
fn a_bad_request_is_reported_with_the_servers_message_and_not_retried() {
    let server = FakeServer::start(vec![
        respond(
            "400 Bad Request",
            &[("content-type", "application/json")],
            r#"{"error":{"message":"response_format.schema is invalid","type":"invalid_request_error"}}"#,
        ),
        json_ok(&answer("{}")),
    ]);
    // A fixed constraint: `Auto` would try the next one instead.
    let llm = OpenAi::builder()
        .base_url(&server.base_url)
        .constraint(Constraint::JsonSchema)
        .request_timeout(Duration::from_secs(10))
        .build()
        .expect("valid settings");
    match with_request(|r| llm.generate(r)).map(|_| ()) {
        Err(LlmError::Http { status, message }) => {
            assert_eq!(status, 400);
            assert_eq!(message, "response_format.schema is invalid");
        }
        other => panic!("expected HTTP 400, got {other:?}"),
    }
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn retries_are_bounded() {
    let busy = || {
        respond(
            "429 Too Many Requests",
            &[("retry-after", "0")],
            r#"{"detail":"slow down"}"#,
        )
    };
    let server = FakeServer::start(vec![busy(), busy(), busy(), json_ok(&answer("{}"))]);
    let llm = OpenAi::builder()
        .base_url(&server.base_url)
        .transport_retries(2)
        .build()
        .expect("valid settings");
    let err = with_request(|r| llm.complete(r)).map(|_| ());
    assert!(
        matches!(&err, Err(LlmError::Http { status: 429, message }) if message == "slow down"),
        "{err:?}"
    );
    assert_eq!(server.seen().len(), 3, "1 attempt + 2 retries");

    let server = FakeServer::start(vec![busy(), json_ok(&answer("{}"))]);
    let llm = OpenAi::builder()
        .base_url(&server.base_url)
        .transport_retries(0)
        .build()
        .expect("valid settings");
    assert!(with_request(|r| llm.complete(r)).is_err());
    assert_eq!(server.seen().len(), 1, "no retries when set to 0");
}

#[test]
fn a_retry_after_beyond_the_cap_is_not_waited_for() {
    let server = FakeServer::start(vec![
        respond("503 Service Unavailable", &[("retry-after", "3600")], ""),
        json_ok(&answer("{}")),
    ]);
    let llm = llm(&server);
    let started = Instant::now();
    let err = with_request(|r| llm.complete(r)).map(|_| ());
    assert!(
        matches!(&err, Err(LlmError::Http { status: 503, .. })),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn a_closed_port_is_a_connect_error_after_bounded_retries() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let llm = OpenAi::builder()
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .transport_retries(2)
        .build()
        .expect("valid settings");
    let started = Instant::now();
    let err = with_request(|r| llm.complete(r)).map(|_| ());
    let elapsed = started.elapsed();
    // Limits too large to add to the clock are clamped, not a panic.
    let unlimited = OpenAi::builder()
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .connect_timeout(Duration::MAX)
        .request_timeout(Duration::MAX)
        .transport_retries(0)
        .build()
        .expect("valid settings");
    let unlimited = with_request(|r| unlimited.complete(r)).map(|_| ());
    assert!(
        matches!(unlimited, Err(LlmError::Connect { .. })),
        "{unlimited:?}"
    );
    match &err {
        Err(LlmError::Connect { url, message }) => {
            assert_eq!(url, &format!("http://127.0.0.1:{port}/v1/chat/completions"));
            assert_eq!(message, "connection refused");
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("is the server running"), "{text}");
    // Two backoffs (250 ms + 500 ms), not an unbounded loop.
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn a_silent_server_times_out() {
    let server = FakeServer::start(vec![Box::new(|_conn| {
        std::thread::sleep(Duration::from_millis(1500));
    })]);
    let llm = OpenAi::builder()
        .base_url(&server.base_url)
        .request_timeout(Duration::from_millis(300))
        .build()
        .expect("valid settings");
    let started = Instant::now();
    let err = with_request(|r| llm.complete(r)).map(|_| ());
    assert!(started.elapsed() < Duration::from_millis(1200));
    match err {
        Err(e @ LlmError::Timeout { .. }) => {
            let text = e.to_string();
            assert!(text.contains("waiting for an answer"), "{text}");
            assert!(text.contains("300ms"), "{text}");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
}

#[test]
fn a_stalled_stream_times_out_after_its_content() {
    let server = FakeServer::start(vec![Box::new(|conn| {
        sse_head(conn);
        sse_delta(conn, "{");
        std::thread::sleep(Duration::from_millis(1500));
    })]);
    let llm = OpenAi::builder()
        .base_url(&server.base_url)
        .request_timeout(Duration::from_millis(500))
        .build()
        .expect("valid settings");
    with_request(|r| {
        let mut stream = llm.generate(r).expect("a stream");
        let (chunks, error) = drain(stream.as_mut());
        assert_eq!(chunks, ["{"]);
        match error {
            Some(e @ LlmError::Timeout { .. }) => {
                let text = e.to_string();
                assert!(text.contains("reading the answer from"), "{text}");
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
    });
}

#[test]
fn redirects_are_reported_not_followed() {
    let server = FakeServer::start(vec![respond(
        "307 Temporary Redirect",
        &[("location", "http://elsewhere.invalid/v1/chat/completions")],
        "",
    )]);
    let err = with_request(|r| llm(&server).complete(r)).map(|_| ());
    match err {
        Err(LlmError::Http { status, message }) => {
            assert_eq!(status, 307);
            assert!(message.contains("elsewhere.invalid"), "{message}");
        }
        other => panic!("expected HTTP 307, got {other:?}"),
    }
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn the_api_key_never_reaches_an_error() {
    let key = "sk-very-secret-key-123";
    let server = FakeServer::start(vec![respond(
        "401 Unauthorized",
        &[("content-type", "application/json")],
        r#"{"error":{"message":"Incorrect API key provided"}}"#,
    )]);
    std::env::set_var("INSTRUCTOR_OPENAI_TEST_KEY", key);
    let llm = OpenAi::builder()
        .base_url(&server.base_url)
        .api_key_env("INSTRUCTOR_OPENAI_TEST_KEY")
        .build()
        .expect("valid settings");
    let err = with_request(|r| llm.complete(r)).map(|_| ());
    let shown = format!(
        "{err:?} {} {llm:?}",
        err.as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(
        matches!(err, Err(LlmError::Http { status: 401, .. })),
        "{shown}"
    );
    assert!(!shown.contains(key), "{shown}");
    assert_eq!(
        server.seen()[0]
            .headers
            .get("authorization")
            .map(String::as_str),
        Some("Bearer sk-very-secret-key-123")
    );
}

#[test]
fn a_plain_json_answer_to_a_streaming_request_is_reported() {
    let server = FakeServer::start(vec![json_ok(&answer("{}"))]);
    let llm = llm(&server);
    match with_request(|r| llm.generate(r)).map(|_| ()) {
        Err(LlmError::Protocol(msg)) => {
            assert!(
                msg.contains("application/json instead of an event stream"),
                "{msg}"
            )
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

/// An item of a streamed list.
#[derive(Debug, serde::Deserialize, instructor_core::ResponseModel)]
struct Item {
    n: u8,
}

#[test]
fn list_extractions_send_the_lists_schema() {
    let server = FakeServer::start(vec![Box::new(|conn| {
        sse_head(conn);
        for piece in ["[{\"n\":1}", ",{\"n\":2}", "]"] {
            sse_delta(conn, piece);
        }
        sse_event(conn, r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#);
        sse_event(conn, "[DONE]");
        sse_end(conn);
    })]);
    let llm = llm(&server);
    let items: Vec<u8> = instructor_core::Extractor::new(&llm)
        .extract_iter::<Item>("numbers")
        .map(|item| item.map(|i| i.n).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()
        .expect("two items");
    assert_eq!(items, [1, 2]);
    let format = &server.seen()[0].body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "Item_list");
    assert_eq!(format["json_schema"]["schema"]["type"], "array");
}
