//! `extract_many` on the real default model over the bench prompts (`bench/cases.json`, typed
//! by `bench/src/cases.rs`): with 4 sequences per batch, every document gets a schema-valid
//! value, and the values are compared with sequential greedy `extract` of the same prompts.
//!
//! # What is asserted, and why not exact equality everywhere
//!
//! A sequence's logits depend only on its own tokens, but llama.cpp computes them in batches
//! of a different shape (4 sequences, prompt chunks riding along) than a lone generation, so
//! the float sums round differently and a near-tie between two tokens can flip. How often that
//! happens depends on the CPU's kernels (AVX-512 and AVX2 reduce in different orders). The test
//! therefore asserts facts that hold on every CPU: every document of every case ends in a value
//! (batching loses none), each value is schema-valid, and at least `MIN_SAME` of the documents
//! equal the sequential answer, and at least `MIN_VALID` end in a value (a flipped token can send
//! a small model into a list that runs to `max_tokens`; a backend error fails the test).
//!
//! Measured (AMD EPYC, AVX2, 2 threads, SmolLM2-135M), 2026-12-06: 60 of 60 batched documents
//! valid (60 sequentially) and 60 of 60 equal to the sequential value, since the batch context
//! is pooled with what its caches hold. Earlier the same day, with a fresh batch context per
//! run, 43 of 60 were equal: the copies whose prompt was copied from another sequence, so only
//! its last token was evaluated alone, took a different kernel shape, and a near-tie flipped.
//! (On 2026-12-04, before the repetition guard closed lists that count on, 3 copies of `event`
//! also ran their attendees on as dates to 512 tokens.) The bounds (50 % equal, 80 % valid)
//! leave room for other CPUs.

#[path = "../../bench/src/grounded.rs"]
#[allow(dead_code)]
mod grounded;

#[path = "../../bench/src/cases.rs"]
#[allow(dead_code)]
mod cases;

use std::sync::OnceLock;

use instructor_llama::Llama;

use cases::{Case, KINDS};

/// Documents per case: each case's prompt 4 times, so each case fills a 4-sequence batch.
const COPIES: usize = 4;

/// Fraction of documents whose batched value must equal the sequential one.
const MIN_SAME: f64 = 0.5;

/// Fraction of documents that must end in a value.
const MIN_VALID: f64 = 0.8;

fn llama() -> &'static Llama {
    static LLAMA: OnceLock<Llama> = OnceLock::new();
    LLAMA.get_or_init(|| Llama::load_default().unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn extract_many_matches_sequential_extract_on_the_bench_cases() {
    let cases: Vec<Case> = serde_json::from_str(include_str!("../../bench/cases.json"))
        .unwrap_or_else(|e| panic!("cases.json: {e}"));
    let llm = llama();
    let (mut documents, mut valid, mut same, mut sequential_valid) = (0usize, 0, 0, 0);
    for case in &cases {
        let kind = KINDS
            .iter()
            .find(|k| k.id == case.id)
            .unwrap_or_else(|| panic!("no type for case {}", case.id));
        let alone = (kind.extract)(llm, &case.prompt);
        let prompts = vec![case.prompt.clone(); COPIES];
        let (outcomes, totals) = (kind.many)(llm, &prompts, 4);
        assert_eq!(totals.documents, COPIES, "{}", case.id);
        assert!(totals.peak_in_flight >= 2, "{}: no batching", case.id);
        for (i, outcome) in outcomes.iter().enumerate() {
            documents += 1;
            sequential_valid += usize::from(alone.output.is_some());
            let Some(value) = &outcome.output else {
                // The model may fail a document (a flipped token can lead it astray), but the
                // backend must not: no llama.cpp or batch errors.
                let error = outcome.error.clone().unwrap_or_default();
                assert!(
                    error.contains("max_tokens") || error.contains("attempt"),
                    "{} copy {i}: backend error {error}",
                    case.id
                );
                eprintln!("{} copy {i} failed: {error:.160}", case.id);
                continue;
            };
            valid += 1;
            let problems = (kind.check)(value);
            assert!(problems.is_empty(), "{} copy {i}: {problems:?}", case.id);
            if Some(value) == alone.output.as_ref() {
                same += 1;
            } else {
                eprintln!(
                    "{} copy {i} differs: batch {value} / sequential {:?}",
                    case.id, alone.output
                );
            }
        }
    }
    eprintln!(
        "{valid} of {documents} batched documents valid ({sequential_valid} sequentially), \
         {same} equal to sequential extract"
    );
    assert!(
        valid as f64 >= MIN_VALID * documents as f64,
        "only {valid} of {documents} batched documents got a value"
    );
    assert!(
        same as f64 >= MIN_SAME * documents as f64,
        "only {same} of {documents} batched values equal the sequential ones"
    );
}
