//! The repetition guard on the real default model: the list loops SmolLM2-135M falls into
//! under a grammar end with the distinct items, an opted-out list keeps a repeat it means,
//! speculative decoding does not change what the guard does, and an answer without a loop is
//! left exactly as it was.
//!
//! The loops asserted here were measured on Intel Xeon (AVX-512) and AMD EPYC (AVX2) machines
//! alike (`people` runs to `max_tokens` on both without the guard); the tests assert the shape
//! of the answers (distinct items, the guard's report), not the model's reading of the text.

use std::sync::OnceLock;

use instructor_core::{Error, Extraction, Extractor, LoopKind, ResponseModel};
use instructor_llama::{Llama, LlamaBuilder, RepetitionGuard};

fn load(builder: LlamaBuilder) -> Llama {
    builder.build().unwrap_or_else(|e| panic!("{e}"))
}

fn guarded() -> &'static Llama {
    static LLAMA: OnceLock<Llama> = OnceLock::new();
    LLAMA.get_or_init(|| load(Llama::builder()))
}

fn unguarded() -> &'static Llama {
    static LLAMA: OnceLock<Llama> = OnceLock::new();
    LLAMA.get_or_init(|| load(Llama::builder().repetition_guard(RepetitionGuard::off())))
}

#[derive(Debug, PartialEq, serde::Deserialize, ResponseModel)]
struct UserDetail {
    name: String,
    age: u8,
}

#[derive(Debug, serde::Deserialize, ResponseModel)]
struct People {
    people: Vec<UserDetail>,
}

const PEOPLE: &str = "Extract every person: `Alice is 31, Bob is 25 and Carol is 47.`";

fn people(llm: &Llama) -> Result<Extraction<People>, Error> {
    Extractor::new(llm).extract_with_report::<People>(PEOPLE)
}

#[test]
fn a_looping_people_list_ends_with_distinct_people() {
    // Without the guard the model repeats people until the budget runs out.
    match people(unguarded()) {
        Err(Error::Truncated { partial, .. }) => eprintln!("unguarded: {partial}"),
        other => panic!("expected the measured loop, got {other:?}"),
    }
    let done = people(guarded()).unwrap();
    eprintln!("guarded: {} {:?}", done.report.raw, done.report.loops_cut);
    let people = &done.value.people;
    assert!(!people.is_empty());
    for (i, a) in people.iter().enumerate() {
        for b in &people[i + 1..] {
            assert_ne!(a, b, "a repeated person survived: {}", done.report.raw);
        }
    }
    assert!(!done.report.loops_cut.is_empty());
    assert!(done
        .report
        .loops_cut
        .iter()
        .all(|c| c.kind == LoopKind::RepeatedItem && c.path.starts_with("$.people[")));
    assert_eq!(
        done.report.usage.loops_cut,
        done.report.loops_cut.len() as u64
    );
    assert!(done.report.usage.tokens_dropped > 0);
    assert_eq!(done.report.attempts(), 1);
}

#[test]
fn speculative_decoding_cuts_the_same_loop_as_plain_decoding() {
    let plain = load(Llama::builder().prompt_lookup(false).schema_drafts(false));
    let a = people(&plain).unwrap();
    let b = people(guarded()).unwrap();
    assert_eq!(a.report.raw, b.report.raw);
    assert_eq!(a.report.loops_cut, b.report.loops_cut);
}

/// An event, as the benchmark's `event` case types it.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct Event {
    title: String,
    /// Date as YYYY-MM-DD.
    #[instructor(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    date: String,
    attendees: Vec<String>,
}

const EVENT: &str =
    "Extract the event: `Quarterly planning meeting on 2024-03-15 with Alice, Bob and Carol.`";

/// The second of two extractions of [`EVENT`] (its prompt then comes from the KV cache, with
/// only the last token evaluated).
fn event_twice(llm: &Llama) -> Result<Extraction<Event>, Error> {
    let _first = Extractor::new(llm).extract_with_report::<Event>(EVENT);
    Extractor::new(llm).extract_with_report::<Event>(EVENT)
}

#[test]
fn the_event_answer_ends_and_its_attendees_never_count_on() {
    // Measured on AMD EPYC (AVX2): the second answer lists the attendees, then counts on from
    // the event's date (`"2024-03-15", "2024-03-16", "2024-03-17", …`) to `max_tokens` unless
    // the guard closes the list (the same prompt batched with `extract_many` does it too).
    // Another CPU may round its way to another answer; whatever the model writes, the guarded
    // answer ends in a value whose attendees do not count on.
    // A model of its own: the KV cache of the shared one is in use by the other tests.
    let done = event_twice(&load(Llama::builder())).unwrap();
    eprintln!("guarded: {} {:?}", done.report.raw, done.report.loops_cut);
    let attendees = &done.value.attendees;
    assert!(
        !attendees.iter().any(|a| a == "2024-03-16"),
        "{attendees:?}"
    );
    for cut in &done.report.loops_cut {
        if cut.kind == LoopKind::CountingItems {
            assert!(cut.path.starts_with("$.attendees["), "{}", cut.path);
            assert!(cut.dropped.contains("2024-03-16"), "{}", cut.dropped);
        }
    }
    assert_eq!(done.report.attempts(), 1);
}

/// The rolls of a die, in order.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct Rolls {
    /// Every roll, repeats included.
    #[instructor(allow_repeats)]
    rolls: Vec<u8>,
}

/// The same list without the opt-out.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct RollsNoRepeats {
    rolls: Vec<u8>,
}

const ROLLS: &str = "Extract the dice rolls: `4, 4, 2`";

#[test]
fn an_opted_out_list_keeps_the_repeats_it_means() {
    let free = Extractor::new(unguarded())
        .extract_with_report::<Rolls>(ROLLS)
        .unwrap();
    eprintln!("unguarded: {}", free.report.raw);
    let repeats = |v: &[u8]| v.iter().enumerate().any(|(i, x)| v[..i].contains(x));
    assert!(
        repeats(&free.value.rolls),
        "the test needs an answer that repeats: {}",
        free.report.raw
    );
    let kept = Extractor::new(guarded())
        .extract_with_report::<Rolls>(ROLLS)
        .unwrap();
    assert_eq!(
        kept.report.raw, free.report.raw,
        "the opt-out leaves it alone"
    );
    assert!(kept.report.loops_cut.is_empty());
    let cut = Extractor::new(guarded())
        .extract_with_report::<RollsNoRepeats>(ROLLS)
        .unwrap();
    eprintln!(
        "guarded, no opt-out: {} {:?}",
        cut.report.raw, cut.report.loops_cut
    );
    assert!(!repeats(&cut.value.rolls), "{}", cut.report.raw);
    assert_eq!(cut.report.loops_cut.len(), 1);
}

/// The guard runs per sequence in a batch (`extract_many`): copies of the rolls decoded side by
/// side in one context keep no repeat (measured here: each copy writes `[4, 4` and has it cut,
/// as a lone extraction does), and the opted-out type is never cut. Batched rounding may change
/// a copy's answer on another CPU, so the assertions are the guard's facts, with at least one
/// copy exercising each.
#[test]
fn the_guard_cuts_loops_inside_a_batch() {
    let repeats = |v: &[u8]| v.iter().enumerate().any(|(i, x)| v[..i].contains(x));
    let cut: Vec<_> = Extractor::new(guarded())
        .parallel(3)
        .extract_many_with_report::<RollsNoRepeats>([ROLLS; 3])
        .collect();
    assert_eq!(cut.len(), 3);
    let mut cuts = 0;
    for (index, result) in cut {
        let done = result.unwrap_or_else(|e| panic!("document {index}: {e}"));
        eprintln!(
            "batched, no opt-out: {} {:?}",
            done.report.raw, done.report.loops_cut
        );
        assert!(!repeats(&done.value.rolls), "{}", done.report.raw);
        assert!(done
            .report
            .loops_cut
            .iter()
            .all(|c| c.kind == LoopKind::RepeatedItem));
        cuts += done.report.loops_cut.len();
    }
    assert!(cuts >= 1, "no copy repeated a roll to cut");
    let kept: Vec<_> = Extractor::new(guarded())
        .parallel(3)
        .extract_many_with_report::<Rolls>([ROLLS; 3])
        .collect();
    let mut kept_repeats = 0;
    for (index, result) in kept {
        let done = result.unwrap_or_else(|e| panic!("document {index}: {e}"));
        assert!(done.report.loops_cut.is_empty(), "{}", done.report.raw);
        kept_repeats += usize::from(repeats(&done.value.rolls));
    }
    assert!(kept_repeats >= 1, "no copy kept the repeat it means");
}

#[test]
fn the_guard_changes_nothing_on_the_quickstart() {
    let prompt = "Extract `Jason is 30 years old`";
    let a = Extractor::new(unguarded())
        .extract_with_report::<UserDetail>(prompt)
        .unwrap();
    let b = Extractor::new(guarded())
        .extract_with_report::<UserDetail>(prompt)
        .unwrap();
    assert_eq!(a.report.raw, b.report.raw);
    assert_eq!(
        a.report.usage.completion_tokens,
        b.report.usage.completion_tokens
    );
    assert!(b.report.loops_cut.is_empty());
    assert_eq!(
        (b.report.usage.loops_cut, b.report.usage.tokens_dropped),
        (0, 0)
    );
}

#[test]
fn list_streaming_never_yields_a_cut_repeat() {
    let items: Vec<UserDetail> = Extractor::new(guarded())
        .extract_iter::<UserDetail>("Alice is 31, Bob is 25 and Carol is 47.")
        .collect::<Result<_, _>>()
        .unwrap();
    eprintln!("items: {items:?}");
    assert!(!items.is_empty());
    for (i, a) in items.iter().enumerate() {
        assert!(!items[..i].contains(a), "{items:?}");
    }
}
