//! Cost per token of streaming partial values, at the start and at the end of a long output.
//!
//! Builds a ~300 KB JSON list of 2 000 items, cuts it into "tokens" of 3 to 5 characters, and
//! feeds them one by one through `PartialValue<Vec<(String, u32, Vec<String>)>>`, timing each
//! tenth of the tokens. Side by side, the naive approach most streaming JSON helpers take: per
//! token, close the open strings and brackets of the whole prefix and parse it with `serde_json`
//! again — run over a shorter prefix, since its cost grows with the prefix.
//!
//! Run with `cargo run -p instructor-core --release --example partial_bench`.

use std::hint::black_box;
use std::time::Instant;

use instructor_core::PartialValue;
use serde_json::Value;

type Shape = Vec<(String, u32, Vec<String>)>;

const ITEMS: usize = 2_000;
const REPS: usize = 15;
const NAIVE_REPS: usize = 5;
/// The naive baseline runs over this much of the output: over all of it, it would take minutes.
const NAIVE_PREFIX: usize = 30_000;
/// Tokens timed one by one for the naive baseline at the very end of the full output.
const NAIVE_TAIL_TOKENS: usize = 300;

/// xorshift64*: deterministic, so every run measures the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "the",
    "model",
    "streams",
    "tokens",
    "while",
    "a",
    "user",
    "waits",
    "for",
    "structured",
    "output",
    "café",
    "naïve",
    "日本語",
    "🦀",
    "\"quoted\"",
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "validated",
    "partial",
    "snapshot",
    "of",
    "value",
];

fn sentence(rng: &mut Rng, min_len: usize) -> String {
    let mut s = String::new();
    while s.len() < min_len {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len())]);
    }
    s
}

/// The generated output: compact JSON, as a grammar-constrained model writes it.
fn build_output() -> String {
    let mut rng = Rng(0x5EED);
    let items: Shape = (0..ITEMS)
        .map(|_| {
            let name = sentence(&mut rng, 40);
            let tags = (0..3).map(|_| sentence(&mut rng, 24)).collect();
            (name, rng.next() as u32, tags)
        })
        .collect();
    serde_json::to_string(&items).unwrap_or_default()
}

/// Cuts `text` into chunks of 3 to 5 characters (whole UTF-8 characters, like detokenized text).
fn tokenize(text: &str) -> Vec<&str> {
    let mut rng = Rng(0x70CE);
    let mut tokens = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let chars = 3 + rng.below(3);
        let end = rest
            .char_indices()
            .nth(chars)
            .map_or(rest.len(), |(i, _)| i);
        let (token, tail) = rest.split_at(end);
        tokens.push(token);
        rest = tail;
    }
    tokens
}

/// Feeds all tokens through `step`, returning the mean ns per token of each tenth.
fn profile(tokens: &[&str], mut step: impl FnMut(&str)) -> [f64; 10] {
    let mut tenths = [0.0; 10];
    for (k, tenth) in tenths.iter_mut().enumerate() {
        let block = &tokens[k * tokens.len() / 10..(k + 1) * tokens.len() / 10];
        let start = Instant::now();
        for token in block {
            step(token);
        }
        *tenth = start.elapsed().as_nanos() as f64 / block.len().max(1) as f64;
    }
    tenths
}

fn ours(tokens: &[&str]) -> [f64; 10] {
    let mut value = PartialValue::<Shape>::new();
    let tenths = profile(tokens, |token| {
        // A stream that stopped being JSON is the backend's fault; the bench text is valid.
        let _ = value.push(token);
        black_box(value.get().map(Vec::len));
    });
    black_box(value.is_complete());
    tenths
}

fn naive(tokens: &[&str]) -> [f64; 10] {
    let mut prefix = String::new();
    profile(tokens, |token| {
        prefix.push_str(token);
        black_box(naive_snapshot(&prefix));
    })
}

/// The naive snapshot: make the prefix valid JSON by closing what is open, then parse all of it.
fn naive_snapshot(prefix: &str) -> Option<Value> {
    serde_json::from_str(&close_fixup(prefix)).ok()
}

/// Closes a JSON prefix: an open value string is cut before any half escape and closed; anything
/// else incomplete (a key, a `-`, a trailing `,`) is cut back to the last complete value or
/// opening bracket; then the open brackets are closed. One scan of the whole prefix.
fn close_fixup(prefix: &str) -> String {
    let bytes = prefix.as_bytes();
    let mut stack: Vec<u8> = Vec::new();
    // Per open object: whether the next string is a key.
    let mut expect_key: Vec<bool> = Vec::new();
    let (mut in_string, mut is_key, mut escape_at, mut hex_left) = (false, false, None, 0);
    let mut safe = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if hex_left > 0 {
                hex_left -= 1;
                if hex_left == 0 {
                    escape_at = None;
                }
            } else if escape_at.is_some() {
                if b == b'u' {
                    hex_left = 4;
                } else {
                    escape_at = None;
                }
            } else if b == b'\\' {
                escape_at = Some(i);
            } else if b == b'"' {
                in_string = false;
                if !is_key {
                    safe = i + 1;
                }
            }
        } else {
            match b {
                b'"' => {
                    in_string = true;
                    is_key = stack.last() == Some(&b'}') && expect_key.last() == Some(&true);
                }
                b'{' | b'[' => {
                    stack.push(if b == b'{' { b'}' } else { b']' });
                    if b == b'{' {
                        expect_key.push(true);
                    }
                    safe = i + 1;
                }
                b'}' | b']' => {
                    if stack.pop() == Some(b'}') {
                        expect_key.pop();
                    }
                    safe = i + 1;
                }
                b':' => {
                    if let Some(k) = expect_key.last_mut() {
                        *k = false;
                    }
                }
                b',' if stack.last() == Some(&b'}') => {
                    if let Some(k) = expect_key.last_mut() {
                        *k = true;
                    }
                }
                b'0'..=b'9' | b'e' | b'l' => safe = i + 1,
                _ => {}
            }
        }
        i += 1;
    }
    let mut fixed = if in_string && !is_key {
        let mut s = prefix[..escape_at.unwrap_or(prefix.len())].to_owned();
        s.push('"');
        s
    } else {
        prefix[..safe].to_owned()
    };
    fixed.extend(stack.iter().rev().map(|&c| c as char));
    fixed
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Median over repetitions of each tenth, and of the last/first ratio.
fn summarize(runs: &[[f64; 10]]) -> ([f64; 10], f64) {
    let mut tenths = [0.0; 10];
    for (k, t) in tenths.iter_mut().enumerate() {
        *t = median(runs.iter().map(|r| r[k]).collect());
    }
    let ratio = median(runs.iter().map(|r| r[9] / r[0]).collect());
    (tenths, ratio)
}

fn print_row(label: &str, (tenths, ratio): ([f64; 10], f64)) {
    let cells: Vec<String> = tenths
        .iter()
        .map(|t| format!("{:>8}", format_ns(*t)))
        .collect();
    println!("{label:<34}{}   last/first = {ratio:.2}", cells.join(""));
}

fn format_ns(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.1}µs", ns / 1000.0)
    } else {
        format!("{ns:.0}ns")
    }
}

fn main() {
    let output = build_output();
    let tokens = tokenize(&output);

    // Sanity: the final snapshot is the parsed output, and the naive fixup yields valid JSON at
    // every token of the prefix it is measured on.
    let mut value = PartialValue::<Shape>::new();
    for token in &tokens {
        if let Err(e) = value.push(token) {
            eprintln!("the bench output is not valid JSON: {e}");
            return;
        }
    }
    let parsed: Shape = serde_json::from_str(&output).unwrap_or_default();
    let snapshot: Option<Shape> = value.get().map(|items| {
        items
            .iter()
            .map(|(name, n, tags)| {
                (
                    name.clone().unwrap_or_default(),
                    n.unwrap_or_default(),
                    tags.clone().unwrap_or_default(),
                )
            })
            .collect()
    });
    assert!(
        value.is_complete() && snapshot.as_ref() == Some(&parsed),
        "final snapshot differs from the parsed output"
    );

    let short_end = output
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| i >= NAIVE_PREFIX)
        .unwrap_or(output.len());
    let short_tokens = tokenize(&output[..short_end]);
    let mut prefix = String::new();
    let unparsable = short_tokens
        .iter()
        .filter(|t| {
            prefix.push_str(t);
            naive_snapshot(&prefix).is_none()
        })
        .count();
    assert_eq!(unparsable, 0, "the naive fixup failed on some prefixes");

    println!(
        "partial_bench: {} items, {} bytes, {} tokens of 3-5 chars; mean time per token in each tenth of the stream",
        ITEMS,
        output.len(),
        tokens.len()
    );
    println!(
        "(median of {REPS} runs; naive: {NAIVE_REPS} runs over the first {} bytes = {} tokens)\n",
        short_end,
        short_tokens.len()
    );
    let header: Vec<String> = (1..=10)
        .map(|k| format!("{:>8}", format!("{}0%", k)))
        .collect();
    println!("{:<34}{}", "tenth of the tokens ->", header.join(""));

    let full: Vec<[f64; 10]> = (0..REPS).map(|_| ours(&tokens)).collect();
    let full = summarize(&full);
    print_row("PartialValue, full 300 KB", full);
    let short: Vec<[f64; 10]> = (0..REPS).map(|_| ours(&short_tokens)).collect();
    print_row(
        &format!("PartialValue, first {} KB", short_end / 1000),
        summarize(&short),
    );
    let slow: Vec<[f64; 10]> = (0..NAIVE_REPS).map(|_| naive(&short_tokens)).collect();
    let slow = summarize(&slow);
    print_row(
        &format!("naive re-parse, first {} KB", short_end / 1000),
        slow,
    );

    // The naive approach at the very end of the full output, timed directly.
    let tail_from = tokens.len().saturating_sub(NAIVE_TAIL_TOKENS);
    let mut prefix: String = tokens[..tail_from].concat();
    let start = Instant::now();
    for token in &tokens[tail_from..] {
        prefix.push_str(token);
        black_box(naive_snapshot(&prefix));
    }
    let tail_ns = start.elapsed().as_nanos() as f64 / (tokens.len() - tail_from).max(1) as f64;
    println!(
        "\nnaive re-parse at the end of the full output: {} per token, {:.0}x ours ({} per token)",
        format_ns(tail_ns),
        tail_ns / full.0[9],
        format_ns(full.0[9]),
    );
    // Taking the snapshot out (a clone) is the consumer's cost, outside the parser, and it grows
    // with the value: worth knowing for anything that hands out every snapshot.
    let start = Instant::now();
    for _ in 0..10 {
        black_box(value.get().cloned());
    }
    let clone_ns = start.elapsed().as_nanos() as f64 / 10.0;
    println!(
        "for comparison, cloning the final snapshot once costs {}",
        format_ns(clone_ns)
    );
    let total_ours: f64 = full.0.iter().sum::<f64>() / 10.0 * tokens.len() as f64;
    println!(
        "whole stream: ours {:.1} ms in total; naive would take about {:.0} s (its cost grows linearly, so ~half the end cost per token on average)",
        total_ours / 1e6,
        tail_ns / 2.0 * tokens.len() as f64 / 1e9,
    );
}
