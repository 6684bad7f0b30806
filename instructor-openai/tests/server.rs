//! Against a real OpenAI-compatible server: llama-cpp-python's, on loopback, serving the default
//! model. Extraction (plain, streamed, list), each constraint mode, and the errors the server
//! really returns.
//!
//! The server is started once per test binary and serves one request at a time (the tests take
//! a lock): the machine's cores are its. It exits when this process does, because it watches
//! its stdin, which only this process holds open.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use support::*;

use instructor_core::{Error, Extractor, Llm, LlmError, Request, ResponseModel};
use instructor_openai::{Constraint, OpenAi};

/// Starts a thread that exits the process when stdin reaches EOF, then runs the server with
/// the arguments after `-c`.
const LAUNCHER: &str = r#"
import os, sys, threading
def watch_stdin():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)
threading.Thread(target=watch_stdin, daemon=True).start()
sys.argv = ["llama_cpp.server"] + sys.argv[1:]
from llama_cpp.server.__main__ import main
main()
"#;

fn server_python() -> Result<PathBuf, String> {
    let path = std::env::var_os("INSTRUCTOR_SERVER_PYTHON")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".venv-server/bin/python")
        });
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no Python with llama-cpp-python's server at {} (set INSTRUCTOR_SERVER_PYTHON or run \
             `{SETUP}`)",
            path.display()
        ))
    }
}

fn start_server() -> Result<Server, String> {
    let python = server_python()?;
    let model = default_model()?;
    let port = free_port()?;
    let log_path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("llama-cpp-python-{port}.log"));
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(&python)
        .arg("-c")
        .arg(LAUNCHER)
        .arg("--model")
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
            "--n_threads_batch",
            "2",
        ])
        .args(["--chat_format", "chatml"])
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("could not start {}: {e}; run `{SETUP}`", python.display()))?;
    wait_for("llama-cpp-python's server", child, port, &log_path)
}

/// The shared server, and the lock every test holds while it talks to it.
fn server() -> (&'static Server, MutexGuard<'static, ()>) {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    static SERIAL: Mutex<()> = Mutex::new(());
    shared(&SERVER, &SERIAL, start_server)
}

fn llm(server: &Server, constraint: Constraint) -> OpenAi {
    client(server, constraint)
}

#[test]
fn json_object_schema_extracts_jason_30() {
    let (server, _serial) = server();
    let llm = llm(server, Constraint::JsonObjectSchema);
    let done = Extractor::new(&llm)
        .max_tokens(48)
        .extract_with_report::<UserDetail>(PROMPT)
        .unwrap();
    eprintln!(
        "json_object + schema: {:?} in {:?}",
        done.report.raw, done.report.elapsed
    );
    assert_eq!(done.value.name, "Jason");
    assert_eq!(done.value.age, 30);
    assert_eq!(
        done.report.attempts(),
        1,
        "{:?}",
        done.report.failed_attempts
    );
    let usage = done.report.usage;
    assert!(usage.completion_tokens > 0, "{usage:?}");
    assert!(usage.generation_time > Duration::ZERO, "{usage:?}");
}

#[test]
fn streaming_yields_snapshots_then_jason_30() {
    let (server, _serial) = server();
    let done = streams_snapshots_then_jason_30(&llm(server, Constraint::JsonObjectSchema));
    // llama-cpp-python ignores `stream_options.include_usage`: the chunks were counted.
    let usage = done.report.usage;
    assert_eq!(usage.prompt_tokens, 0, "{usage:?}");
    assert!(usage.completion_tokens >= 5, "{usage:?}");
    assert!(usage.prompt_time > Duration::ZERO, "{usage:?}");
}

#[test]
fn list_streaming_yields_each_person_as_it_completes() {
    let (server, _serial) = server();
    // Measured: under json_object + schema this model answers this prompt with `[ ]`; the
    // grammar, which fixes the shape of every item, gets both people.
    list_streams_each_person_as_it_completes(&llm(server, Constraint::Grammar));
}

#[test]
fn without_a_constraint_the_local_loop_validates_and_reasks() {
    let (server, _serial) = server();
    unconstrained_answers_are_validated_and_reasked(&llm(server, Constraint::None));
}

#[test]
fn the_default_constraint_finds_the_grammar_on_llama_cpp_python() {
    let (server, _serial) = server();
    // No `.constraint(..)`: `Constraint::Auto`.
    let llm = OpenAi::builder()
        .base_url(&server.base_url)
        .request_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    assert_eq!(llm.constraint(), Constraint::Auto);
    assert_eq!(llm.constraint_in_use(), None);
    let done = Extractor::new(&llm)
        .max_tokens(48)
        .extract_with_report::<UserDetail>(PROMPT)
        .unwrap();
    eprintln!(
        "auto: {:?} via {:?}",
        done.report.raw,
        llm.constraint_in_use()
    );
    // The server answers `json_schema` with HTTP 500, then accepts the grammar.
    assert_eq!(llm.constraint_in_use(), Some(Constraint::Grammar));
    assert_eq!(done.value.name, "Jason");
    assert_eq!(done.value.age, 30);
    assert_eq!(done.report.attempts(), 1);
}

#[test]
fn json_schema_response_format_is_rejected_by_llama_cpp_python() {
    let (server, _serial) = server();
    let llm = llm(server, Constraint::JsonSchema);
    let err = Extractor::new(&llm)
        .max_tokens(48)
        .extract::<UserDetail>(PROMPT)
        .unwrap_err();
    eprintln!("json_schema on llama-cpp-python: {err}");
    match err {
        Error::Llm(LlmError::Http { status, message }) => {
            assert_eq!(status, 500);
            assert!(message.contains("'text' or 'json_object'"), "{message}");
        }
        other => panic!("expected the server's validation error, got {other:?}"),
    }
}

#[test]
fn grammar_constraint_is_honoured() {
    let (server, _serial) = server();
    the_grammar_is_followed_exactly(&llm(server, Constraint::Grammar));
}

/// A quote with grounded fields: copies of the text and a label from a set given at run time.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct Said {
    /// Who said it.
    #[instructor(verbatim)]
    speaker: String,
    /// The words said.
    #[instructor(verbatim)]
    quote: String,
    /// What it is about.
    #[instructor(choices = "topics")]
    topic: String,
}

#[test]
fn grounded_fields_are_constrained_through_the_servers_grammar() {
    let (server, _serial) = server();
    let llm = llm(server, Constraint::Grammar);
    let text =
        "Marie Curie said: \"Nothing in life is to be feared, it is only to be understood.\"";
    let topics = ["science", "sports", "cooking"];
    let done = Extractor::new(&llm)
        .choices("topics", topics)
        .max_tokens(96)
        .extract_with_report::<Said>(format!("Extract the quote from: `{text}`"))
        .unwrap();
    eprintln!("grounded over HTTP: {:?}", done.report.raw);
    // The filled-in grammar went to the server, so no attempt needed a re-ask for a copy or a
    // label (which substring the model picks is its choice and is not asserted).
    assert_eq!(
        done.report.attempts(),
        1,
        "{:?}",
        done.report.failed_attempts
    );
    let prompt = format!("Extract the quote from: `{text}`");
    assert!(prompt.contains(&done.value.speaker), "{:?}", done.value);
    assert!(prompt.contains(&done.value.quote), "{:?}", done.value);
    assert!(
        topics.contains(&done.value.topic.as_str()),
        "{:?}",
        done.value
    );
}

#[test]
fn complete_reports_the_servers_usage() {
    let (server, _serial) = server();
    complete_reports_usage(&llm(server, Constraint::Grammar));
}

fn overflowing_request<R>(f: impl FnOnce(&Request<'_>) -> R) -> R {
    // About 3000 tokens against an n_ctx of 2048.
    with_prompt_of(3000, f)
}

#[test]
fn a_prompt_longer_than_the_context_is_http_400_with_the_servers_message() {
    let (server, _serial) = server();
    let llm = llm(server, Constraint::None);
    let err = overflowing_request(|r| llm.complete(r)).unwrap_err();
    eprintln!("overflow, not streamed: {err}");
    match err {
        LlmError::Http { status, message } => {
            assert_eq!(status, 400);
            assert!(
                message.contains("maximum context length is 2048 tokens"),
                "{message}"
            );
        }
        other => panic!("expected HTTP 400, got {other:?}"),
    }
}

#[test]
fn a_prompt_longer_than_the_context_cuts_a_stream_before_any_content() {
    // llama-cpp-python sends 200 and the event-stream headers before it notices, then ends
    // the stream without an event: the client can only report the cut.
    let (server, _serial) = server();
    let llm = llm(server, Constraint::None);
    let err = overflowing_request(|r| {
        let mut stream = llm.generate(r).unwrap();
        stream.next_chunk()
    });
    eprintln!("overflow, streamed: {err:?}");
    match err {
        Some(Err(LlmError::Protocol { message, .. })) => {
            assert!(message.contains("after 0 content chunk"), "{message}");
        }
        other => panic!("expected a cut stream, got {other:?}"),
    }
}

#[test]
fn a_tiny_request_timeout_times_out() {
    let (server, _serial) = server();
    a_tiny_request_timeout_times_out_on(server);
}

#[cfg(feature = "async")]
// llama-cpp-python's server serves one request at a time, and by default a new request
// interrupts the one running (its `interrupt_requests`): one in flight.
support::awaited::async_tests!(crate::server, 1);

/// The awaited checks only this server needs (its own way of failing an overflow, a refused
/// connection); see `support::awaited` for the shared ones.
#[cfg(feature = "async")]
#[allow(clippy::await_holding_lock)]
mod async_errors {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn a_prompt_longer_than_the_context_cuts_the_awaited_stream_before_any_content() {
        // As in the blocking test: 200 and event-stream headers, then an empty stream.
        let (server, _serial) = server();
        let llm = llm(server, Constraint::None);
        let messages = [instructor_core::Message::user("word ".repeat(3000))];
        let request = Request::new(&messages).max_tokens(16);
        let mut stream = instructor_core::AsyncLlm::generate_async(&llm, &request)
            .await
            .unwrap();
        let err = stream.next().await;
        eprintln!("awaited overflow: {err:?}");
        match err {
            Some(Err(LlmError::Protocol { message, .. })) => {
                assert!(message.contains("after 0 content chunk"), "{message}");
            }
            other => panic!("expected a cut stream, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_awaited() {
        let port = free_port().unwrap();
        let llm = OpenAi::builder()
            .base_url(format!("http://127.0.0.1:{port}/v1"))
            .transport_retries(1)
            .build()
            .unwrap();
        let err = instructor_core::Extractor::new(&llm)
            .extract_async::<UserDetail>(PROMPT)
            .await
            .unwrap_err();
        eprintln!("awaited refused: {err}");
        match err {
            instructor_core::Error::Llm(LlmError::Connect { message, .. }) => {
                assert!(message.contains("refused"), "{message}")
            }
            other => panic!("expected a connection error, got {other:?}"),
        }
    }
}
