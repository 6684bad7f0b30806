//! What both real-server test files share: finding the default model, a free loopback port,
//! waiting for a started server to answer, and the type and prompt most tests extract.
//!
//! Each server runs as a child of the test process and exits when the process does: it (or a
//! wrapper around it) watches its stdin, which only the test process holds open.

#![allow(dead_code)] // each test file uses a different part

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::time::{Duration, Instant};

use instructor_core::ResponseModel;

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
