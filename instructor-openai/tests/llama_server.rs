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

use instructor_core::{
    Error, Extractor, FinishReason, Llm, LlmError, Message, Request, StreamEvent,
};
use instructor_openai::{Constraint, OpenAi};
use support::{default_model, free_port, wait_for, Server, UserDetail, PROMPT, SETUP};

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
    // A failed test poisons the lock; the server is still fine for the others.
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match SERVER.get_or_init(start_server) {
        Ok(server) => (server, guard),
        Err(why) => panic!("{why}"),
    }
}

fn builder(server: &Server) -> instructor_openai::OpenAiBuilder {
    OpenAi::builder()
        .base_url(&server.base_url)
        .request_timeout(Duration::from_secs(120))
}

fn llm(server: &Server, constraint: Constraint) -> OpenAi {
    builder(server).constraint(constraint).build().unwrap()
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
        // (measured): the value is valid, the capital is the model's choice.
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
    let llm = llm(server, Constraint::Grammar);
    let done = Extractor::new(&llm)
        .max_tokens(48)
        .extract_with_report::<UserDetail>(PROMPT)
        .unwrap();
    let squeezed = done.report.raw.replace(": ", ":").replace(", ", ",");
    assert_eq!(
        squeezed, r#"{"name":"Jason","age":30}"#,
        "{}",
        done.report.raw
    );
}

#[test]
fn streaming_yields_snapshots_then_jason_30() {
    let (server, _serial) = server();
    let llm = llm(server, Constraint::Grammar);
    let mut names = Vec::new();
    let mut done = None;
    for step in Extractor::new(&llm)
        .max_tokens(48)
        .extract_stream::<UserDetail>(PROMPT)
    {
        match step.unwrap() {
            StreamEvent::Partial(p) => names.push(p.name.clone().unwrap_or_default()),
            StreamEvent::Retry(a) => panic!("unexpected retry: {a:?}"),
            StreamEvent::Done(d) => done = Some(d),
        }
    }
    let done = done.expect("a final value");
    eprintln!(
        "streamed snapshots of the name: {names:?}; usage {:?}",
        done.report.usage
    );
    assert_eq!(done.value.name, "Jason");
    assert_eq!(done.value.age, 30);
    assert!(names.len() >= 2, "{names:?}");
    for pair in names.windows(2) {
        assert!(
            pair[1].starts_with(&pair[0]),
            "the name only grows: {pair:?}"
        );
    }
    // llama-server sends its usage in a last chunk after the answer, which the extraction does
    // not wait for (it stops reading once the JSON is complete): the chunks were counted.
    let usage = done.report.usage;
    assert!(usage.completion_tokens >= 5, "{usage:?}");
}

#[test]
fn list_streaming_yields_each_person_as_it_completes() {
    let (server, _serial) = server();
    let llm = llm(server, Constraint::Grammar);
    let started = Instant::now();
    let mut items = Vec::new();
    for item in Extractor::new(&llm)
        .max_tokens(96)
        .extract_iter::<UserDetail>("Extract `Jason is 30 years old and Sarah is 25`")
    {
        items.push((started.elapsed(), item.unwrap()));
    }
    eprintln!("list items (time since start, value): {items:?}");
    // Names in the text's order and the set of ages, not their pairing, which the 135M model
    // gets differently on AVX2 and AVX-512 machines (see tests/server.rs).
    let names: Vec<&str> = items.iter().map(|(_, u)| u.name.as_str()).collect();
    assert_eq!(names, ["Jason", "Sarah"]);
    let mut ages: Vec<u8> = items.iter().map(|(_, u)| u.age).collect();
    ages.sort_unstable();
    assert_eq!(ages, [25, 30]);
    let gap = items[1].0 - items[0].0;
    assert!(
        gap > Duration::from_millis(50),
        "items arrived {gap:?} apart"
    );
}

#[test]
fn without_a_constraint_the_local_loop_validates_and_reasks() {
    let (server, _serial) = server();
    let llm = llm(server, Constraint::None);
    let attempts = 2;
    match Extractor::new(&llm)
        .max_retries(attempts)
        .max_tokens(96)
        .extract_with_report::<UserDetail>(PROMPT)
    {
        Ok(done) => {
            eprintln!(
                "Constraint::None: {:?} after {} attempt(s)",
                done.value,
                done.report.attempts()
            );
            assert!(done.report.attempts() <= attempts as usize);
        }
        Err(Error::RetriesExhausted {
            attempts: tried, ..
        }) => {
            eprintln!("Constraint::None exhausted its attempts: {tried:?}");
            assert_eq!(tried.len(), attempts as usize);
            assert!(tried.iter().all(|a| !a.errors.is_empty()), "{tried:?}");
        }
        Err(other) => panic!("neither a value nor RetriesExhausted: {other:?}"),
    }
}

#[test]
fn complete_reports_the_servers_usage() {
    let (server, _serial) = server();
    let llm = llm(server, Constraint::Grammar);
    let messages = [Message::user("Name a colour.")];
    let answer = llm
        .complete(
            &Request::new(&messages)
                .grammar(r#"root ::= "red" | "green" | "blue""#)
                .max_tokens(8),
        )
        .unwrap();
    eprintln!("complete: {answer:?}");
    assert!(
        ["red", "green", "blue"].contains(&answer.text.as_str()),
        "{answer:?}"
    );
    assert_eq!(answer.finish, FinishReason::Stop);
    assert!(answer.usage.prompt_tokens > 0, "{:?}", answer.usage);
    assert!(answer.usage.completion_tokens > 0, "{:?}", answer.usage);
}

fn overflowing_request<R>(f: impl FnOnce(&Request<'_>) -> R) -> R {
    // About 3000 tokens against a slot of 1024.
    let messages = [Message::user("word ".repeat(3 * SLOT_CTX))];
    f(&Request::new(&messages).max_tokens(16))
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
    let llm = builder(server)
        .constraint(Constraint::None)
        .request_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let messages = [Message::user("Tell me a long story.")];
    let started = Instant::now();
    let err = llm
        .complete(&Request::new(&messages).max_tokens(24))
        .unwrap_err();
    eprintln!("tiny timeout: {err}");
    assert!(matches!(err, LlmError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
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
        // model does (every machine measured); ages are not asserted.
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
