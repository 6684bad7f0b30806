//! The awaited entry points (feature `async`) on the real default model: the decode runs on a
//! thread of the backend's own and the awaiting task gets the same values, snapshots, items and
//! errors as the blocking calls, while its runtime's thread stays free.
#![cfg(feature = "async")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use instructor_core::{Error, Extractor, LlmError, ResponseModel, StreamEvent};
use instructor_llama::Llama;

fn llama() -> &'static Llama {
    static LLAMA: OnceLock<Llama> = OnceLock::new();
    LLAMA.get_or_init(|| Llama::load_default().unwrap_or_else(|e| panic!("{e}")))
}

/// A person mentioned in the text.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct UserDetail {
    /// The person's first name.
    name: String,
    #[instructor(range(min = 0, max = 150))]
    age: u8,
}

/// The same answer as the blocking quickstart (`extract_real.rs`; Jason/30 on every CPU
/// measured): the awaited path adds a thread and a channel, not a different decode.
#[tokio::test]
async fn extract_async_gives_jason_30() {
    let user = UserDetail::extract_async(llama(), "Extract `Jason is 30 years old`")
        .await
        .unwrap();
    assert_eq!((user.name.as_str(), user.age), ("Jason", 30));
}

/// The awaited value equals the blocking one for the same prompt (greedy; same decode). Each
/// side gets a model of its own, so both evaluate the whole prompt: a prompt reused from the KV
/// cache (or another test's use of a shared model) would take another floating-point path.
#[tokio::test]
async fn extract_async_equals_blocking_extract() {
    let prompt = "Extract `Sarah is 25 years old and lives in Leeds`";
    let fresh = || Llama::load_default().unwrap_or_else(|e| panic!("{e}"));
    let blocking = Extractor::new(&fresh())
        .extract_with_report::<UserDetail>(prompt)
        .unwrap();
    let awaited = Extractor::new(&fresh())
        .extract_async_with_report::<UserDetail>(prompt)
        .await
        .unwrap();
    assert_eq!(awaited.report.raw, blocking.report.raw);
}

#[tokio::test]
async fn stream_async_yields_growing_snapshots_then_the_value() {
    let mut stream = Extractor::new(llama())
        .extract_stream_async::<UserDetail>("Extract `Jason is 30 years old`");
    let mut names = Vec::new();
    let mut done = None;
    while let Some(step) = stream.next().await {
        match step.unwrap() {
            StreamEvent::Partial(p) => names.push(p.name.clone().unwrap_or_default()),
            StreamEvent::Retry(a) => panic!("unexpected retry: {a:?}"),
            StreamEvent::Done(d) => done = Some(d.value),
        }
    }
    let done = done.expect("a final value");
    assert!(names.len() >= 2, "{names:?}");
    for pair in names.windows(2) {
        assert!(
            pair[1].starts_with(&pair[0]),
            "the name only grows: {pair:?}"
        );
    }
    assert_eq!(names.last(), Some(&done.name));
}

/// Items of a list as each completes (the text this model lists; see `extract_real.rs`).
#[tokio::test]
async fn list_async_yields_valid_items() {
    let mut items = Vec::new();
    let mut stream = Extractor::new(llama())
        .max_tokens(96)
        .extract_iter_async::<UserDetail>("Extract `Jason is 30 years old and Sarah is 25`");
    while let Some(item) = stream.next().await {
        items.push(item.unwrap());
    }
    assert!(!items.is_empty());
    assert!(items.iter().all(|u| !u.name.is_empty()), "{items:?}");
    let report = stream.report();
    assert!(report.usage.completion_tokens > 0, "{report:?}");
}

/// `extract_many_async` runs the documents in one batch context on the backend's thread:
/// every document once, up to 3 at once, each a value about its own text. Batched decoding
/// rounds differently from a lone one (see `batch_real.rs`), and this model then sometimes
/// writes a phrase around the name (measured on AMD EPYC: `"The person's first name is Ann"`),
/// so what is asserted is that each answer carries its own document's name or age (a mixed-up
/// slot would carry another's).
#[tokio::test]
async fn many_async_batches_the_documents() {
    let people = [
        ("Jason", 30),
        ("Sarah", 25),
        ("Tom", 41),
        ("Ann", 19),
        ("Jason", 30),
    ];
    let prompts = people.map(|(name, age)| format!("Extract `{name} is {age} years old`"));
    let mut run = Extractor::new(llama())
        .parallel(3)
        .max_tokens(48)
        .extract_many_async_with_report::<UserDetail>(&prompts);
    let mut seen = Vec::new();
    while let Some((index, result)) = run.next().await {
        let done = result.unwrap_or_else(|e| panic!("document {index}: {e}"));
        eprintln!("{index}: {:?} ({:?})", done.value, done.report.raw);
        let (name, age) = people[index];
        assert!(
            done.value.name.contains(name) || done.value.age == age,
            "{index}: {:?}",
            done.value
        );
        seen.push(index);
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3, 4], "every document once");
    let totals = run.totals();
    eprintln!("totals: {totals:?}");
    assert_eq!((totals.documents, totals.failed), (5, 0));
    assert_eq!(totals.peak_in_flight, 3);
    assert!(totals.usage.completion_tokens > 0);
}

/// A prompt over the context fails the awaited call with the blocking call's error.
#[tokio::test]
async fn a_prompt_longer_than_the_context_is_an_error_awaited() {
    let long = "Jason is 30 years old. ".repeat(2000);
    let err = UserDetail::extract_async(llama(), long.as_str())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Llm(LlmError::ContextOverflow { .. })),
        "{err:?}"
    );
    // In a batch, the same error is that document's only.
    let mut run = Extractor::new(llama())
        .parallel(2)
        .max_tokens(48)
        .extract_many_async::<UserDetail>([long.as_str(), "Extract `Jason is 30 years old`"]);
    let mut results = Vec::new();
    while let Some((index, result)) = run.next().await {
        results.push((index, result));
    }
    results.sort_by_key(|(index, _)| *index);
    assert!(
        matches!(
            &results[0].1,
            Err(Error::Llm(LlmError::ContextOverflow { .. }))
        ),
        "{:?}",
        results[0]
    );
    assert!(results[1].1.is_ok(), "{:?}", results[1]);
}

/// Dropping a stream part-way stops its decode thread; the model serves the next call.
#[tokio::test]
async fn a_dropped_stream_stops_and_the_model_goes_on() {
    let mut stream = Extractor::new(llama())
        .extract_stream_async::<UserDetail>("Extract `Jason is 30 years old`");
    let first = stream.next().await;
    assert!(
        matches!(first, Some(Ok(StreamEvent::Partial(_)))),
        "{first:?}"
    );
    drop(stream);
    let user = UserDetail::extract_async(llama(), "Extract `Jason is 30 years old`")
        .await
        .unwrap();
    assert_eq!(user.name, "Jason");
}

/// While the model decodes, the runtime's only thread keeps running other tasks: a ticker
/// every 5 ms ticks through the extraction (measured here: most of its possible ticks).
/// Decoding on the runtime's thread would hold it for the whole extraction, and the ticker
/// would tick about once.
#[tokio::test(flavor = "current_thread")]
async fn an_extraction_leaves_the_runtime_thread_free() {
    let ticks = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&ticks);
    let ticker = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(5));
        loop {
            every.tick().await;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let started = Instant::now();
    let user = Extractor::new(llama())
        .max_tokens(64)
        .extract_async::<UserDetail>("Extract `Sarah is 25 years old and lives in Leeds`")
        .await
        .unwrap();
    let elapsed = started.elapsed();
    ticker.abort();
    let ticked = ticks.load(Ordering::Relaxed);
    let possible = elapsed.as_millis() / 5;
    eprintln!("{user:?} in {elapsed:?}: the ticker ticked {ticked} of ~{possible} times");
    assert!(
        elapsed > Duration::from_millis(50),
        "too quick to tell: {elapsed:?}"
    );
    // A quarter, not all: on 2 busy cores the decode threads also take the ticker's CPU time.
    assert!(
        ticked >= 10 && u128::from(ticked) * 4 >= possible,
        "the runtime thread was blocked: {ticked} ticks in {elapsed:?}"
    );
}
