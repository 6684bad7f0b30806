//! The awaited checks (feature `async`) both real servers run: the same extractions as the
//! blocking checks in `mod.rs`, through `AsyncLlm`, plus what only async can show (the runtime's
//! thread stays free while a request is out).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use instructor_core::{Error, Extractor, LlmError, ResponseModel, StreamEvent};
use instructor_openai::{Constraint, OpenAi};

use super::{Server, UserDetail, PROMPT};

/// `UserDetail::extract_async` with the client's default constraint: Jason/30.
pub async fn extract_async_gives_jason_30(llm: &OpenAi) {
    let user = UserDetail::extract_async(llm, PROMPT).await.unwrap();
    eprintln!(
        "extract_async: {user:?} (constraint {:?})",
        llm.constraint_in_use()
    );
    assert_eq!(user.name, "Jason");
    assert_eq!(user.age, 30);
    assert!(
        llm.constraint_in_use().is_some(),
        "a constraint was settled on"
    );
}

/// The snapshots of `extract_stream_async`: the name only grows, then Jason/30.
pub async fn stream_async_yields_snapshots_then_jason_30(llm: &OpenAi) {
    let mut stream = Extractor::new(llm)
        .max_tokens(48)
        .extract_stream_async::<UserDetail>(PROMPT);
    let mut names = Vec::new();
    let mut done = None;
    while let Some(step) = stream.next().await {
        match step.unwrap() {
            StreamEvent::Partial(p) => names.push(p.name.clone().unwrap_or_default()),
            StreamEvent::Retry(a) => panic!("unexpected retry: {a:?}"),
            StreamEvent::Done(d) => done = Some(d),
        }
    }
    eprintln!("awaited snapshots of the name: {names:?}");
    let done = done.expect("a final value");
    assert_eq!((done.value.name.as_str(), done.value.age), ("Jason", 30));
    assert!(names.len() >= 2, "{names:?}");
    for pair in names.windows(2) {
        assert!(
            pair[1].starts_with(&pair[0]),
            "the name only grows: {pair:?}"
        );
    }
}

/// `extract_iter_async` over two people: both names in the text's order, both ages (their
/// pairing flips between CPUs, see the blocking check), the second item arriving later.
pub async fn list_async_yields_each_person_as_it_completes(llm: &OpenAi) {
    let started = Instant::now();
    let mut items = Vec::new();
    let mut stream = Extractor::new(llm)
        .max_tokens(96)
        .extract_iter_async::<UserDetail>("Extract `Jason is 30 years old and Sarah is 25`");
    while let Some(item) = stream.next().await {
        items.push((started.elapsed(), item.unwrap()));
    }
    eprintln!("awaited list items: {items:?}");
    let names: Vec<&str> = items.iter().map(|(_, u)| u.name.as_str()).collect();
    assert_eq!(names, ["Jason", "Sarah"]);
    let mut ages: Vec<u8> = items.iter().map(|(_, u)| u.age).collect();
    ages.sort_unstable();
    assert_eq!(ages, [25, 30]);
    assert!(
        items[1].0 - items[0].0 > Duration::from_millis(50),
        "streamed, not buffered"
    );
}

/// `extract_many_async` with `parallel(n)` keeps `n` requests in flight on one task; each
/// name comes back under its own document's index (copying a lone first name is what this
/// model does most robustly; ages are not asserted).
pub async fn many_async_keeps_requests_in_flight(llm: &OpenAi, parallel: usize) {
    let prompts = [
        "Extract `Jason is 30 years old`",
        "Extract `Sarah is 25 years old`",
        "Extract `Tom is 41 years old`",
        "Extract `Ann is 19 years old`",
    ];
    let mut run = Extractor::new(llm)
        .parallel(parallel)
        .max_tokens(48)
        .extract_many_async::<UserDetail>(prompts);
    let mut seen = Vec::new();
    while let Some((index, result)) = run.next().await {
        let user = result.unwrap_or_else(|e| panic!("document {index}: {e}"));
        eprintln!("{index}: {user:?}");
        assert!(
            prompts[index].contains(&format!("`{} is", user.name)),
            "{index}: {user:?}"
        );
        seen.push(index);
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3], "every document once");
    let totals = run.totals();
    eprintln!("awaited totals: {totals:?}");
    assert_eq!((totals.documents, totals.failed), (4, 0));
    assert_eq!(
        totals.peak_in_flight, parallel,
        "requests in flight at once"
    );
}

/// While an extraction is out, the runtime's only thread keeps running other tasks: a ticker
/// every 5 ms ticks through it. (A blocking HTTP call would hold the thread for the whole
/// request, and the ticker would tick about once.)
pub async fn extraction_leaves_the_runtime_thread_free(llm: &OpenAi) {
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
    let user = Extractor::new(llm)
        .max_tokens(48)
        .extract_async::<UserDetail>(PROMPT)
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
    // A quarter, not all: on 2 busy cores the server's threads also take the ticker's CPU time.
    assert!(
        ticked >= 10 && u128::from(ticked) * 4 >= possible,
        "the runtime thread was blocked: {ticked} ticks in {elapsed:?}"
    );
}

/// A 50 ms request timeout: the awaited call ends with `Timeout` within 2 s.
pub async fn tiny_timeout_async_times_out(server: &Server) {
    let llm = OpenAi::builder()
        .base_url(&server.base_url)
        .constraint(Constraint::None)
        .request_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = Extractor::new(&llm)
        .max_tokens(24)
        .extract_async::<UserDetail>("Tell me a long story.")
        .await
        .unwrap_err();
    eprintln!("awaited tiny timeout: {err}");
    assert!(
        matches!(err, Error::Llm(LlmError::Timeout { .. })),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// The awaited tests both server files run, written once: `async_tests!(server, parallel)` with
/// the test file's `server()` (the shared server and the serial lock) and the requests the server
/// serves at once makes a module of `#[tokio::test]`s,
/// each on its own current-thread runtime. The serial lock is a std `Mutex` shared with the
/// blocking tests of the file, held across the awaits on purpose: nothing else runs on a test's
/// own runtime, and it keeps requests from competing for the machine's cores.
macro_rules! async_tests {
    ($server:path, $parallel:expr) => {
        #[allow(clippy::await_holding_lock)]
        mod async_tests {
            use crate::support::awaited;
            use crate::support::Server;
            use instructor_openai::{Constraint, OpenAi};
            use std::time::Duration;

            fn default_client(server: &Server) -> OpenAi {
                OpenAi::builder()
                    .base_url(&server.base_url)
                    .request_timeout(Duration::from_secs(120))
                    .build()
                    .unwrap()
            }

            fn grammar_client(server: &Server) -> OpenAi {
                crate::support::client(server, Constraint::Grammar)
            }

            #[tokio::test]
            async fn extract_async_gives_jason_30_under_the_default_constraint() {
                let (server, _serial) = $server();
                awaited::extract_async_gives_jason_30(&default_client(server)).await;
            }

            #[tokio::test]
            async fn stream_async_yields_snapshots_then_jason_30() {
                let (server, _serial) = $server();
                awaited::stream_async_yields_snapshots_then_jason_30(&grammar_client(server)).await;
            }

            #[tokio::test]
            async fn list_async_yields_each_person_as_it_completes() {
                let (server, _serial) = $server();
                awaited::list_async_yields_each_person_as_it_completes(&grammar_client(server))
                    .await;
            }

            #[tokio::test]
            async fn many_async_keeps_the_servers_slots_busy() {
                let (server, _serial) = $server();
                let llm = default_client(server);
                awaited::many_async_keeps_requests_in_flight(&llm, $parallel).await;
            }

            #[tokio::test]
            async fn an_extraction_leaves_the_runtime_thread_free() {
                let (server, _serial) = $server();
                awaited::extraction_leaves_the_runtime_thread_free(&grammar_client(server)).await;
            }

            #[tokio::test]
            async fn a_tiny_request_timeout_times_out_awaited() {
                let (server, _serial) = $server();
                awaited::tiny_timeout_async_times_out(server).await;
            }
        }
    };
}
pub(crate) use async_tests;
