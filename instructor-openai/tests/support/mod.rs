//! What both real-server test files share: finding the default model, a free loopback port,
//! waiting for a started server to answer, and the type and prompt most tests extract.
//!
//! Each server runs as a child of the test process and exits when the process does: it (or a
//! wrapper around it) watches its stdin, which only the test process holds open.

#![allow(dead_code)] // each test file uses a different part

#[cfg(feature = "async")]
pub mod awaited;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::time::{Duration, Instant};

use instructor_core::{
    Error, Extraction, Extractor, FinishReason, Llm, LlmError, Message, Request, ResponseModel,
    StreamEvent,
};
use instructor_openai::{Constraint, OpenAi};

/// File name of the default model (as `instructor_llama::DEFAULT_MODEL_FILE`).
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The command that installs both servers and the default model.
pub const SETUP: &str = "scripts/setup.sh --server";
/// How long a server may take to load the model and answer.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(180);

/// The prompt most tests extract a [`UserDetail`] from.
pub const PROMPT: &str = "Extract `Jason is 30 years old`";

/// A person mentioned in the text.
#[derive(Debug, serde::Deserialize, ResponseModel)]
pub struct UserDetail {
    /// The person's first name.
    pub name: String,
    /// The person's age in years.
    #[instructor(range(min = 0, max = 150))]
    pub age: u8,
}

/// A started server, answering on `base_url`.
pub struct Server {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    /// Held open for the life of the process: the server exits when it closes.
    pub stdin: ChildStdin,
    /// The server (or its wrapper) process.
    pub child: Child,
}

/// `$INSTRUCTOR_MODEL_DIR`, else `${XDG_CACHE_HOME:-$HOME/.cache}/instructor-rs`, as
/// `instructor_llama::Llama::default_model` looks it up (not depended on: it builds llama.cpp).
pub fn default_model() -> Result<PathBuf, String> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = match var("INSTRUCTOR_MODEL_DIR") {
        Some(dir) => dir,
        None => var("XDG_CACHE_HOME")
            .or_else(|| var("HOME").map(|home| home.join(".cache")))
            .ok_or("neither INSTRUCTOR_MODEL_DIR, XDG_CACHE_HOME nor HOME is set")?
            .join("instructor-rs"),
    };
    let path = dir.join(DEFAULT_MODEL_FILE);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the default model {} is missing; run `{SETUP}`",
            path.display()
        ))
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

/// The last 30 lines of a server's log.
pub fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// True when `GET /v1/models` answers 200.
fn models_answer(port: u16) -> bool {
    let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if conn.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Waits until the server `child` (called `what` in errors), logging to `log_path`, answers on
/// `port`, within [`STARTUP_LIMIT`].
pub fn wait_for(
    what: &str,
    mut child: Child,
    port: u16,
    log_path: &Path,
) -> Result<Server, String> {
    let stdin = child
        .stdin
        .take()
        .ok_or("the server's stdin was not piped")?;
    let started = Instant::now();
    while started.elapsed() < STARTUP_LIMIT {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited ({status}) before answering; is it installed (`{SETUP}`)? Its \
                 log ({}) ends with:\n{}",
                log_path.display(),
                log_tail(log_path)
            ));
        }
        if models_answer(port) {
            eprintln!(
                "{what} answered on port {port} after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(Server {
                base_url: format!("http://127.0.0.1:{port}/v1"),
                stdin,
                child,
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    Err(format!(
        "{what} did not answer within {STARTUP_LIMIT:?}; its log ({}) ends with:\n{}",
        log_path.display(),
        log_tail(log_path)
    ))
}

/// The server `start` brings up once per test binary (kept in `cell`), and the lock every test
/// holds while it talks to it (`serial`), so requests never compete for the machine's cores.
pub fn shared(
    cell: &'static std::sync::OnceLock<Result<Server, String>>,
    serial: &'static std::sync::Mutex<()>,
    start: fn() -> Result<Server, String>,
) -> (&'static Server, std::sync::MutexGuard<'static, ()>) {
    // A failed test poisons the lock; the server is still fine for the others.
    let guard = serial
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match cell.get_or_init(start) {
        Ok(server) => (server, guard),
        Err(why) => panic!("{why}"),
    }
}

/// A client of `server` with a fixed constraint.
pub fn client(server: &Server, constraint: Constraint) -> OpenAi {
    OpenAi::builder()
        .base_url(&server.base_url)
        .constraint(constraint)
        .request_timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// Streams [`PROMPT`]: the name's snapshots only grow, and the value is Jason/30. Returns the
/// extraction for the server's own usage checks.
pub fn streams_snapshots_then_jason_30(llm: &OpenAi) -> Extraction<UserDetail> {
    let mut names = Vec::new();
    let mut done = None;
    for step in Extractor::new(llm)
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
    eprintln!("streamed snapshots of the name: {names:?}");
    assert_eq!(done.value.name, "Jason");
    assert_eq!(done.value.age, 30);
    // The name arrives in pieces, and then the age adds further snapshots.
    assert!(names.len() >= 2, "{names:?}");
    for pair in names.windows(2) {
        assert!(
            pair[1].starts_with(&pair[0]),
            "the name only grows: {pair:?}"
        );
    }
    *done
}

/// Streams a list of two people: both names in the text's order and both ages, each item as it
/// completes.
pub fn list_streams_each_person_as_it_completes(llm: &OpenAi) {
    let started = Instant::now();
    let mut items = Vec::new();
    for item in Extractor::new(llm)
        .max_tokens(96)
        .extract_iter::<UserDetail>("Extract `Jason is 30 years old and Sarah is 25`")
    {
        items.push((started.elapsed(), item.unwrap()));
    }
    eprintln!("list items (time since start, value): {items:?}");
    // Names and ages, not their pairing: the 135M model pairs the ages the other way round on
    // AMD EPYC (AVX2) than on Intel Xeon (AVX-512), deterministically on each, through
    // floating-point rounding. Both names, in the text's order, and both ages hold on every
    // machine measured.
    let names: Vec<&str> = items.iter().map(|(_, u)| u.name.as_str()).collect();
    assert_eq!(names, ["Jason", "Sarah"]);
    let mut ages: Vec<u8> = items.iter().map(|(_, u)| u.age).collect();
    ages.sort_unstable();
    assert_eq!(ages, [25, 30]);
    // The second item is about a dozen tokens later: it arrives later, because the stream is
    // read as the server writes it, not buffered to the end first.
    let gap = items[1].0 - items[0].0;
    assert!(
        gap > Duration::from_millis(50),
        "items arrived {gap:?} apart"
    );
}

/// Without a constraint, the answer is checked here: a valid value, or every attempt's errors.
pub fn unconstrained_answers_are_validated_and_reasked(llm: &OpenAi) {
    let attempts = 2;
    let result = Extractor::new(llm)
        .max_retries(attempts)
        // Room for a prose answer to end by itself: a cut answer would be `Truncated` instead.
        .max_tokens(96)
        .extract_with_report::<UserDetail>(PROMPT);
    match result {
        Ok(done) => {
            eprintln!(
                "Constraint::None gave a valid value after {} attempt(s): {:?} (raw {:?})",
                done.report.attempts(),
                done.value,
                done.report.raw
            );
            assert!(done.report.attempts() <= attempts as usize);
            assert!(done.value.age <= 150);
        }
        Err(Error::RetriesExhausted {
            attempts: tried, ..
        }) => {
            eprintln!("Constraint::None exhausted {attempts} attempts: {tried:?}");
            assert_eq!(tried.len(), attempts as usize);
            for a in &tried {
                assert!(!a.errors.is_empty(), "{a:?}");
            }
        }
        Err(other) => panic!("neither a value nor RetriesExhausted: {other:?}"),
    }
}

/// The grammar is followed to the letter: keys in order, at most one space after `:` and `,`.
pub fn the_grammar_is_followed_exactly(llm: &OpenAi) {
    let done = Extractor::new(llm)
        .max_tokens(48)
        .extract_with_report::<UserDetail>(PROMPT)
        .unwrap();
    eprintln!(
        "grammar: {:?} in {:?}",
        done.report.raw, done.report.elapsed
    );
    assert_eq!(done.value.name, "Jason");
    assert_eq!(done.value.age, 30);
    // Without the grammar the model may write newlines, `{ "name"` or other keys.
    let squeezed = done.report.raw.replace(": ", ":").replace(", ", ",");
    assert_eq!(
        squeezed, r#"{"name":"Jason","age":30}"#,
        "{}",
        done.report.raw
    );
}

/// A one-shot completion under a tiny grammar, with the server's token counts.
pub fn complete_reports_usage(llm: &OpenAi) {
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

/// Runs `f` on a request of about `tokens` tokens.
pub fn with_prompt_of<R>(tokens: usize, f: impl FnOnce(&Request<'_>) -> R) -> R {
    let messages = [Message::user("word ".repeat(tokens))];
    f(&Request::new(&messages).max_tokens(16))
}

/// A 50 ms request timeout cuts a request that takes longer, within 2 s.
pub fn a_tiny_request_timeout_times_out_on(server: &Server) {
    let llm = OpenAi::builder()
        .base_url(&server.base_url)
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
