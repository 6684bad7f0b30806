//! `http_throughput`: documents per second over HTTP against llama.cpp's own `llama-server`
//! (built by `scripts/setup.sh --server`) started with `--parallel 1`, `2` and `4` — the 15 bench
//! cases × `--copies` copies each, through `instructor-openai` with its default constraint: our
//! `extract` in a loop, and `extract_many` keeping as many requests in flight as the server has
//! slots. One run, one model, the same threads on the server.
//!
//! ```sh
//! cargo run -p instructor-bench --bin http_throughput -- --copies 4
//! ```
//!
//! The server and this client share the machine; the client only waits on sockets.

#[path = "../cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "../grounded.rs"]
#[allow(dead_code)]
mod grounded;
#[path = "../report.rs"]
#[allow(dead_code)]
mod report;
#[path = "../rows.rs"]
mod rows;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use instructor_llama::Llama;
use instructor_openai::OpenAi;

use cases::{Case, Kind, KINDS};
use rows::Row;

const USAGE: &str = "usage: http_throughput [--model NAME|PATH] [--copies K] [--threads N] [--parallel 1,2,4] [--server PATH]";

/// The context of each server slot.
const SLOT_CTX: usize = 2048;

struct Args {
    copies: usize,
    threads: usize,
    parallel: Vec<usize>,
    model: Option<String>,
    server: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut args = Args {
        copies: 4,
        threads: 2,
        parallel: vec![1, 2, 4],
        model: None,
        server: root.join(".cache/llama-server/llama-server"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let number = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("not a number: {v}\n{USAGE}"))
        };
        match flag.as_str() {
            "--copies" => args.copies = number(&value()?)?.max(1),
            "--threads" => args.threads = number(&value()?)?.max(1),
            "--parallel" => {
                args.parallel = value()?.split(',').map(number).collect::<Result<_, _>>()?;
            }
            "--model" => args.model = Some(value()?),
            "--server" => args.server = value()?.into(),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    match parse_args().and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_throughput: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A running `llama-server`, stopped when dropped.
struct Server {
    child: Child,
    base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn models_answer(port: u16) -> bool {
    let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut head = [0u8; 12];
    conn.write_all(request.as_bytes()).is_ok()
        && conn.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.1 200")
}

fn start(args: &Args, model: &Path, parallel: usize) -> Result<Server, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let threads = args.threads.to_string();
    let mut child = Command::new(&args.server)
        .arg("--model")
        .arg(model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--ctx-size", &(SLOT_CTX * parallel).to_string()])
        .args(["--parallel", &parallel.to_string()])
        .args(["--threads", &threads, "--threads-batch", &threads])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "{}: {e} (run `scripts/setup.sh --server`)",
                args.server.display()
            )
        })?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("llama-server exited ({status}) before answering"));
        }
        if models_answer(port) {
            return Ok(Server {
                child,
                base_url: format!("http://127.0.0.1:{port}/v1"),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    Err("llama-server did not answer within 120 s".into())
}

fn client(server: &Server) -> Result<OpenAi, String> {
    OpenAi::builder()
        .base_url(&server.base_url)
        .request_timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| e.to_string())
}

fn run(args: &Args) -> Result<(), String> {
    let all: Vec<Case> = serde_json::from_str(include_str!("../../cases.json"))
        .map_err(|e| format!("bench/cases.json: {e}"))?;
    let cases: Vec<(Case, &Kind)> = all
        .into_iter()
        .map(|c| {
            let kind = KINDS
                .iter()
                .find(|k| k.id == c.id)
                .ok_or_else(|| format!("no Rust type for case {}", c.id))?;
            Ok((c, kind))
        })
        .collect::<Result<_, String>>()?;
    let model = match &args.model {
        Some(spec) => Llama::find_model(spec),
        None => Llama::model_from_env(),
    }
    .map_err(|e| e.to_string())?;
    let documents = cases.len() * args.copies;
    println!(
        "# HTTP throughput: {documents} documents ({} cases × {} copies) against llama-server\n",
        cases.len(),
        args.copies
    );
    println!("- machine: {}", report::machine());
    println!("- model: {}", model.display());
    println!(
        "- server: {} --parallel N --ctx-size {SLOT_CTX}×N --threads {}",
        args.server.display(),
        args.threads
    );
    println!("- client: instructor-openai, default constraint; `extract_many` case by case\n");

    let mut rows = Vec::new();
    for &parallel in &args.parallel {
        let server = start(args, &model, parallel)?;
        let llm = client(&server)?;
        // Warm-up (and `Constraint::Auto`'s probe), outside the timed rows.
        if let Some((case, kind)) = cases.first() {
            let _ = (kind.extract)(&llm, &case.prompt);
        }
        if parallel == 1 {
            let started = Instant::now();
            let mut outcomes = Vec::new();
            for (case, kind) in &cases {
                for _ in 0..args.copies {
                    outcomes.push((kind.extract)(&llm, &case.prompt));
                }
            }
            rows.push(Row::new(
                "`extract` in a loop, server --parallel 1".into(),
                &outcomes,
                started.elapsed(),
                1,
            ));
            eprintln!("sequential done in {:?}", started.elapsed());
        }
        let started = Instant::now();
        let mut outcomes = Vec::new();
        let mut peak = 0;
        for (case, kind) in &cases {
            let prompts = vec![case.prompt.clone(); args.copies];
            let (done, totals) = (kind.many)(&llm, &prompts, parallel);
            peak = peak.max(totals.peak_in_flight);
            outcomes.extend(done);
        }
        rows.push(Row::new(
            format!("`extract_many` parallel {parallel}, server --parallel {parallel}"),
            &outcomes,
            started.elapsed(),
            peak,
        ));
        eprintln!("parallel {parallel} done in {:?}", started.elapsed());
    }

    rows::print("client and server", "sequential", &rows);
    Ok(())
}
