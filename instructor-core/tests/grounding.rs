//! Grounded fields (`verbatim`, `choices`): the rules the extraction fills in, checked with the
//! independent GBNF recognizer, and the extraction loop (retries, streaming, missing sets)
//! against a scripted backend that records what it was sent.

#[path = "support/gbnf.rs"]
mod gbnf;

use std::sync::Mutex;

use instructor_core::__private::verbatim_rules;
use instructor_core::{
    Chunk, Error, Extractor, FinishReason, Grounding, Llm, LlmError, Message, Request,
    ResponseModel, StreamEvent, TokenStream, Usage,
};
use proptest::prelude::*;

/// A newtype of `String` that can be a verbatim field.
#[derive(Debug, PartialEq, serde::Deserialize, ResponseModel)]
struct Name(String);

#[derive(Debug, PartialEq, serde::Deserialize, ResponseModel)]
struct Quote {
    #[instructor(verbatim)]
    speaker: String,
    /// The exact words.
    #[instructor(verbatim)]
    quote: Option<String>,
    #[instructor(choices = "topics")]
    topic: String,
    #[instructor(choices = "topics")]
    tags: Vec<String>,
    #[instructor(verbatim)]
    names: Vec<Name>,
}

const TEXT: &str = "Extract: `The mayor said \"We plant trees\" at noon.`";

/// Replays scripted answers (ignoring the grammar, like a JSON-Schema-only server) and records
/// each request's grammar and schema.
struct Scripted {
    answers: Mutex<Vec<String>>,
    grammars: Mutex<Vec<String>>,
    schemas: Mutex<Vec<serde_json::Value>>,
    messages: Mutex<Vec<Vec<Message>>>,
}

impl Scripted {
    fn new(answers: &[&str]) -> Self {
        Scripted {
            answers: Mutex::new(answers.iter().rev().map(|a| a.to_string()).collect()),
            grammars: Mutex::new(Vec::new()),
            schemas: Mutex::new(Vec::new()),
            messages: Mutex::new(Vec::new()),
        }
    }
    fn grammars(&self) -> Vec<String> {
        self.grammars.lock().unwrap().clone()
    }
}

struct Replay(Vec<String>);

impl TokenStream for Replay {
    fn next_chunk(&mut self) -> Option<Result<Chunk, LlmError>> {
        if self.0.is_empty() {
            return None;
        }
        Some(Ok(Chunk::Text(self.0.remove(0))))
    }
    fn finish(&self) -> (FinishReason, Usage) {
        (FinishReason::Stop, Usage::default())
    }
}

impl Llm for Scripted {
    fn generate<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> Result<Box<dyn TokenStream + 'a>, LlmError> {
        let grammar = request.grammar.unwrap_or_default().to_owned();
        self.grammars.lock().unwrap().push(grammar);
        if let Some(s) = request.json_schema {
            self.schemas.lock().unwrap().push(s.clone());
        }
        self.messages
            .lock()
            .unwrap()
            .push(request.messages.to_vec());
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop()
            .ok_or_else(|| LlmError::Backend("script exhausted".into()))?;
        let chars: Vec<char> = answer.chars().collect();
        Ok(Box::new(Replay(
            chars.chunks(4).map(|c| c.iter().collect()).collect(),
        )))
    }
}

fn recognizer(src: &str) -> gbnf::Grammar {
    gbnf::Grammar::parse(src).unwrap_or_else(|e| panic!("grammar should parse: {e}\n{src}"))
}

const GOOD: &str = r#"{"speaker": "The mayor", "quote": "We plant trees", "topic": "science", "tags": ["politics"], "names": ["mayor"]}"#;

#[test]
fn the_compile_time_grammar_refers_to_rules_it_does_not_define() {
    assert!(Quote::GBNF.contains("verbatim--src"), "{}", Quote::GBNF);
    assert!(!Quote::GBNF.contains("verbatim--src ::="));
    let names: Vec<String> = Quote::GRAMMAR
        .externals()
        .iter()
        .map(|e| e.rule().as_str().to_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"verbatim--src".to_owned()));
    assert!(names.iter().any(|n| n.starts_with("choices--topics-")));
    // Types without grounded fields keep their constant grammar.
    assert!(<Vec<String> as ResponseModel>::GRAMMAR
        .externals()
        .is_empty());
}

#[test]
fn the_filled_grammar_accepts_copies_and_given_choices_only() {
    let llm = Scripted::new(&[GOOD]);
    let q: Quote = Extractor::new(&llm)
        .choices("topics", ["politics", "science"])
        .extract(TEXT)
        .unwrap();
    assert_eq!(q.speaker, "The mayor");
    let grammar = &llm.grammars()[0];
    assert_eq!(grammar.matches("verbatim--src ::=").count(), 1);
    let g = recognizer(grammar);
    assert!(g.accepts(GOOD));
    for bad in [
        // Not in the text.
        GOOD.replace("The mayor", "The major"),
        // Not a given choice.
        GOOD.replace("\"science\"", "\"sports\""),
        GOOD.replace("[\"politics\"]", "[\"politics\", \"art\"]"),
        // The quote's own quotation marks are in the text; other escapes of them are not.
        GOOD.replace("We plant trees", "\\\"We plant trees\\u0022"),
    ] {
        assert!(!g.accepts(&bad), "should reject {bad}");
    }
    let escaped = GOOD.replace("We plant trees", "\\\"We plant trees\\\" at noon.");
    assert!(g.accepts(&escaped), "{escaped}");
    // The schema carries the set and the note.
    let schema = llm.schemas.lock().unwrap()[0].to_string();
    assert!(
        schema.contains(r#""enum":["politics","science"]"#),
        "{schema}"
    );
    assert!(
        schema.contains("Copied verbatim from the input."),
        "{schema}"
    );
    assert!(!schema.contains("x-instructor-choices"), "{schema}");
}

#[test]
fn a_missing_choice_set_fails_before_generating() {
    let llm = Scripted::new(&[GOOD]);
    let err = Extractor::new(&llm).extract::<Quote>(TEXT).unwrap_err();
    assert!(
        matches!(&err, Error::MissingChoices { name } if name == "topics"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("Extractor::choices(\"topics\""),
        "{err}"
    );
    assert!(llm.grammars().is_empty(), "nothing was generated");
    let err = Extractor::new(&llm)
        .choices("topics", Vec::<String>::new())
        .extract::<Quote>(TEXT)
        .unwrap_err();
    assert!(matches!(err, Error::EmptyChoices { .. }), "{err:?}");
    let items: Vec<_> = Extractor::new(&llm).extract_iter::<Quote>(TEXT).collect();
    assert!(
        matches!(items[..], [Err(Error::MissingChoices { .. })]),
        "{items:?}"
    );
    assert!(llm.grammars().is_empty());
}

#[test]
fn validation_re_asks_when_a_backend_ignores_the_grammar() {
    let invented = GOOD.replace("The mayor", "Mayor Smith");
    let off_list = GOOD.replace("\"science\"", "\"sports\"");
    let llm = Scripted::new(&[&invented, &off_list, GOOD]);
    let done = Extractor::new(&llm)
        .choices("topics", ["politics", "science"])
        .extract_with_report::<Quote>(TEXT)
        .unwrap();
    let errors: Vec<String> = done
        .report
        .failed_attempts
        .iter()
        .map(|a| a.error_messages().join("; "))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("speaker: must be copied verbatim"),
        "{errors:?}"
    );
    assert!(errors[1].contains("topic: must be one of"), "{errors:?}");
    // Re-ask messages are not sources, and the rules are built once: every attempt gets the
    // same grammar.
    let grammars = llm.grammars();
    assert_eq!(grammars.len(), 3);
    assert!(grammars.iter().all(|g| g == &grammars[0]));
}

#[test]
fn list_items_are_checked_one_by_one() {
    let bad_item = GOOD.replace("[\"mayor\"]", "[\"mayor\", \"trees\", \"forest\"]");
    let llm = Scripted::new(&[&bad_item]);
    let err = Extractor::new(&llm)
        .choices("topics", ["politics", "science"])
        .max_retries(1)
        .extract::<Quote>(TEXT)
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("names[2]: must be copied verbatim"), "{text}");
    assert!(!text.contains("names[1]"), "{text}");
}

#[test]
fn a_separate_source_replaces_the_user_messages() {
    let llm = Scripted::new(&[GOOD, GOOD]);
    let err = Extractor::new(&llm)
        .choices("topics", ["politics", "science"])
        .verbatim_source("We plant trees, said the mayor.")
        .max_retries(1)
        .extract::<Quote>(TEXT)
        .unwrap_err();
    // "The mayor" is in the instruction, not in the document.
    assert!(err.to_string().contains("speaker: must be copied"), "{err}");
    let g = recognizer(&llm.grammars()[0]);
    assert!(!g.accepts(GOOD));
    assert!(g.accepts(&GOOD.replace("The mayor", "the mayor")));
}

#[test]
fn streaming_works_with_grounded_fields() {
    let llm = Scripted::new(&[GOOD]);
    let mut partials = 0;
    let mut done = None;
    for event in Extractor::new(&llm)
        .choices("topics", ["politics", "science"])
        .extract_stream::<Quote>(TEXT)
    {
        match event.unwrap() {
            StreamEvent::Partial(_) => partials += 1,
            StreamEvent::Retry(a) => panic!("unexpected retry {a:?}"),
            StreamEvent::Done(d) => done = Some(d.value),
        }
    }
    assert!(partials > 3, "{partials}");
    assert_eq!(done.unwrap().names, vec![Name("mayor".into())]);
}

#[test]
fn item_streams_check_each_item_against_the_source() {
    let second = GOOD.replace("The mayor", "A farmer");
    let list = format!("[{GOOD}, {second}, {GOOD}]");
    let llm = Scripted::new(&[&list]);
    let items: Vec<Result<Quote, Error>> = Extractor::new(&llm)
        .choices("topics", ["politics", "science"])
        .extract_iter::<Quote>(TEXT)
        .collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(items[0].is_ok() && items[2].is_ok(), "{items:?}");
    assert!(
        matches!(&items[1], Err(Error::InvalidItem { index: 1, errors, .. }) if errors[0].to_string().contains("speaker")),
        "{items:?}"
    );
    let g = recognizer(&llm.grammars()[0]);
    assert!(g.accepts(&format!("[{GOOD}, {GOOD}]")));
    assert!(!g.accepts(&list));
}

#[test]
fn validation_outside_an_extraction_uses_a_given_grounding() {
    let q: Quote = serde_json::from_str(GOOD).unwrap();
    assert!(
        instructor_core::validate(&q).is_ok(),
        "no source: nothing to check"
    );
    let g = Grounding::new(
        ["The mayor said".to_owned()],
        [("topics".to_owned(), vec!["science".to_owned()])],
    );
    let errors = instructor_core::validate_grounded(&q, None, Some(&g)).unwrap_err();
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors.iter().filter(|e| e.starts_with("quote:")).count(),
        1,
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("tags[0]:")),
        "{errors:?}"
    );
    assert!(
        !errors.iter().any(|e| e.starts_with("speaker")),
        "{errors:?}"
    );
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn substrings(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    for i in 0..=chars.len() {
        for j in i..=chars.len() {
            out.push(chars[i..j].iter().collect());
        }
    }
    out
}

/// Characters that stress the escaping: quotes, backslashes, newlines and other control
/// characters, a slash, multi-byte UTF-8, and repeats so the automaton gets clones.
fn tricky() -> impl Strategy<Value = String> {
    let alphabet = prop::sample::select(vec![
        'a', 'b', 'a', ' ', '"', '\\', '\n', '\r', '\t', '\u{1}', '\u{7f}', '/', 'é', '€', '😀',
    ]);
    prop::collection::vec(alphabet, 0..12).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn verbatim_accepts_exactly_the_substrings(
        sources in prop::collection::vec(tricky(), 1..3),
        probes in prop::collection::vec(tricky(), 8),
    ) {
        let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
        let g = recognizer(&format!("root ::= verbatim--src\n{}", verbatim_rules(&refs)));
        for s in &sources {
            for sub in substrings(s) {
                prop_assert!(g.accepts(&json(&sub)), "{sub:?} of {s:?}");
            }
        }
        for p in probes.iter().chain(substrings(&sources.concat()).iter()) {
            let is_sub = sources.iter().any(|s| s.contains(p.as_str()));
            prop_assert_eq!(g.accepts(&json(p)), is_sub, "{:?} in {:?}", p, sources);
        }
        // Raw text, unquoted or not escaped as serde_json escapes it, is never accepted.
        for s in &sources {
            if s.contains(['"', '\\', '\n']) {
                let raw = format!("\"{s}\"");
                prop_assert!(!g.accepts(&raw), "{:?}", raw);
            }
        }
    }

    #[test]
    fn choices_accept_exactly_the_given_values(
        values in prop::collection::vec(tricky(), 1..5),
        probes in prop::collection::vec(tricky(), 8),
    ) {
        let llm = Scripted::new(&[]);
        #[derive(Debug, serde::Deserialize, ResponseModel)]
        struct Pick {
            #[instructor(choices = "set")]
            pick: String,
        }
        let _ = Extractor::new(&llm).choices("set", values.clone()).extract::<Pick>("x");
        let g = recognizer(&llm.grammars()[0]);
        for v in values.iter().chain(&probes) {
            let answer = format!("{{\"pick\": {}}}", json(v));
            prop_assert_eq!(g.accepts(&answer), values.contains(v), "{}", answer);
        }
    }
}

#[test]
fn the_prompt_keeps_field_descriptions_without_the_verbatim_note() {
    // The note is for schema-only servers; in the prompt it made both bench models copy more
    // than the field holds ("Jason is 30 years old" for a name).
    let llm = Scripted::new(&[GOOD]);
    Extractor::new(&llm)
        .choices("topics", ["politics", "science"])
        .extract::<Quote>(TEXT)
        .unwrap();
    let system = llm.messages.lock().unwrap()[0][0].content.clone();
    assert!(system.contains("- quote: The exact words."), "{system}");
    assert!(!system.contains("Copied verbatim"), "{system}");
    assert!(!system.contains("- speaker"), "{system}");
    let schema = llm.schemas.lock().unwrap()[0].to_string();
    assert!(
        schema.contains("The exact words. Copied verbatim from the input."),
        "{schema}"
    );
}
