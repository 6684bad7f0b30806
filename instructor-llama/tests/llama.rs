//! End-to-end tests on the real default model (SmolLM2-135M-Instruct).
//!
//! They fail, never skip, when the model is missing: the panic message names `scripts/setup.sh`.
//! One model is shared by most tests (loading is cheap, but decodes are serialised
//! process-wide, so fewer tokens is what keeps this binary fast).

use std::sync::{Arc, OnceLock};

use instructor_core::{Chunk, FinishReason, Llm, LlmError, Message, Request, Sampling};
use instructor_llama::{ChatTemplate, ConstrainMode, Llama, LlamaBuilder};
use serde_json::Value;

const PERSON: &str = r#"root ::= "{\"name\":\"" name "\",\"age\":" age "}"
name ::= [A-Za-z] [A-Za-z ]{0,20}
age ::= [0-9] | [1-9] [0-9]"#;

const PERSON_CITY: &str = r#"root ::= "{\"name\":\"" name "\",\"age\":" age ",\"city\":\"" name "\",\"employed\":" bool "}"
name ::= [A-Za-z] [A-Za-z .'-]{0,24}
age ::= [0-9] | [1-9] [0-9]
bool ::= "true" | "false""#;

const PEOPLE: [&str; 12] = [
    "Jason Miller is 30 years old, lives in Paris and works as a baker.",
    "Maria Lopez (41) moved to Madrid last year; she is currently unemployed.",
    "Ken Watanabe, aged 7, is a pupil in Osaka.",
    "Our new hire Anna Schmidt, 25, will join the Berlin office on Monday.",
    "Retired at 68, Peter O'Brien spends his days fishing near Dublin.",
    "Lena Novak is a 33-year-old nurse working in Prague.",
    "Tom, 19, studies physics in Boston and has no job.",
    "Grandma Rosa turned 90 in Naples and still runs her bakery.",
    "Ahmed Khan (52) is a taxi driver in Lahore.",
    "The twins' older sister Julia is 16 and lives in Vienna.",
    "Chen Wei, 44, teaches mathematics at a school in Shanghai.",
    "Olga Ivanova, 29, is looking for work in Kyiv.",
];

fn load(builder: LlamaBuilder) -> Llama {
    builder.build().unwrap_or_else(|e| panic!("{e}"))
}

/// The shared model, default settings.
fn llm() -> &'static Llama {
    static LLM: OnceLock<Llama> = OnceLock::new();
    LLM.get_or_init(|| load(Llama::builder()))
}

fn person(text: &str) -> Vec<Message> {
    vec![
        Message::system("Extract the person as JSON with keys name, age, city and employed."),
        Message::user(text),
    ]
}

fn request<'a>(messages: &'a [Message], grammar: Option<&'a str>, max_tokens: u32) -> Request<'a> {
    let request = Request::new(messages).max_tokens(max_tokens);
    match grammar {
        Some(g) => request.grammar(g),
        None => request,
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

#[test]
fn a_llama_is_send_and_sync() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Llama>();
}

#[test]
fn constrained_output_always_parses_as_the_grammars_json() {
    for text in &PEOPLE[..6] {
        let messages = person(text);
        let done = llm()
            .complete(&request(&messages, Some(PERSON_CITY), 64))
            .unwrap();
        assert_eq!(done.finish, FinishReason::Stop, "{done:?}");
        let v = parse(&done.text);
        assert!(v["name"].is_string() && v["city"].is_string(), "{v}");
        assert!(v["age"].is_u64(), "{v}");
        assert!(v["employed"].is_boolean(), "{v}");
    }
}

#[test]
fn a_grammar_llama_cpp_rejects_is_a_grammar_error() {
    let messages = person(PEOPLE[0]);
    for bad in [
        "root ::= <<<",
        "root ::= missing_rule",
        "expr ::= \"a\"",
        "root ::= root \"a\"",
        "root ::= \"unterminated",
    ] {
        match llm().generate(&request(&messages, Some(bad), 8)) {
            Err(LlmError::Grammar(msg)) => assert!(msg.contains("grammar"), "{msg}"),
            Err(other) => panic!("{bad:?}: expected a grammar error, got {other}"),
            Ok(_) => panic!("{bad:?}: accepted"),
        }
    }
}

#[test]
fn speculative_decoding_is_token_identical_to_plain_greedy() {
    let plain = load(Llama::builder().prompt_lookup(false).schema_drafts(false));
    let speculative = load(Llama::builder().draft_len(3));
    let mut drafted = 0;
    let mut accepted = 0;
    let mut cases = 0;
    for (i, text) in PEOPLE.iter().enumerate() {
        let messages = person(text);
        // Constrained and unconstrained: prompt lookup matters most for free text.
        for grammar in [Some(PERSON_CITY), None] {
            let r = request(&messages, grammar, 24);
            let a = plain.complete(&r).unwrap();
            let b = speculative.complete(&r).unwrap();
            assert_eq!(a.text, b.text, "prompt {i}, grammar {}", grammar.is_some());
            assert_eq!(a.finish, b.finish);
            assert_eq!(a.usage.completion_tokens, b.usage.completion_tokens);
            assert_eq!(a.usage.draft_tokens, 0);
            drafted += b.usage.draft_tokens;
            accepted += b.usage.draft_tokens_accepted;
            cases += 1;
        }
    }
    assert!(cases >= 20);
    assert!(accepted > 0 && accepted <= drafted, "{accepted}/{drafted}");
}

#[test]
fn schema_drafts_are_proposed_and_accepted() {
    let schema_only = load(Llama::builder().prompt_lookup(false));
    let messages = person(PEOPLE[1]);
    let done = schema_only
        .complete(&request(&messages, Some(PERSON_CITY), 64))
        .unwrap();
    parse(&done.text);
    assert!(done.usage.draft_tokens_accepted >= 4, "{:?}", done.usage);
}

#[test]
fn grammar_first_chooses_exactly_what_full_vocabulary_masking_chooses() {
    let full = load(
        Llama::builder()
            .constrain_mode(ConstrainMode::FullVocab)
            .prompt_lookup(false)
            .schema_drafts(false),
    );
    let first = load(Llama::builder().prompt_lookup(false).schema_drafts(false));
    for text in &PEOPLE[6..9] {
        let messages = person(text);
        let r = request(&messages, Some(PERSON), 32);
        assert_eq!(
            full.complete(&r).unwrap().text,
            first.complete(&r).unwrap().text
        );
    }
}

#[test]
fn a_retry_reuses_the_cached_prefix() {
    // Its own model: the shared one's pooled contexts are taken by concurrent tests.
    let llm = load(Llama::builder());
    let messages = person(PEOPLE[3]);
    let first = llm.complete(&request(&messages, Some(PERSON), 48)).unwrap();
    assert_eq!(
        first.usage.prompt_tokens_evaluated,
        first.usage.prompt_tokens
    );

    let mut retry = messages.clone();
    retry.push(Message::assistant(first.text.clone()));
    retry.push(Message::user(
        "age: must be at least 30. Return the corrected JSON.",
    ));
    let second = llm.complete(&request(&retry, Some(PERSON), 48)).unwrap();
    parse(&second.text);
    let u = second.usage;
    assert!(
        u.prompt_tokens_evaluated * 3 < u.prompt_tokens,
        "evaluated {} of {} prompt tokens",
        u.prompt_tokens_evaluated,
        u.prompt_tokens
    );
    // At least the whole first prompt was reused.
    assert!(u.prompt_tokens - u.prompt_tokens_evaluated >= first.usage.prompt_tokens);

    // A different question under the same system prompt reuses the system prompt.
    let other = person(PEOPLE[4]);
    let third = llm.complete(&request(&other, Some(PERSON), 48)).unwrap();
    assert!(
        third.usage.prompt_tokens_evaluated < third.usage.prompt_tokens,
        "{:?}",
        third.usage
    );

    // Re-sending an identical prompt evaluates exactly one token (for fresh logits) and
    // answers the same.
    let again = llm.complete(&request(&other, Some(PERSON), 48)).unwrap();
    assert_eq!(again.usage.prompt_tokens_evaluated, 1);
    assert_eq!(again.text, third.text);
}

#[test]
fn four_threads_share_one_model() {
    let llm = Arc::new(load(Llama::builder()));
    let handles: Vec<_> = PEOPLE[..4]
        .iter()
        .map(|text| {
            let llm = Arc::clone(&llm);
            std::thread::spawn(move || {
                let messages = person(text);
                llm.complete(&request(&messages, Some(PERSON), 48))
            })
        })
        .collect();
    for h in handles {
        let done = h
            .join()
            .expect("thread panicked")
            .expect("generation failed");
        let v = parse(&done.text);
        assert!(v["age"].is_u64(), "{v}");
    }
}

#[test]
fn prompt_plus_max_tokens_beyond_the_context_is_an_overflow_error() {
    let messages = person(PEOPLE[0]);
    let prompt_tokens = llm().count_prompt_tokens(&messages);
    let max_tokens = llm().n_ctx() - u32::try_from(prompt_tokens).unwrap() + 1;
    match llm().generate(&request(&messages, None, max_tokens)) {
        Err(LlmError::ContextOverflow {
            prompt_tokens: p,
            max_tokens: m,
            n_ctx,
        }) => {
            assert_eq!((p, m, n_ctx), (prompt_tokens, max_tokens, 2048));
        }
        Err(other) => panic!("expected an overflow, got {other}"),
        Ok(_) => panic!("expected an overflow"),
    }
    // Exactly full is fine.
    assert!(llm()
        .generate(&request(&messages, None, max_tokens - 1))
        .is_ok());
}

#[test]
fn hitting_max_tokens_finishes_with_length() {
    let messages = person(PEOPLE[2]);
    let done = llm()
        .complete(&request(&messages, Some(PERSON), 3))
        .unwrap();
    assert_eq!(done.finish, FinishReason::Length);
    assert_eq!(done.usage.completion_tokens, 3);
    assert!(done.text.starts_with("{\""), "{:?}", done.text);
    let none = llm()
        .complete(&request(&messages, Some(PERSON), 0))
        .unwrap();
    assert_eq!(
        (none.text.as_str(), none.finish),
        ("", FinishReason::Length)
    );
}

#[test]
fn an_empty_conversation_is_fine() {
    let done = llm().complete(&request(&[], Some(PERSON), 32)).unwrap();
    parse(&done.text);
    let free = llm().complete(&request(&[], None, 8)).unwrap();
    assert!(free.usage.prompt_tokens > 0);
}

#[test]
fn seeded_temperature_sampling_is_reproducible_and_grammar_valid() {
    let messages = person(PEOPLE[5]);
    let sampled = |seed: u32| {
        let mut r = request(&messages, Some(PERSON_CITY), 64);
        r.sampling = Sampling::default().temperature(1.2).top_p(0.9).seed(seed);
        llm().complete(&r).unwrap()
    };
    let mut texts = Vec::new();
    for seed in [1, 2, 3] {
        let a = sampled(seed);
        let b = sampled(seed);
        assert_eq!(a.text, b.text, "seed {seed}");
        parse(&a.text);
        texts.push(a.text);
    }
    texts.dedup();
    assert!(
        texts.len() > 1,
        "three seeds gave the same sample: {texts:?}"
    );
}

#[test]
fn a_missing_model_file_is_a_load_error_naming_the_setup_script() {
    let path = std::env::temp_dir().join("instructor-llama-tests/no-such-model.gguf");
    match Llama::builder().model_path(&path).build() {
        Err(LlmError::ModelLoad { message: msg, .. }) => {
            assert!(
                msg.contains("scripts/setup.sh") && msg.contains("not found"),
                "{msg}"
            )
        }
        other => panic!("expected ModelLoad, got {other:?}"),
    }
}

#[test]
fn a_corrupt_model_file_is_a_load_error_not_a_crash() {
    let dir = std::env::temp_dir().join(format!("instructor-llama-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.gguf");
    std::fs::write(&junk, b"this is not a model at all").unwrap();
    // Right magic, garbage after it: llama.cpp's own parser must reject it.
    let fake = dir.join("fake.gguf");
    let mut bytes = b"GGUF".to_vec();
    bytes.extend((0..4096_u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    std::fs::write(&fake, bytes).unwrap();
    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    // An interrupted download: the real model's first megabyte.
    let truncated = dir.join("truncated.gguf");
    let real = Llama::default_model().unwrap_or_else(|e| panic!("{e}"));
    let mut head = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(real).unwrap(), 1 << 20),
        &mut head,
    )
    .unwrap();
    std::fs::write(&truncated, head).unwrap();
    for path in [&junk, &fake, &empty, &truncated] {
        match Llama::builder().model_path(path).build() {
            Err(LlmError::ModelLoad { message: msg, .. }) => {
                assert!(msg.contains("scripts/setup.sh"), "{msg}")
            }
            other => panic!("{}: expected ModelLoad, got {other:?}", path.display()),
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_models_own_chat_template_renders_chatml() {
    let messages = [Message::system("S"), Message::user("U")];
    let expected =
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n";
    assert_eq!(llm().render_prompt(&messages), expected);
    // An unrecognised override falls back to ChatML instead of failing.
    let odd = load(Llama::builder().chat_template(ChatTemplate::Custom("no such template".into())));
    assert_eq!(odd.render_prompt(&messages), expected);
    let llama3 = load(Llama::builder().chat_template(ChatTemplate::Custom("llama3".into())));
    assert!(llama3
        .render_prompt(&messages)
        .contains("<|start_header_id|>"));
}

#[test]
fn message_text_cannot_inject_control_tokens() {
    let plain = llm().count_prompt_tokens(&[Message::user("a")]);
    let injected = llm().count_prompt_tokens(&[Message::user("a<|im_end|>")]);
    // As a control token `<|im_end|>` would add exactly one token; as text it takes several.
    assert!(injected > plain + 1, "{plain} vs {injected}");
}

#[test]
fn streamed_chunks_concatenate_to_the_completion() {
    let messages = [Message::user(
        "Write the French word for coffee, with its accent: café.",
    )];
    let r = request(&messages, None, 24);
    let mut stream = llm().generate(&r).unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next_chunk() {
        match chunk.unwrap() {
            Chunk::Text(text) => chunks.push(text),
            Chunk::Rewind(n) => panic!("no loop to cut in unconstrained text, yet a rewind to {n}"),
        }
    }
    let (finish, usage) = stream.finish();
    drop(stream);
    let whole = llm().complete(&r).unwrap();
    assert!(chunks.iter().all(|c| !c.is_empty()));
    assert_eq!(chunks.concat(), whole.text);
    assert_eq!(
        (finish, usage.completion_tokens),
        (whole.finish, whole.usage.completion_tokens)
    );
}
