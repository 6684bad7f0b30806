//! Every type of the derive corpus, generated on the real default model under its grammar:
//! llama.cpp accepts each compile-time grammar, every output stays inside the grammar (checked
//! by the test recognizer, as a prefix when cut), and every output that ends deserializes into
//! the type. Every type must end on its own: the 135M model falls into greedy repetition loops on
//! some list- and map-heavy types (`"stop","stop",…`), and the repetition guard must cut each
//! one; the test prints every cut.

#[path = "../../instructor-core/tests/support/gbnf.rs"]
mod gbnf;

#[path = "../../instructor-core/tests/support/corpus_types.rs"]
mod corpus_types;

use std::sync::OnceLock;

use corpus_types::*;
use instructor_core::{Chunk, FinishReason, Llm, LoopCut, Message, Request, ResponseModel};
use instructor_llama::Llama;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde::Serialize;

fn llama() -> &'static Llama {
    static LLAMA: OnceLock<Llama> = OnceLock::new();
    LLAMA.get_or_init(|| {
        match Llama::builder()
            .model_path(default_model())
            .n_ctx(4096)
            .build()
        {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    })
}

fn default_model() -> std::path::PathBuf {
    Llama::default_model().unwrap_or_else(|e| panic!("{e}"))
}

/// A finished generation with the loops the guard cut.
struct Done {
    text: String,
    finish: FinishReason,
    cuts: Vec<LoopCut>,
}

fn complete(request: &Request<'_>) -> Result<Done, instructor_core::LlmError> {
    let mut stream = llama().generate(request)?;
    let mut text = String::new();
    while let Some(chunk) = stream.next_chunk() {
        let chunk: Chunk = chunk?;
        chunk.apply_to(&mut text);
    }
    Ok(Done {
        text,
        finish: stream.finish().0,
        cuts: stream.loops_cut().to_vec(),
    })
}

/// What one type's generation gave.
enum Outcome {
    /// Ended on its own and deserialized.
    Parsed,
    /// Cut at `max_tokens`, still inside the grammar.
    Looped(String),
}

/// Asks the model to copy a sample value of `T` and checks what comes back.
fn generate<T>() -> Outcome
where
    T: ResponseModel + Serialize + proptest::arbitrary::Arbitrary,
{
    let name = std::any::type_name::<T>();
    let mut runner = TestRunner::deterministic();
    let sample = proptest::arbitrary::any::<T>()
        .new_tree(&mut runner)
        .expect("sample")
        .current();
    // Through text: `serde_json::Value` cannot hold a u128, its text can.
    let sample: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&sample).expect("serialize")).expect("reparse");
    let sample = readable(sample, &mut 0).to_string();
    let schema = instructor_core::json_schema::<T>().to_string();
    let messages = [
        Message::system(format!(
            "Answer with JSON matching this JSON Schema: {schema}"
        )),
        Message::user(format!("Repeat this JSON value exactly: {sample}")),
    ];
    let request = Request::new(&messages)
        .grammar(T::GBNF)
        .max_tokens(768)
        .repeats_allowed(T::repeats_allowed);
    let done = complete(&request).unwrap_or_else(|e| panic!("{name}: {e}"));
    for cut in &done.cuts {
        eprintln!(
            "{name}: repetition guard cut a {} at {} ({} tokens): {:?}",
            cut.kind, cut.path, cut.tokens_dropped, cut.dropped
        );
    }
    let recognizer = gbnf::Grammar::parse(T::GBNF).unwrap_or_else(|e| panic!("{name}: {e}"));
    match done.finish {
        FinishReason::Stop => {
            assert!(
                recognizer.accepts(&done.text),
                "{name}: output outside the grammar: {}",
                done.text
            );
            if let Err(e) = serde_json::from_str::<T>(&done.text) {
                panic!(
                    "{name}: the model's output does not deserialize ({e}): {}",
                    done.text
                );
            }
            Outcome::Parsed
        }
        FinishReason::Length => {
            assert!(
                recognizer.accepts_prefix(&done.text),
                "{name}: cut output outside the grammar: {}",
                done.text
            );
            Outcome::Looped(done.text)
        }
    }
}

/// The sample as a prompt hint a small model can copy: random Unicode strings become short
/// words and long lists and maps are cut (a small model copying a long map tends to go on
/// inventing entries). (The hint need not be valid: the grammar decides the shape.)
fn readable(v: serde_json::Value, n: &mut usize) -> serde_json::Value {
    use serde_json::Value;
    const WORDS: [&str; 8] = [
        "alpha", "Bravo", "city", "Delta 4", "echo", "Foxtrot", "golf", "hotel",
    ];
    let word = |n: &mut usize| {
        *n += 1;
        WORDS[*n % WORDS.len()].to_string()
    };
    match v {
        Value::String(s) if s.chars().count() == 1 => Value::String("x".into()),
        Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => Value::String(s),
        Value::String(_) => Value::String(word(n)),
        Value::Array(items) => {
            Value::Array(items.into_iter().take(4).map(|x| readable(x, n)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .take(3)
                .map(|(k, x)| {
                    let plain = k
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    let k = if plain && !k.is_empty() { k } else { word(n) };
                    (k, readable(x, n))
                })
                .collect(),
        ),
        other => other,
    }
}

macro_rules! corpus {
    ($($t:ty,)*) => {
        #[test]
        fn every_corpus_type_generates_within_its_grammar_and_parses() {
            let mut looped = Vec::new();
            let mut total = 0;
            $(
                total += 1;
                if let Outcome::Looped(text) = generate::<$t>() {
                    let head: String = text.chars().take(160).collect();
                    eprintln!("{} ran into max_tokens (repetition loop): {head}…", stringify!($t));
                    looped.push(stringify!($t));
                }
            )*
            eprintln!("{} of {total} corpus types completed and parsed", total - looped.len());
            assert!(looped.is_empty(), "types that never finished: {looped:?}");
        }
    };
}

corpus! {
    UserDetail,
    Address,
    LineItem,
    Order,
    Sentiment,
    Shape,
    Event,
    Envelope,
    Loose,
    Renamed,
    WithDefaults,
    AllDefault,
    Skipping,
    Maps,
    Tuples,
    Meters,
    Pairish,
    Boxed,
    AnyJson,
    Constrained,
    Deep,
    Command,
    Strict,
    Priority,
    Ticket,
}
