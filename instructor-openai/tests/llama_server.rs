//! Against llama.cpp's own `llama-server` (built by `scripts/setup.sh --server` from the
//! llama.cpp tree that llama-cpp-python's sdist vendors), on loopback, serving the default model
//! with `--parallel 2`: extraction under the default constraint and each one it honours,
//! partial and list streaming, and the errors it really returns. `tests/server.rs` runs the
//! same kinds of test against llama-cpp-python's server.
//!
//! The server is started once per test binary; the tests take turns (a lock), so its two slots
//! never both decode while the machine's cores are the tests'. It exits when this process does:
//! a shell wrapper kills it when its stdin, which only this process holds open, closes.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use instructor_core::{Extractor, Llm, LlmError, Request};
use instructor_openai::{Constraint, OpenAi};
use support::*;

/// The context of each of the two slots (`-c` is split between them).
const SLOT_CTX: usize = 1024;

/// Runs the server in the background and kills it once stdin reaches EOF.
const WRAPPER: &str = r#""$@" & pid=$!; cat >/dev/null; kill "$pid" 2>/dev/null; wait "$pid""#;

fn server_binary() -> Result<PathBuf, String> {
    let path = std::env::var_os("INSTRUCTOR_LLAMA_SERVER")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".cache/llama-server/llama-server")
        });
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no llama-server at {} (set INSTRUCTOR_LLAMA_SERVER or run `{SETUP}`)",
            path.display()
        ))
    }
}

fn start_server() -> Result<Server, String> {
    let binary = server_binary()?;
    let model = default_model()?;
    let port = free_port()?;
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("llama-server-{port}.log"));
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let ctx = (2 * SLOT_CTX).to_string();
    let child = Command::new("sh")
        .arg("-c")
        .arg(WRAPPER)
        .arg("sh")
        .arg(&binary)
        .arg("--model")
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--ctx-size", &ctx, "--parallel", "2"])
        .args(["--threads", "2", "--threads-batch", "2"])
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("could not start {}: {e}; run `{SETUP}`", binary.display()))?;
    wait_for("llama-server", child, port, &log_path)
}

/// The shared server, and the lock every test holds while it talks to it.
fn server() -> (&'static Server, MutexGuard<'static, ()>) {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    static SERIAL: Mutex<()> = Mutex::new(());
    shared(&SERVER, &SERIAL, start_server)
}

fn builder(server: &Server) -> instructor_openai::OpenAiBuilder {
    OpenAi::builder()
        .base_url(&server.base_url)
        .request_timeout(Duration::from_secs(120))
}

fn llm(server: &Server, constraint: Constraint) -> OpenAi {
    client(server, constraint)
}

#[test]
fn the_default_constraint_settles_on_the_grammar() {
    let (server, _serial) = server();
    let llm = builder(server).build().unwrap();
    let done = Extractor::new(&llm)
        .max_tokens(48)
        .extract_with_report::<UserDetail>(PROMPT)
        .unwrap();
    eprintln!(
        "auto: {:?} via {:?}",
        done.report.raw,
        llm.constraint_in_use()
    );
    // `GET /models` says llama.cpp, so the type's own grammar goes first and is accepted.
    // Jason/30 under this grammar is the default model's answer to this prompt on every CPU
    // kind the local-backend and llama-cpp-python tests have run on (Xeon AVX-512, EPYC
    // AVX2); against llama-server it was measured on EPYC only.
    assert_eq!(llm.constraint_in_use(), Some(Constraint::Grammar));
    assert_eq!(done.value.name, "Jason");
    assert_eq!(done.value.age, 30);
    assert_eq!(
        done.report.attempts(),
        1,
        "{:?}",
        done.report.failed_attempts
    );
}

#[test]
fn every_constraint_it_honours_extracts_jason_30() {
    let (server, _serial) = server();
    for constraint in [
        Constraint::JsonSchema,
        Constraint::Grammar,
        Constraint::JsonObjectSchema,
    ] {
        let llm = llm(server, constraint);
        let done = Extractor::new(&llm)
            .max_tokens(48)
            .extract_with_report::<UserDetail>(PROMPT)
            .unwrap_or_else(|e| panic!("{constraint:?}: {e}"));
        eprintln!("{constraint:?}: {:?}", done.report.raw);
        // Under the grammar llama-server derives from a schema (any key order, free
        // whitespace), this model answers `{"age": 30, "name": "jason"}` over several lines
        // (measured on AMD EPYC only): the value is valid, the capital is the model's choice;
        // the name and the age are copies of the prompt, the answer small models keep across
        // CPU kinds.
        assert!(
            done.value.name.eq_ignore_ascii_case("Jason"),
            "{constraint:?}: {:?}",
            done.value
        );
        assert_eq!(done.value.age, 30, "{constraint:?}");
        assert_eq!(done.report.attempts(), 1, "{constraint:?}");
    }
}

#[test]
fn the_grammar_is_honoured_exactly() {
    let (server, _serial) = server();
    the_grammar_is_followed_exactly(&llm(server, Constraint::Grammar));
}

#[test]
fn streaming_yields_snapshots_then_jason_30() {
    let (server, _serial) = server();
    let done = streams_snapshots_then_jason_30(&llm(server, Constraint::Grammar));
    // llama-server sends its usage in a last chunk after the answer, which the extraction does
    // not wait for (it stops reading once the JSON is complete): the chunks were counted.
    let usage = done.report.usage;
    assert!(usage.completion_tokens >= 5, "{usage:?}");
}

#[test]
fn list_streaming_yields_each_person_as_it_completes() {
    let (server, _serial) = server();
    list_streams_each_person_as_it_completes(&llm(server, Constraint::Grammar));
}

#[test]
fn without_a_constraint_the_local_loop_validates_and_reasks() {
    let (server, _serial) = server();
    unconstrained_answers_are_validated_and_reasked(&llm(server, Constraint::None));
}

#[test]
fn complete_reports_the_servers_usage() {
    let (server, _serial) = server();
    complete_reports_usage(&llm(server, Constraint::Grammar));
}

fn overflowing_request<R>(f: impl FnOnce(&Request<'_>) -> R) -> R {
    // About 3000 tokens against a slot of 1024.
    with_prompt_of(3 * SLOT_CTX, f)
}

#[test]
fn a_prompt_longer_than_the_context_is_an_http_error_with_the_servers_message() {
    let (server, _serial) = server();
    let llm = llm(server, Constraint::None);
    let err = overflowing_request(|r| llm.complete(r)).unwrap_err();
    eprintln!("overflow, not streamed: {err}");
    match err {
        LlmError::Http { status, message } => {
            assert_eq!(status, 400, "{message}");
            assert!(message.contains("context"), "{message}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

#[test]
fn a_prompt_longer_than_the_context_fails_a_stream_with_the_servers_message() {
    let (server, _serial) = server();
    let llm = llm(server, Constraint::None);
    let err = overflowing_request(|r| match llm.generate(r) {
        Err(e) => Some(e),
        Ok(mut stream) => stream.next_chunk().and_then(Result::err),
    });
    eprintln!("overflow, streamed: {err:?}");
    match err {
        Some(LlmError::Http { status, message }) => {
            assert_eq!(status, 400, "{message}");
            assert!(message.contains("context"), "{message}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

#[test]
fn a_tiny_request_timeout_times_out() {
    let (server, _serial) = server();
    a_tiny_request_timeout_times_out_on(server);
}

#[test]
fn extract_many_keeps_two_requests_in_flight() {
    let (server, _serial) = server();
    let llm = builder(server).build().unwrap();
    let prompts = [
        "Extract `Jason is 30 years old`",
        "Extract `Sarah is 25 years old`",
        "Extract `Tom is 41 years old`",
        "Extract `Ann is 19 years old`",
    ];
    let started = Instant::now();
    let mut run = Extractor::new(&llm)
        .parallel(2)
        .max_tokens(48)
        .extract_many::<UserDetail>(prompts);
    let mut seen = Vec::new();
    for (index, result) in run.by_ref() {
        let user = result.unwrap_or_else(|e| panic!("document {index}: {e}"));
        eprintln!("{index}: {user:?} at {:?}", started.elapsed());
        // The name comes back under its own document's index (a mixed-up slot would give
        // another document's name). Copying a lone first name is the most robust thing this
        // model does (measured against llama-server on AMD EPYC; the local backend copies
        // "Jason" and "Sarah" on Xeon and EPYC alike); ages are not asserted.
        assert!(
            prompts[index].contains(&format!("`{} is", user.name)),
            "{index}: {user:?}"
        );
        seen.push(index);
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3], "every document once");
    let totals = run.totals();
    eprintln!("totals: {totals:?}");
    assert_eq!(totals.documents, 4);
    assert_eq!(totals.failed, 0);
    assert_eq!(totals.peak_in_flight, 2, "two requests in flight at once");
}

#[cfg(feature = "async")]
// Two slots (`--parallel 2`): two requests in flight.
support::awaited::async_tests!(crate::server, 2);

/// The awaited checks only this server needs (its own way of failing an overflow, a refused
/// connection); see `support::awaited` for the shared ones.
#[cfg(feature = "async")]
#[allow(clippy::await_holding_lock)]
mod async_errors {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn a_prompt_longer_than_the_context_fails_the_awaited_stream_with_the_servers_message() {
        let (server, _serial) = server();
        let llm = llm(server, Constraint::None);
        let messages = [instructor_core::Message::user("word ".repeat(3 * SLOT_CTX))];
        let request = Request::new(&messages).max_tokens(16);
        let err = match instructor_core::AsyncLlm::generate_async(&llm, &request).await {
            Err(e) => Some(e),
            Ok(mut stream) => stream.next().await.and_then(Result::err),
        };
        eprintln!("awaited overflow: {err:?}");
        match err {
            Some(LlmError::Http { status, message }) => {
                assert_eq!(status, 400, "{message}");
                assert!(message.contains("context"), "{message}");
            }
            other => panic!("expected an HTTP error, got {other:?}"),
        }
    }
}
