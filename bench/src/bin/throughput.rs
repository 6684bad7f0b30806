//! `throughput`: documents per second over many documents — the 15 bench cases × `--copies`
//! copies each — for our sequential `extract` in a loop, our `extract_many` at several
//! `parallel` settings, and the peer (Python instructor + llama-cpp-python, sequential: it has no
//! batch path) when its virtual environment is there. One run, one model, the same threads.
//!
//! ```sh
//! cargo run -p instructor-bench --bin throughput -- --copies 16 --threads 2
//! ```
//!
//! Documents go case by case (`extract_many` is typed: one run per case type over its
//! copies), so at most `--copies` sequences are in flight. `--peer-copies K` runs the peer on
//! the first K copies of each case only (it is several times slower; documents per second is a
//! rate). Run nothing else meanwhile.

#[path = "../cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "../grounded.rs"]
#[allow(dead_code)]
mod grounded;
#[path = "../peer.rs"]
#[allow(dead_code)]
mod peer;
#[path = "../report.rs"]
#[allow(dead_code)]
mod report;
#[path = "../rows.rs"]
mod rows;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use instructor_llama::Llama;

use cases::{Case, Kind, KINDS};
use rows::Row;

const USAGE: &str = "usage: throughput [--model NAME|PATH] [--copies K] [--threads N] [--parallel 1,2,4] [--cases a,b,..] [--no-peer] [--peer-copies K] [--peer-python PATH]";

struct Args {
    copies: usize,
    threads: usize,
    parallel: Vec<usize>,
    model: Option<String>,
    only: Option<Vec<String>>,
    peer: bool,
    /// Copies of each case the peer runs (default: `copies`): the peer is several times slower,
    /// and documents per second is a rate, so a subset of the same documents measures it.
    peer_copies: Option<usize>,
    peer_python: std::path::PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut args = Args {
        copies: 4,
        threads: 2,
        parallel: vec![1, 2, 4, 8, 16],
        model: None,
        only: None,
        peer: true,
        peer_copies: None,
        peer_python: root.join(".venv-peer/bin/python"),
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
            "--cases" => args.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--no-peer" => args.peer = false,
            "--peer-copies" => args.peer_copies = Some(number(&value()?)?.max(1)),
            "--peer-python" => args.peer_python = value()?.into(),
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
            eprintln!("throughput: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let all: Vec<Case> = serde_json::from_str(include_str!("../../cases.json"))
        .map_err(|e| format!("bench/cases.json: {e}"))?;
    let cases: Vec<(Case, &Kind)> = all
        .into_iter()
        .filter(|c| args.only.as_ref().is_none_or(|o| o.contains(&c.id)))
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
    let llm = Llama::builder()
        .model_path(&model)
        .threads(args.threads)
        .build()
        .map_err(|e| e.to_string())?;
    let documents = cases.len() * args.copies;

    println!(
        "# Throughput: {documents} documents ({} cases × {} copies)\n",
        cases.len(),
        args.copies
    );
    println!("- machine: {}", report::machine());
    println!("- model: {}", model.display());
    println!(
        "- threads: {} (llama.cpp n_threads = n_threads_batch)",
        args.threads
    );
    println!("- ours: library defaults; `extract_many` runs case by case over its copies\n");

    // Warm-up: load pages and caches once, outside every timed row.
    if let Some((case, kind)) = cases.first() {
        let _ = (kind.extract)(&llm, &case.prompt);
    }

    let mut rows = Vec::new();
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for (case, kind) in &cases {
        for _ in 0..args.copies {
            outcomes.push((kind.extract)(&llm, &case.prompt));
        }
    }
    rows.push(Row::new(
        "instructor-rs, `extract` in a loop".into(),
        &outcomes,
        started.elapsed(),
        1,
    ));
    eprintln!("sequential done in {:?}", started.elapsed());

    for &parallel in &args.parallel {
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
            format!("instructor-rs, `extract_many`, parallel {parallel}"),
            &outcomes,
            started.elapsed(),
            peak,
        ));
        eprintln!("parallel {parallel} done in {:?}", started.elapsed());
    }

    let mut peer_note = None;
    if args.peer {
        let logs = root.join("../target/peer_bench");
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        match peer::Peer::start(
            &args.peer_python,
            &root.join("peer/peer.py"),
            &model,
            args.threads,
            logs.join("throughput-peer.stderr.log"),
        ) {
            Ok(mut peer) => {
                let started = Instant::now();
                let mut outcomes = Vec::new();
                let copies = args.peer_copies.unwrap_or(args.copies);
                for (case, _) in &cases {
                    for _ in 0..copies {
                        outcomes.push(peer.run(case, Duration::from_secs(300))?);
                    }
                }
                rows.push(Row::new(
                    format!("{}, sequential ({copies} copies of each case)", peer.label),
                    &outcomes,
                    started.elapsed(),
                    1,
                ));
            }
            Err(e) => peer_note = Some(e),
        }
    }

    rows::print("side", "our sequential", &rows);
    if let Some(note) = peer_note {
        println!("\npeer skipped: {note}");
    }
    Ok(())
}
