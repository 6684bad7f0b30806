//! What a `verbatim` field costs: the size and build time of the filled-in rule for a 10 KB and
//! a 100 KB source, and the per-token sampling cost of copying from a 10 KB source against a
//! free string, on the same prompt.
//!
//! ```text
//! cargo run -p instructor-llama --example grounding_cost               # default model
//! cargo run -p instructor-llama --example grounding_cost -- --model qwen2.5-0.5b
//! ```
//!
//! Drafts are off so that every generated token goes through the grammar once; each grammar runs
//! three times, interleaved, and the table shows medians.

use std::time::{Duration, Instant};

use instructor_core::__private::grammar::JSON_CHAR_RULES;
use instructor_core::__private::verbatim_rules;
use instructor_core::{Llm, Message, Request};
use instructor_llama::Llama;

/// Deterministic prose of about `bytes` bytes (xorshift over a word list), with names, numbers
/// and punctuation, so the automaton sees a realistic alphabet.
fn prose(bytes: usize) -> String {
    const WORDS: [&str; 24] = [
        "the",
        "council",
        "said",
        "river",
        "on",
        "Monday",
        "trees",
        "will",
        "be",
        "planted",
        "along",
        "every",
        "street",
        "and",
        "school",
        "Maria",
        "Garcia",
        "reported",
        "42",
        "\"quietly\"",
        "budget",
        "of",
        "3.5",
        "million",
    ];
    let mut s = String::with_capacity(bytes + 16);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut words = 0;
    while s.len() < bytes {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let w = WORDS[(x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 59) as usize % WORDS.len()];
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(w);
        words += 1;
        if words % 11 == 0 {
            s.push_str(".\n");
        }
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("## verbatim rule size and build time\n");
    println!("| source | rules | grammar bytes | bytes per source byte | build (median of 5) |");
    println!("|---:|---:|---:|---:|---:|");
    for kb in [10usize, 100] {
        let src = prose(kb * 1000);
        let mut times = Vec::new();
        let mut rules = String::new();
        for _ in 0..5 {
            let t = Instant::now();
            rules = verbatim_rules(&[&src]);
            times.push(t.elapsed());
        }
        println!(
            "| {} KB | {} | {} | {:.1} | {:.1} ms |",
            kb,
            rules.lines().count(),
            rules.len(),
            rules.len() as f64 / src.len() as f64,
            median(times).as_secs_f64() * 1e3
        );
    }

    let mut args = std::env::args().skip(1);
    let model = match (args.next().as_deref(), args.next()) {
        (Some("--model"), Some(m)) => Llama::find_model(&m)?,
        _ => Llama::model_from_env()?,
    };
    let llm = Llama::builder()
        .model_path(&model)
        .n_ctx(8192)
        .threads(2)
        .prompt_lookup(false)
        .schema_drafts(false)
        .build()?;
    let src = prose(10_000);
    let messages = vec![
        Message::system("Answer with JSON."),
        Message::user(format!(
            "Document:\n{src}\n\nCopy the longest sentence about the budget from the document."
        )),
    ];
    let verbatim = format!(
        "root ::= \"{{\\\"quote\\\": \" verbatim--src \"}}\"\n{}",
        verbatim_rules(&[&src])
    );
    let free = format!("root ::= \"{{\\\"quote\\\": \\\"\" jchar* \"\\\"}}\"\n{JSON_CHAR_RULES}");
    println!("\n## per-token cost, 10 KB source ({})\n", model.display());
    println!("| grammar | tokens | wall (median) | prompt eval | generation | ms per generated token | output (start) |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let grammars = [
        ("free string (jchar*)", &free),
        ("verbatim (suffix automaton)", &verbatim),
    ];
    let mut results: Vec<Vec<(Duration, instructor_core::Completion)>> =
        vec![Vec::new(), Vec::new()];
    for round in 0..3 {
        for i in 0..2 {
            let i = (i + round) % 2;
            let request = Request::new(&messages)
                .grammar(grammars[i].1)
                .max_tokens(48);
            let t = Instant::now();
            let done = llm.complete(&request)?;
            results[i].push((t.elapsed(), done));
        }
    }
    for (i, runs) in results.iter().enumerate() {
        let wall = median(runs.iter().map(|r| r.0).collect());
        let prompt = median(runs.iter().map(|r| r.1.usage.prompt_time).collect());
        let generation = median(runs.iter().map(|r| r.1.usage.generation_time).collect());
        let last = &runs[runs.len() - 1].1;
        let tokens = last.usage.completion_tokens.max(1);
        let text: String = last.text.chars().take(60).collect();
        println!(
            "| {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} | `{}` |",
            grammars[i].0,
            tokens,
            wall.as_secs_f64() * 1e3,
            prompt.as_secs_f64() * 1e3,
            generation.as_secs_f64() * 1e3,
            generation.as_secs_f64() * 1e3 / tokens as f64,
            text.replace('\n', "\\n").replace('|', "\\|")
        );
    }
    Ok(())
}
