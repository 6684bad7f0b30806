//! `Extractor::extract_many` against fake backends: results by completion with their indices,
//! re-asks per document, one failure not stopping the others, the sequential default of
//! `Llm::batch`, and the run's totals. The real model is instructor-llama's `batch_real.rs`.

use std::collections::HashMap;
use std::sync::Mutex;

use instructor_core::{
    Batch, BatchEvent, Chunk, Ended, Error, Extractor, FinishReason, Llm, LlmError, Request,
    ResponseModel, Role, TokenStream, Usage,
};

#[derive(Debug, Clone, PartialEq, serde::Deserialize, ResponseModel)]
struct Person {
    name: String,
    #[instructor(range(max = 150))]
    age: u8,
}

/// Answers by document: the user message names the document; the n-th attempt at it gets the
/// n-th scripted answer (the last one repeats). A document named `overflow` is refused.
struct Docs {
    answers: HashMap<&'static str, Vec<&'static str>>,
    /// Whether `batch` interleaves sequences (one character of every live one per step).
    interleave: bool,
    /// Every request, as (document, attempt).
    requests: Mutex<Vec<(String, usize)>>,
}

impl Docs {
    fn new(interleave: bool, answers: &[(&'static str, &[&'static str])]) -> Self {
        Self {
            answers: answers.iter().map(|&(d, a)| (d, a.to_vec())).collect(),
            interleave,
            requests: Mutex::new(Vec::new()),
        }
    }

    /// The answer to `request`, as characters still to send.
    fn answer(&self, request: &Request<'_>) -> Result<Vec<char>, LlmError> {
        let users: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
            .collect();
        let doc = users.first().copied().unwrap_or_default().to_owned();
        if doc == "overflow" {
            return Err(LlmError::ContextOverflow {
                prompt_tokens: 9999,
                max_tokens: 512,
                n_ctx: 2048,
            });
        }
        // Each re-ask adds a user message.
        let attempt = users.len() - 1;
        self.requests.lock().unwrap().push((doc.clone(), attempt));
        let script = &self.answers[doc.as_str()];
        let answer = script[attempt.min(script.len() - 1)];
        Ok(answer.chars().collect())
    }
}

struct Replay {
    rest: Vec<char>,
    sent: u64,
}

impl TokenStream for Replay {
    fn next_chunk(&mut self) -> Option<Result<Chunk, LlmError>> {
        if self.rest.is_empty() {
            return None;
        }
        self.sent += 1;
        Some(Ok(Chunk::Text(self.rest.remove(0).to_string())))
    }
    fn finish(&self) -> (FinishReason, Usage) {
        (FinishReason::Stop, usage(self.sent))
    }
}

fn usage(tokens: u64) -> Usage {
    Usage::default().prompt_tokens(10).completion_tokens(tokens)
}

/// A batch that sends one character of every live sequence per step.
struct Interleaved<'a> {
    docs: &'a Docs,
    live: Vec<Option<Replay>>,
}

impl Batch for Interleaved<'_> {
    fn capacity(&self) -> usize {
        self.live.len()
    }
    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError> {
        assert!(self.live[seq].is_none(), "slot {seq} submitted twice");
        let rest = self.docs.answer(request)?;
        self.live[seq] = Some(Replay { rest, sent: 0 });
        Ok(())
    }
    fn step(&mut self) -> Vec<BatchEvent> {
        let mut events = Vec::new();
        for (seq, slot) in self.live.iter_mut().enumerate() {
            let Some(replay) = slot else { continue };
            match replay.next_chunk() {
                Some(Ok(chunk)) => events.push(BatchEvent::Chunk { seq, chunk }),
                _ => {
                    let ended = Ended::new(FinishReason::Stop, usage(replay.sent), Vec::new());
                    *slot = None;
                    events.push(BatchEvent::Ended {
                        seq,
                        result: Ok(ended),
                    });
                }
            }
        }
        events
    }
    fn cancel(&mut self, seq: usize) -> Option<Ended> {
        let replay = self.live.get_mut(seq)?.take()?;
        Some(Ended::new(
            FinishReason::Stop,
            usage(replay.sent),
            Vec::new(),
        ))
    }
}

impl Llm for Docs {
    fn generate<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> Result<Box<dyn TokenStream + 'a>, LlmError> {
        let rest = self.answer(request)?;
        Ok(Box::new(Replay { rest, sent: 0 }))
    }

    fn batch<'a>(&'a self, sequences: usize) -> Result<Box<dyn Batch + 'a>, LlmError> {
        if !self.interleave {
            return Ok(Box::new(instructor_core::OneAtATime::new(self)));
        }
        Ok(Box::new(Interleaved {
            docs: self,
            live: (0..sequences).map(|_| None).collect(),
        }))
    }
}

const ADA: &str = r#"{"name":"Ada Lovelace of London and Elsewhere","age":36}"#;
const BOB: &str = r#"{"name":"Bob","age":5}"#;
const CY: &str = r#"{"name":"Cy","age":7}"#;
const OLD: &str = r#"{"name":"Old","age":200}"#;

#[test]
fn results_come_by_completion_with_their_indices() {
    let llm = Docs::new(true, &[("ada", &[ADA]), ("bob", &[BOB]), ("cy", &[CY])]);
    let results: Vec<(usize, Result<Person, Error>)> = Extractor::new(&llm)
        .parallel(3)
        .extract_many::<Person>(["ada", "bob", "cy"])
        .collect();
    let order: Vec<usize> = results.iter().map(|(i, _)| *i).collect();
    // Cy's answer is one character shorter than Bob's; Ada's long name ends last.
    assert_eq!(order, [2, 1, 0]);
    let names: Vec<String> = results
        .into_iter()
        .map(|(_, r)| r.expect("valid").name)
        .collect();
    assert_eq!(names, ["Cy", "Bob", "Ada Lovelace of London and Elsewhere"]);
}

#[test]
fn more_documents_than_slots_refill_the_free_slot() {
    let llm = Docs::new(true, &[("ada", &[ADA]), ("bob", &[BOB]), ("cy", &[CY])]);
    let mut run = Extractor::new(&llm)
        .parallel(2)
        .extract_many_with_report::<Person>(["ada", "bob", "cy"]);
    let order: Vec<usize> = run
        .by_ref()
        .map(|(i, r)| (i, r.expect("valid")).0)
        .collect();
    // Bob ends first; Cy takes his slot and still ends before Ada.
    assert_eq!(order, [1, 2, 0]);
    let totals = run.totals();
    assert_eq!((totals.documents, totals.failed), (3, 0));
    assert_eq!(totals.peak_in_flight, 2);
    let chars = (ADA.len() + BOB.len() + CY.len()) as u64;
    assert_eq!(totals.usage.completion_tokens, chars);
}

#[test]
fn a_failed_check_re_asks_that_document_only() {
    let llm = Docs::new(true, &[("old", &[OLD, CY]), ("bob", &[BOB])]);
    let results: HashMap<usize, _> = Extractor::new(&llm)
        .parallel(2)
        .extract_many_with_report::<Person>(["old", "bob"])
        .collect();
    let old = results[&0].as_ref().expect("second attempt is valid");
    assert_eq!(old.value.name, "Cy");
    assert_eq!(old.report.attempts(), 2);
    assert_eq!(old.report.failed_attempts[0].output, OLD);
    assert!(old.report.failed_attempts[0].errors[0]
        .to_string()
        .contains("age"));
    let bob = results[&1].as_ref().expect("valid");
    assert_eq!(bob.report.attempts(), 1);
    let mut requests = llm.requests.lock().unwrap().clone();
    requests.sort();
    assert_eq!(
        requests,
        [("bob".into(), 0), ("old".into(), 0), ("old".into(), 1)]
    );
}

#[test]
fn one_failing_document_does_not_stop_the_others() {
    let llm = Docs::new(true, &[("old", &[OLD]), ("bob", &[BOB]), ("cy", &[CY])]);
    let mut run = Extractor::new(&llm)
        .parallel(2)
        .max_retries(2)
        .extract_many::<Person>(["bob", "old", "overflow", "cy"]);
    let mut results: Vec<(usize, Result<Person, Error>)> = run.by_ref().collect();
    results.sort_by_key(|(i, _)| *i);
    assert_eq!(results.len(), 4);
    assert_eq!(results[0].1.as_ref().expect("valid").name, "Bob");
    assert!(matches!(
        &results[1].1,
        Err(Error::RetriesExhausted { attempts, .. }) if attempts.len() == 2
    ));
    assert!(matches!(
        &results[2].1,
        Err(Error::Llm(LlmError::ContextOverflow { .. }))
    ));
    assert_eq!(results[3].1.as_ref().expect("valid").name, "Cy");
    assert_eq!((run.totals().documents, run.totals().failed), (4, 2));
}

#[test]
fn the_default_batch_runs_documents_one_after_another() {
    let llm = Docs::new(
        false,
        &[("ada", &[ADA]), ("old", &[OLD, BOB]), ("cy", &[CY])],
    );
    let mut run = Extractor::new(&llm)
        .parallel(8)
        .extract_many_with_report::<Person>(["ada", "old", "cy"]);
    let results: Vec<_> = run.by_ref().collect();
    let order: Vec<usize> = results.iter().map(|(i, _)| *i).collect();
    assert_eq!(order, [0, 1, 2]);
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(run.totals().peak_in_flight, 1);
    // The same values `extract` gives, one by one.
    for (i, doc) in ["ada", "old", "cy"].into_iter().enumerate() {
        let one: Person = Extractor::new(&llm).extract(doc).expect("valid");
        assert_eq!(results[i].1.as_ref().expect("valid").value, one);
    }
}

#[test]
fn nothing_in_nothing_out() {
    let llm = Docs::new(true, &[]);
    let mut run = Extractor::new(&llm).extract_many::<Person>(Vec::<&str>::new());
    assert!(run.next().is_none());
    assert_eq!(run.totals().documents, 0);
}
