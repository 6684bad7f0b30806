//! The awaited entry points (feature `async`) against fake `AsyncLlm` backends: re-asks,
//! snapshots, list items, many documents by completion with their indices through the default
//! `Streams` batch, and a batch whose cancellations end later (a backend that decodes on
//! another thread). The real backends are instructor-llama's `async_real.rs` and
//! instructor-openai's server tests.
#![cfg(feature = "async")]

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::StreamExt;
use instructor_core::{
    AsyncBatch, AsyncLlm, AsyncTokenStream, BatchEvent, BoxFuture, Chunk, Ended, Error, Extractor,
    FinishReason, LlmError, Request, ResponseModel, Role, StreamEvent, Usage,
};

#[derive(Debug, Clone, PartialEq, serde::Deserialize, ResponseModel)]
struct Person {
    name: String,
    #[instructor(range(max = 150))]
    age: u8,
}

/// Answers by document (the first user message); the n-th attempt gets the n-th scripted
/// answer (the last repeats). A document named `overflow` is refused when it is opened.
struct Script {
    answers: HashMap<&'static str, Vec<&'static str>>,
}

impl Script {
    fn new(answers: &[(&'static str, &[&'static str])]) -> Self {
        Self {
            answers: answers.iter().map(|&(d, a)| (d, a.to_vec())).collect(),
        }
    }

    fn answer(&self, request: &Request<'_>) -> Result<Vec<char>, LlmError> {
        let users: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
            .collect();
        let doc = users.first().copied().unwrap_or_default();
        if doc == "overflow" {
            return Err(LlmError::ContextOverflow {
                prompt_tokens: 9999,
                max_tokens: 512,
                n_ctx: 2048,
            });
        }
        let script = &self.answers[doc];
        Ok(script[(users.len() - 1).min(script.len() - 1)]
            .chars()
            .collect())
    }
}

/// One character per chunk, each after a `Pending` (so every await really waits for a wake).
struct Replay {
    rest: Vec<char>,
    sent: u64,
    ready: bool,
}

impl Stream for Replay {
    type Item = Result<Chunk, LlmError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if !self.ready {
            self.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = false;
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        self.sent += 1;
        let c = self.rest.remove(0);
        Poll::Ready(Some(Ok(Chunk::Text(c.to_string()))))
    }
}

impl AsyncTokenStream for Replay {
    fn finish(&self) -> (FinishReason, Usage) {
        (
            FinishReason::Stop,
            Usage::default().completion_tokens(self.sent),
        )
    }
}

impl AsyncLlm for Script {
    fn generate_async<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn AsyncTokenStream + 'a>, LlmError>> {
        let answer = self.answer(request);
        Box::pin(async move {
            let rest = answer?;
            Ok(Box::new(Replay {
                rest,
                sent: 0,
                ready: false,
            }) as Box<dyn AsyncTokenStream>)
        })
    }
}

#[tokio::test]
async fn extract_async_reasks_until_valid() {
    let llm = Script::new(&[(
        "doc",
        &[r#"{"name":"Ann","age":200}"#, r#"{"name":"Ann","age":20}"#],
    )]);
    let done = Extractor::new(&llm)
        .extract_async_with_report::<Person>("doc")
        .await
        .unwrap();
    assert_eq!(
        done.value,
        Person {
            name: "Ann".into(),
            age: 20
        }
    );
    assert_eq!(done.report.failed_attempts.len(), 1);
    assert_eq!(
        done.report.usage.completion_tokens,
        24 + 23,
        "both attempts are counted"
    );
}

#[tokio::test]
async fn extract_async_returns_every_attempt_when_they_run_out() {
    let llm = Script::new(&[("doc", &[r#"{"name":"Ann","age":200}"#])]);
    let err = Extractor::new(&llm)
        .max_retries(2)
        .extract_async::<Person>("doc")
        .await
        .unwrap_err();
    match err {
        Error::RetriesExhausted { attempts, .. } => {
            assert_eq!(attempts.len(), 2);
            assert!(attempts.iter().all(|a| a.output.contains("200")));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn stream_async_yields_snapshots_a_retry_then_the_value() {
    let llm = Script::new(&[(
        "doc",
        &[r#"{"name":"Ann","age":200}"#, r#"{"name":"Bo","age":2}"#],
    )]);
    let events: Vec<_> = Person::extract_stream_async(&llm, "doc")
        .map(Result::unwrap)
        .collect()
        .await;
    let retries = events
        .iter()
        .position(|e| matches!(e, StreamEvent::Retry(_)))
        .expect("a retry");
    assert!(retries > 0, "snapshots of the first attempt come first");
    let names: Vec<String> = events[retries..]
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Partial(p) => p.name.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        names.first().map(String::as_str),
        Some(""),
        "snapshots restart"
    );
    match events.last() {
        Some(StreamEvent::Done(done)) => assert_eq!(done.value.name, "Bo"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn iter_async_reports_an_invalid_item_and_goes_on() {
    let llm = Script::new(&[(
        "people",
        &[r#"[{"name":"A","age":1},{"name":"B","age":999},{"name":"C","age":3}]"#],
    )]);
    let items: Vec<_> = Person::extract_iter_async(&llm, "people").collect().await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().name, "A");
    assert!(
        matches!(&items[1], Err(Error::InvalidItem { index: 1, .. })),
        "{:?}",
        items[1]
    );
    assert_eq!(items[2].as_ref().unwrap().name, "C");
}

#[tokio::test]
async fn many_async_yields_each_document_with_its_index_and_keeps_going_after_a_failure() {
    let llm = Script::new(&[
        ("a", &[r#"{"name":"A","age":1}"#]),
        (
            "b",
            &[r#"{"name":"B","age":200}"#, r#"{"name":"B","age":2}"#],
        ),
        ("c", &[r#"{"name":"Cecilia","age":3}"#]),
    ]);
    let mut run = Extractor::new(&llm)
        .parallel(2)
        .extract_many_async::<Person>(["a", "b", "overflow", "c"]);
    let mut results = Vec::new();
    while let Some(next) = run.next().await {
        results.push(next);
    }
    let totals = run.totals();
    results.sort_by_key(|(index, _)| *index);
    let names: Vec<_> = results
        .iter()
        .map(|(i, r)| {
            (
                *i,
                r.as_ref()
                    .map(|p| p.name.clone())
                    .map_err(|e| e.to_string()),
            )
        })
        .collect();
    assert_eq!(names[0], (0, Ok("A".to_owned())));
    assert_eq!(names[1], (1, Ok("B".to_owned())), "re-asked in its slot");
    assert!(
        matches!(
            &results[2].1,
            Err(Error::Llm(LlmError::ContextOverflow { .. }))
        ),
        "{:?}",
        results[2]
    );
    assert_eq!(names[3], (3, Ok("Cecilia".to_owned())));
    assert_eq!((totals.documents, totals.failed), (4, 1));
    assert_eq!(totals.peak_in_flight, 2);
}

/// A batch that decodes "elsewhere": one character of each live sequence per step, and a
/// cancellation that ends the sequence only in a later step, after one more stray chunk (what a
/// thread that was already decoding sends). The stray text must not reach the answer.
struct Deferred {
    script: Script,
    slots: Vec<Option<(Vec<char>, u64, bool)>>,
}

impl AsyncBatch for Deferred {
    fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError> {
        let mut rest = self.script.answer(request)?;
        rest.extend("garbage".chars());
        self.slots[seq] = Some((rest, 0, false));
        Ok(())
    }

    fn poll_step(&mut self, _cx: &mut Context<'_>) -> Poll<Vec<BatchEvent>> {
        let mut events = Vec::new();
        for (seq, slot) in self.slots.iter_mut().enumerate() {
            let Some((rest, sent, cancelled)) = slot else {
                continue;
            };
            if *cancelled || rest.is_empty() {
                let usage = Usage::default().completion_tokens(*sent);
                events.push(BatchEvent::Chunk {
                    seq,
                    chunk: Chunk::Text("x".into()),
                });
                events.push(BatchEvent::Ended {
                    seq,
                    result: Ok(Ended::new(FinishReason::Stop, usage, Vec::new())),
                });
                *slot = None;
                continue;
            }
            *sent += 1;
            let c = rest.remove(0);
            events.push(BatchEvent::Chunk {
                seq,
                chunk: Chunk::Text(c.to_string()),
            });
        }
        Poll::Ready(events)
    }

    fn cancel(&mut self, seq: usize) -> Option<Ended> {
        if let Some((_, _, cancelled)) = self.slots.get_mut(seq)?.as_mut() {
            *cancelled = true;
        }
        None
    }
}

struct DeferredLlm(Script);

impl AsyncLlm for DeferredLlm {
    fn generate_async<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn AsyncTokenStream + 'a>, LlmError>> {
        self.0.generate_async(request)
    }

    fn batch_async<'a>(&'a self, sequences: usize) -> Result<Box<dyn AsyncBatch + 'a>, LlmError> {
        let script = Script {
            answers: self.0.answers.clone(),
        };
        Ok(Box::new(Deferred {
            script,
            slots: (0..sequences).map(|_| None).collect(),
        }))
    }
}

#[tokio::test]
async fn many_async_waits_for_a_deferred_cancellation_and_drops_what_comes_meanwhile() {
    let llm = DeferredLlm(Script::new(&[
        ("a", &[r#"{"name":"A","age":1}"#]),
        (
            "b",
            &[r#"{"name":"B","age":200}"#, r#"{"name":"B","age":2}"#],
        ),
    ]));
    let mut run = Extractor::new(&llm)
        .parallel(2)
        .extract_many_async_with_report::<Person>(["a", "b"]);
    let mut results = Vec::new();
    while let Some(next) = run.next().await {
        results.push(next);
    }
    results.sort_by_key(|(index, _)| *index);
    let a = results[0].1.as_ref().unwrap();
    assert_eq!(a.report.raw, r#"{"name":"A","age":1}"#);
    let b = results[1].1.as_ref().unwrap();
    assert_eq!(b.value.age, 2);
    assert_eq!(b.report.failed_attempts.len(), 1);
    assert_eq!(
        b.report.failed_attempts[0].output,
        r#"{"name":"B","age":200}"#
    );
}
