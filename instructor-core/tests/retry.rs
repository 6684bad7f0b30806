//! The extraction loop's logic (parse → validate → re-ask → give up) against a scripted fake
//! backend. The real model is exercised by instructor-llama's tests; this file pins down what
//! the loop does with each kind of answer.

use std::sync::Mutex;

use instructor_core::__private::Grammar;
use instructor_core::{
    Chunk, Error, Event, Extractor, FinishReason, Llm, LlmError, Message, Request, ResponseModel,
    Role, Seg, StreamEvent, TokenStream, Usage, Validator,
};
use serde_json::{Map, Value};

/// Replays scripted answers, one per call, in chunks of 3 bytes; records every request.
struct Scripted {
    answers: Mutex<Vec<(String, FinishReason)>>,
    requests: Mutex<Vec<Vec<Message>>>,
}

impl Scripted {
    fn new(answers: &[&str]) -> Self {
        let answers = answers
            .iter()
            .rev()
            .map(|a| (a.to_string(), FinishReason::Stop))
            .collect();
        Self {
            answers: Mutex::new(answers),
            requests: Mutex::new(Vec::new()),
        }
    }
    fn truncating(answer: &str) -> Self {
        Self::with_finishes(&[(answer, FinishReason::Length)])
    }
    fn with_finishes(answers: &[(&str, FinishReason)]) -> Self {
        Self {
            answers: Mutex::new(answers.iter().rev().map(|&(a, f)| (a.into(), f)).collect()),
            requests: Mutex::new(Vec::new()),
        }
    }
    fn requests(&self) -> Vec<Vec<Message>> {
        self.requests.lock().unwrap().clone()
    }
}

struct Replay {
    chunks: Vec<String>,
    finish: FinishReason,
    completion_tokens: u64,
}

impl TokenStream for Replay {
    fn next_chunk(&mut self) -> Option<Result<Chunk, LlmError>> {
        if self.chunks.is_empty() {
            return None;
        }
        self.completion_tokens += 1;
        Some(Ok(Chunk::Text(self.chunks.remove(0))))
    }
    fn finish(&self) -> (FinishReason, Usage) {
        (
            self.finish,
            Usage::default()
                .prompt_tokens(10)
                .completion_tokens(self.completion_tokens),
        )
    }
}

impl Llm for Scripted {
    fn generate<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> Result<Box<dyn TokenStream + 'a>, LlmError> {
        assert!(request.grammar.is_some_and(|g| g.starts_with("root ::= ")));
        self.requests
            .lock()
            .unwrap()
            .push(request.messages.to_vec());
        let (answer, finish) = self
            .answers
            .lock()
            .unwrap()
            .pop()
            .ok_or_else(|| LlmError::backend("script exhausted"))?;
        let chars: Vec<char> = answer.chars().collect();
        let chunks = chars.chunks(3).map(|c| c.iter().collect()).collect();
        Ok(Box::new(Replay {
            chunks,
            finish,
            completion_tokens: 0,
        }))
    }
}

/// An even number: a hand-written impl whose validation the grammar cannot express.
#[derive(Debug, PartialEq, serde::Deserialize)]
#[serde(transparent)]
struct Even(u32);

impl ResponseModel for Even {
    const GRAMMAR: Grammar = <u32 as ResponseModel>::GRAMMAR;
    type Partial = u32;
    fn json_schema(defs: &mut Map<String, Value>) -> Value {
        <u32 as ResponseModel>::json_schema(defs)
    }
    fn apply_partial(slot: &mut Option<u32>, path: &[Seg<'_>], event: &Event<'_>) {
        <u32 as ResponseModel>::apply_partial(slot, path, event)
    }
    fn validate(&self, v: &mut Validator<'_>) {
        if self.0 % 2 != 0 {
            v.error(format!("{} is odd; it must be even", self.0));
        }
    }
}

#[test]
fn first_valid_answer_is_returned_with_its_report() {
    let llm = Scripted::new(&["42"]);
    let got = Extractor::new(&llm)
        .extract_with_report::<Even>("a number")
        .unwrap();
    assert_eq!(got.value, Even(42));
    assert_eq!(got.report.attempts(), 1);
    assert_eq!(got.report.raw, "42");
    assert_eq!(got.report.usage.prompt_tokens, 10);
    let requests = llm.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0][0].role, Role::System);
    assert!(requests[0][0]
        .content
        .starts_with("You are a precise information extraction engine."));
    assert_eq!(requests[0][1], Message::user("a number"));
}

#[test]
fn validation_failure_is_sent_back_and_fixed() {
    let llm = Scripted::new(&["7", "8"]);
    let got = Extractor::new(&llm)
        .extract_with_report::<Even>("an even number")
        .unwrap();
    assert_eq!(got.value, Even(8));
    assert_eq!(got.report.attempts(), 2);
    assert_eq!(got.report.failed_attempts[0].output, "7");
    assert_eq!(
        got.report.failed_attempts[0].error_messages(),
        vec!["7 is odd; it must be even".to_string()]
    );
    assert_eq!(
        got.report.usage.prompt_tokens, 20,
        "usage sums both attempts"
    );
    let second = &llm.requests()[1];
    assert_eq!(second.len(), 4, "system, user, failed answer, re-ask");
    assert_eq!(second[2], Message::assistant("7"));
    assert_eq!(second[3].role, Role::User);
    assert!(second[3].content.contains("7 is odd; it must be even"));
}

#[test]
fn invalid_json_is_an_attempt_error_not_a_crash() {
    let llm = Scripted::new(&["{oops", "4"]);
    let got = Extractor::new(&llm)
        .extract_with_report::<Even>("n")
        .unwrap();
    assert_eq!(got.value, Even(4));
    assert!(got.report.failed_attempts[0].errors[0]
        .to_string()
        .contains("not valid JSON"));
}

#[test]
fn exhausted_retries_return_every_attempt() {
    let llm = Scripted::new(&["1", "3", "5", "6"]);
    let err = Extractor::new(&llm)
        .max_retries(3)
        .extract::<Even>("n")
        .unwrap_err();
    let Error::RetriesExhausted { attempts, usage } = &err else {
        panic!("{err:?}")
    };
    let outputs: Vec<&str> = attempts.iter().map(|a| a.output.as_str()).collect();
    assert_eq!(outputs, ["1", "3", "5"]);
    assert!(attempts.iter().all(|a| a.errors.len() == 1));
    assert_eq!(usage.prompt_tokens, 30);
    assert_eq!(err.last_output(), Some("5"));
    assert!(err.to_string().contains("5 is odd"), "{err}");
    assert_eq!(llm.requests().len(), 3, "no fourth call");
}

#[test]
fn truncation_is_its_own_error_with_the_partial_text() {
    let llm = Scripted::truncating("[1,2,");
    let err = Extractor::new(&llm)
        .max_tokens(3)
        .extract::<Vec<u8>>("n")
        .unwrap_err();
    match err {
        Error::Truncated {
            max_tokens,
            partial,
            attempts,
            usage,
        } => {
            assert_eq!(max_tokens, 3);
            assert_eq!(partial, "[1,2,");
            assert!(attempts.is_empty());
            assert_eq!(usage.completion_tokens, 2, "5 characters in chunks of 3");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncation_after_a_failed_attempt_keeps_that_attempt_and_all_usage() {
    let llm = Scripted::with_finishes(&[
        ("[1,300]", FinishReason::Stop),
        ("[1,2,", FinishReason::Length),
    ]);
    let err = Extractor::new(&llm)
        .max_tokens(3)
        .extract::<Vec<u8>>("n")
        .unwrap_err();
    let Error::Truncated {
        attempts, usage, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].output, "[1,300]");
    assert!(!attempts[0].errors.is_empty());
    assert_eq!(usage.prompt_tokens, 20, "both attempts' prompts");
    assert_eq!(usage.completion_tokens, 3 + 2);
    assert_eq!(err.last_output(), Some("[1,2,"));
}

#[test]
fn a_leading_system_message_replaces_the_default_instruction() {
    let llm = Scripted::new(&["2"]);
    let messages = [Message::system("Only even numbers."), Message::user("n")];
    Extractor::new(&llm).extract::<Even>(&messages).unwrap();
    let sent = &llm.requests()[0];
    assert!(sent[0].content.starts_with("Only even numbers."));
    assert_eq!(sent.len(), 2);
}

#[test]
fn stream_yields_growing_snapshots_then_the_value() {
    let llm = Scripted::new(&[r#"["alpha","beta"]"#]);
    let mut snapshots = Vec::new();
    let mut done = None;
    for step in Extractor::new(&llm).extract_stream::<Vec<String>>("words") {
        match step.unwrap() {
            StreamEvent::Partial(p) => snapshots.push(p),
            StreamEvent::Retry(a) => panic!("unexpected retry {a:?}"),
            StreamEvent::Done(d) => done = Some(d.value),
        }
    }
    assert_eq!(done.unwrap(), vec!["alpha", "beta"]);
    assert!(snapshots.len() >= 4, "{snapshots:?}");
    assert!(
        snapshots.contains(&vec!["al".to_string()])
            || snapshots.iter().any(|s| s.len() == 1 && s[0].len() < 5)
    );
    assert_eq!(
        snapshots.last().unwrap(),
        &vec!["alpha".to_string(), "beta".to_string()]
    );
    for pair in snapshots.windows(2) {
        assert!(
            pair[1].len() >= pair[0].len(),
            "items never disappear: {pair:?}"
        );
    }
}

#[test]
fn stream_reports_a_retry_then_succeeds() {
    let llm = Scripted::new(&["9", "10"]);
    let events: Vec<_> = Even::extract_stream(&llm, "n")
        .map(Result::unwrap)
        .collect();
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Retry(_))));
    assert!(matches!(events.last(), Some(StreamEvent::Done(d)) if d.value == Even(10)));
}

#[test]
fn list_items_arrive_one_by_one_and_invalid_ones_are_errors() {
    let llm = Scripted::new(&["[2,3,4]"]);
    let items: Vec<Result<Even, Error>> = Even::extract_iter(&llm, "numbers").collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap(), &Even(2));
    assert!(matches!(&items[1], Err(Error::InvalidItem { index: 1, raw, .. }) if raw == "3"));
    assert_eq!(items[2].as_ref().unwrap(), &Even(4));
}

#[test]
fn backend_errors_pass_through() {
    let llm = Scripted::new(&[]);
    let err = Even::extract(&llm, "n").unwrap_err();
    assert!(
        matches!(err, Error::Llm(LlmError::Backend { .. })),
        "{err:?}"
    );
}

/// Replays one scripted stream of chunks, rewinds included, as a backend with a repetition
/// guard sends them.
struct Chunks(Mutex<Option<Vec<Chunk>>>);

struct ChunkReplay(std::vec::IntoIter<Chunk>);

impl TokenStream for ChunkReplay {
    fn next_chunk(&mut self) -> Option<Result<Chunk, LlmError>> {
        self.0.next().map(Ok)
    }
    fn finish(&self) -> (FinishReason, Usage) {
        (FinishReason::Stop, Usage::default())
    }
}

impl Llm for Chunks {
    fn generate<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> Result<Box<dyn TokenStream + 'a>, LlmError> {
        assert!(
            request.repeats_allowed.is_some(),
            "the loop passes the type's opt-outs"
        );
        let chunks = self.0.lock().unwrap().take().unwrap_or_default();
        Ok(Box::new(ChunkReplay(chunks.into_iter())))
    }
}

fn cut_list() -> Chunks {
    let text = |s: &str| Chunk::Text(s.to_owned());
    // `["a","b","a` then the backend takes back the repeat (and its comma) and closes the list.
    Chunks(Mutex::new(Some(vec![
        text(r#"["a","#),
        text(r#""b","a"#),
        Chunk::Rewind(8),
        text("]"),
    ])))
}

#[test]
fn a_rewind_takes_text_back_from_the_partial_value() {
    let llm = cut_list();
    let mut snapshots = Vec::new();
    let mut done = None;
    for step in Extractor::new(&llm).extract_stream::<Vec<String>>("letters") {
        match step.unwrap() {
            StreamEvent::Partial(p) => snapshots.push(p),
            StreamEvent::Done(d) => done = Some(d),
            StreamEvent::Retry(a) => panic!("no retry expected: {a:?}"),
        }
    }
    let done = done.expect("a value");
    assert_eq!(done.value, ["a", "b"]);
    assert_eq!(done.report.raw, r#"["a","b"]"#);
    let last_partial = snapshots.last().expect("snapshots");
    assert_eq!(last_partial, &vec!["a".to_owned(), "b".to_owned()]);
    assert!(
        snapshots.iter().any(|s| s.len() == 3),
        "the repeat was shown before it was taken back: {snapshots:?}"
    );
}

#[test]
fn a_rewind_never_yields_an_item_twice() {
    let llm = cut_list();
    let items: Vec<String> = Extractor::new(&llm)
        .extract_iter::<String>("letters")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(items, ["a", "b"]);
}

#[test]
fn rewinds_apply_on_char_boundaries() {
    let mut text = String::from("café");
    Chunk::Rewind(4).apply_to(&mut text); // inside the two bytes of `é`
    assert_eq!(text, "caf");
    Chunk::Rewind(99).apply_to(&mut text);
    assert_eq!(text, "caf");
}
