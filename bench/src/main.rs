//! `peer_bench`: instructor-rs against Python `instructor` + `llama-cpp-python` on the same model
//! file, prompts, machine and thread count, interleaved case by case, several rounds; then our
//! own ladder (unconstrained → constrained → + prompt-lookup drafts → + schema drafts → + KV-cache
//! reuse) on the same cases. Prints Markdown tables (per case and overall) with the ratios taken
//! in this one run.
//!
//! ```sh
//! scripts/bench.sh                  # set up the peers, then run with the defaults below
//! cargo run -p instructor-bench -- --rounds 5 --threads 2 --latest-rounds 1
//! scripts/bench.sh --model qwen2.5-0.5b   # another model (`scripts/setup.sh --model NAME`)
//! ```
//!
//! The model is `--model NAME|PATH`, else `$INSTRUCTOR_MODEL`, else the default model; every
//! side loads that same file.
//!
//! Run nothing else meanwhile: llama.cpp's threads collapse when another process takes a core.

mod cases;
mod grounded;
mod peer;
mod report;
mod variants;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use instructor_core::{Llm, Request};
use instructor_llama::Llama;

use cases::{Case, Kind, Outcome, KINDS};
use peer::Peer;
use report::{Series, Table};
use variants::{Lever, Variant};

struct Args {
    rounds: usize,
    threads: usize,
    latest_rounds: usize,
    only: Option<Vec<String>>,
    model: Option<String>,
    levers: Vec<Lever>,
    peers: bool,
    ladder: bool,
    peer_python: PathBuf,
    latest_python: PathBuf,
}

const USAGE: &str = "usage: peer_bench [--model NAME|PATH] [--rounds N] [--threads N] [--latest-rounds N] [--cases a,b,..] [--variants baseline,compact,shape,schema,lists,grounded] [--no-peers] [--no-ladder] [--peer-python PATH] [--latest-python PATH]";

fn parse_args() -> Result<Args, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut args = Args {
        rounds: 5,
        threads: 2,
        latest_rounds: 1,
        only: None,
        model: None,
        levers: vec![Lever::Baseline],
        peers: true,
        ladder: true,
        peer_python: root.join(".venv-peer/bin/python"),
        latest_python: root.join(".venv-peer-latest/bin/python"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let number = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("not a number: {v}\n{USAGE}"))
        };
        match flag.as_str() {
            "--rounds" => args.rounds = number(value()?)?.max(1),
            "--threads" => args.threads = number(value()?)?.max(1),
            "--latest-rounds" => args.latest_rounds = number(value()?)?,
            "--model" => args.model = Some(value()?),
            "--variants" => {
                args.levers = value()?
                    .split(',')
                    .map(|v| Lever::named(v).ok_or_else(|| format!("unknown variant {v}\n{USAGE}")))
                    .collect::<Result<_, _>>()?;
            }
            "--cases" => args.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--no-peers" => args.peers = false,
            "--no-ladder" => args.ladder = false,
            "--peer-python" => args.peer_python = value()?.into(),
            "--latest-python" => args.latest_python = value()?.into(),
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
            eprintln!("peer_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The peers time out after this long on one case (the latest instructor re-asks until the
/// context is full: 20-30 s here).
const PEER_TIMEOUT: Duration = Duration::from_secs(300);

fn run(args: &Args) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let all: Vec<Case> = serde_json::from_str(include_str!("../cases.json"))
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
    if cases.is_empty() {
        return Err("no case selected".into());
    }
    let model = match &args.model {
        Some(spec) => Llama::find_model(spec),
        None => Llama::model_from_env(),
    }
    .map_err(|e| e.to_string())?;
    let build = |lookup: bool, schema: bool, reuse: bool| {
        Llama::builder()
            .model_path(&model)
            .threads(args.threads)
            .prompt_lookup(lookup)
            .schema_drafts(schema)
            .kv_cache_reuse(reuse)
            .build()
            .map_err(|e| e.to_string())
    };
    // Ours as a user gets it: the defaults (both draft sources, KV-cache reuse), one model
    // per variant so that no variant's prompts evict another's KV cache.
    let ours = build(true, true, true)?;
    let variant_models = (1..args.levers.len())
        .map(|_| build(true, true, true))
        .collect::<Result<Vec<_>, _>>()?;
    let variants: Vec<Variant<'_>> = args
        .levers
        .iter()
        .enumerate()
        .map(|(i, &lever)| Variant {
            llm: if i == 0 {
                &ours
            } else {
                &variant_models[i - 1]
            },
            lever,
        })
        .collect();
    let n_ours = variants.len();

    let logs = root.join("../target/peer_bench");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let script = root.join("peer/peer.py");
    let mut peers: Vec<(Peer, usize)> = Vec::new();
    if args.peers {
        let working = Peer::start(
            &args.peer_python,
            &script,
            &model,
            args.threads,
            logs.join("peer.stderr.log"),
        )?;
        peers.push((working, args.rounds));
        if args.latest_rounds > 0 {
            let latest = Peer::start(
                &args.latest_python,
                &script,
                &model,
                args.threads,
                logs.join("peer-latest.stderr.log"),
            )?;
            peers.push((latest, args.latest_rounds.min(args.rounds)));
        }
    }

    println!("# instructor-rs vs Python instructor + llama-cpp-python\n");
    println!("- machine: {}", report::machine());
    println!(
        "- model: {} ({:.1} MB)",
        model.display(),
        std::fs::metadata(&model).map_or(0.0, |m| m.len() as f64 / 1e6)
    );
    println!(
        "- threads: {} on every side (llama.cpp n_threads = n_threads_batch = {})",
        args.threads, args.threads
    );
    println!(
        "- cases: {}; rounds: {} (interleaved case by case, order rotated each round)",
        cases.len(),
        args.rounds
    );
    for (p, rounds) in &peers {
        println!("- peer: {} ({rounds} round(s))", p.label);
    }
    println!("- ours: instructor-rs (llama.cpp via llama-cpp-2 0.1.160), library defaults\n");

    // One untimed extraction per side first: page in the model, allocate the first context.
    let (warm_case, warm_kind) = &cases[0];
    for v in &variants {
        (warm_kind.extract)(v, &warm_case.prompt);
    }
    for (p, _) in &mut peers {
        p.run(warm_case, PEER_TIMEOUT)?;
    }

    let mut sides: Vec<Series> = if n_ours == 1 && args.levers[0] == Lever::Baseline {
        vec![Series::new("instructor-rs")]
    } else {
        args.levers.iter().map(|l| Series::new(l.label())).collect()
    };
    sides.extend(peers.iter().map(|(p, _)| Series::new(&p.label)));
    let started = Instant::now();
    for round in 0..args.rounds {
        for (i, (case, kind)) in cases.iter().enumerate() {
            let mut order: Vec<usize> = (0..sides.len())
                .filter(|&s| s < n_ours || round < peers[s - n_ours].1)
                .collect();
            let len = order.len();
            order.rotate_left((round + i) % len);
            for s in order {
                let outcome = if s < n_ours {
                    let extract = match (variants[s].lever, kind.grounded) {
                        (Lever::Grounded, Some(grounded)) => grounded,
                        _ => kind.extract,
                    };
                    extract(&variants[s], &case.prompt)
                } else {
                    peers[s - n_ours].0.run(case, PEER_TIMEOUT)?
                };
                sides[s].push(&case.id, outcome);
            }
        }
        eprintln!(
            "round {}/{} done ({:.0} s)",
            round + 1,
            args.rounds,
            started.elapsed().as_secs_f64()
        );
    }
    drop(peers);

    let table = Table::new(&cases, &sides).ours(n_ours);
    table.print_per_case();
    table.print_overall();

    if args.ladder {
        let plain = build(false, false, false)?;
        let lookup = build(true, false, false)?;
        let both = build(true, true, false)?;
        let mut ladder = vec![
            Series::new("unconstrained greedy (same token cap)"),
            Series::new("constrained (grammar-first)"),
            Series::new("+ prompt-lookup drafts"),
            Series::new("+ schema drafts"),
            Series::new("+ KV-cache reuse (the defaults)"),
        ];
        let rungs: [&Llama; 5] = [&plain, &plain, &lookup, &both, &ours];
        for round in 0..args.rounds {
            for (i, (case, kind)) in cases.iter().enumerate() {
                let mut order: Vec<usize> = (0..rungs.len()).collect();
                order.rotate_left((round + i) % rungs.len());
                for r in order {
                    let outcome = if r == 0 {
                        let tokens = sides[0].tokens_per_attempt(&case.id);
                        unconstrained(rungs[r], kind, &case.prompt, tokens)
                    } else {
                        (kind.extract)(rungs[r], &case.prompt)
                    };
                    ladder[r].push(&case.id, outcome);
                }
            }
            eprintln!("ladder round {}/{} done", round + 1, args.rounds);
        }
        Table::new(&cases, &ladder).print_ladder();
    }
    let stem = model
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy());
    let dump = logs.join(format!("results-{stem}.json"));
    let json = report::dump(&sides);
    std::fs::write(&dump, json).map_err(|e| format!("{}: {e}", dump.display()))?;
    eprintln!("raw outcomes written to {}", dump.display());
    Ok(())
}

/// The speed limit: the same first-attempt messages, no grammar, no drafts, capped at the token
/// count the constrained answer took. The model may end sooner without a grammar, so compare
/// this rung's generation tokens/s, not its latency.
fn unconstrained(llm: &Llama, kind: &Kind, prompt: &str, max_tokens: u32) -> Outcome {
    let messages = (kind.messages)(prompt);
    let request = Request::new(&messages).max_tokens(max_tokens.max(1));
    let start = Instant::now();
    let result = llm.complete(&request);
    let seconds = start.elapsed().as_secs_f64();
    match result {
        Ok(c) => Outcome {
            output: None,
            raw: Some(c.text),
            error: None,
            seconds,
            attempts: 1,
            completion_tokens: c.usage.completion_tokens,
            prompt_tokens: c.usage.prompt_tokens,
            usage: Some(c.usage),
        },
        Err(e) => Outcome {
            error: Some(e.to_string()),
            seconds,
            attempts: 1,
            ..Outcome::default()
        },
    }
}
