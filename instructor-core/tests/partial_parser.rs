//! The incremental JSON parser, its typed accumulator and the list splitter, checked against
//! `serde_json` as the oracle.
//!
//! The central property: however the text is cut into chunks, the parser reports the same events
//! (once adjacent string pieces are merged), every `End { raw }` is exactly the JSON of the
//! sub-value at its path, and snapshots only ever grow towards the final value.

use std::collections::{BTreeMap, HashMap};

use instructor_core::__private::partial::{ItemSplitter, PartialParser};
use instructor_core::{Event, ResponseModel, Seg};
use instructor_core::{JsonError, PartialValue};
use proptest::prelude::*;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Owned events and a recorder.

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum P {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    ObjectStart,
    ArrayStart,
    Str(String),
    End(String),
}

type Record = (Vec<P>, Ev);

fn own(path: &[Seg<'_>], event: &Event<'_>) -> Record {
    let path = path
        .iter()
        .map(|s| match s {
            Seg::Key(k) => P::Key((*k).to_owned()),
            Seg::Index(i) => P::Index(*i),
        })
        .collect();
    let event = match event {
        Event::ObjectStart => Ev::ObjectStart,
        Event::ArrayStart => Ev::ArrayStart,
        Event::Str(s) => Ev::Str((*s).to_owned()),
        Event::End { raw, .. } => Ev::End((*raw).to_owned()),
    };
    (path, event)
}

/// What feeding a list of chunks produced.
struct Run {
    events: Vec<Record>,
    /// `is_complete()` after each chunk.
    complete: Vec<bool>,
    result: Result<(), JsonError>,
    text: String,
}

fn run(chunks: &[&str]) -> Run {
    let mut parser = PartialParser::new();
    let mut events = Vec::new();
    let mut complete = Vec::new();
    let mut result = Ok(());
    let mut spans = Vec::new();
    for chunk in chunks {
        let r = parser.feed(chunk, &mut |p, e| {
            if let Event::End { raw, start } = e {
                spans.push((*start, (*raw).to_owned()));
            }
            events.push(own(p, e))
        });
        complete.push(parser.is_complete());
        if result.is_ok() {
            result = r;
        } else {
            // Once failed, always failed, with the same error.
            assert_eq!(r, result, "a later feed must repeat the first error");
        }
    }
    // Every value's `start` is where its raw text sits in all the text fed.
    for (start, raw) in spans {
        assert_eq!(
            parser.text().get(start..start + raw.len()),
            Some(raw.as_str())
        );
    }
    Run {
        events,
        complete,
        result,
        text: parser.text().to_owned(),
    }
}

/// Merges adjacent `Str` pieces of the same value, which depend on where chunks were cut.
fn merged(events: &[Record]) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for (path, event) in events {
        if let (Ev::Str(more), Some((last_path, Ev::Str(text)))) = (event, out.last_mut()) {
            if last_path == path {
                text.push_str(more);
                continue;
            }
        }
        out.push((path.clone(), event.clone()));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Chunkings.

fn boundaries(doc: &str) -> Vec<usize> {
    (0..=doc.len())
        .filter(|&i| doc.is_char_boundary(i))
        .collect()
}

fn split_at(doc: &str, cuts: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&doc.len())) {
        out.push(doc[last..c].to_owned());
        last = c;
    }
    out
}

/// A tiny deterministic PRNG (xorshift64*) so random chunkings are reproducible without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Every chunking the tests try: whole, one cut at every char boundary, one char per chunk, and
/// random chunk sizes (1 to 8 bytes, moved forward to the next char boundary).
fn chunkings(doc: &str) -> Vec<Vec<String>> {
    let mut all = vec![vec![doc.to_owned()]];
    for &cut in &boundaries(doc) {
        all.push(split_at(doc, &[cut]));
    }
    all.push(doc.chars().map(String::from).collect());
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut cuts = Vec::new();
        let mut at = 0;
        loop {
            at += 1 + rng.below(8) as usize;
            while at < doc.len() && !doc.is_char_boundary(at) {
                at += 1;
            }
            if at >= doc.len() {
                break;
            }
            cuts.push(at);
        }
        all.push(split_at(doc, &cuts));
    }
    all
}

fn refs(chunks: &[String]) -> Vec<&str> {
    chunks.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------------
// The oracle: serde_json's reading of the whole document.

fn at<'v>(root: &'v Value, path: &[P]) -> &'v Value {
    path.iter().fold(root, |v, seg| match (seg, v) {
        (P::Key(k), Value::Object(m)) => &m[k],
        (P::Index(i), Value::Array(a)) => &a[*i],
        _ => panic!("path {path:?} does not exist in {root}"),
    })
}

/// Every path of `v`, sorted.
fn all_paths(v: &Value) -> Vec<Vec<P>> {
    fn walk(v: &Value, path: &mut Vec<P>, out: &mut Vec<Vec<P>>) {
        out.push(path.clone());
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    path.push(P::Key(k.clone()));
                    walk(x, path, out);
                    path.pop();
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    path.push(P::Index(i));
                    walk(x, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out.sort();
    out
}

/// Checks one (merged) event sequence of a valid document against `serde_json`.
fn check_against_serde(doc: &str, events: &[Record]) {
    let whole: Value = serde_json::from_str(doc).unwrap();
    let mut ended = Vec::new();
    for (i, (path, event)) in events.iter().enumerate() {
        let expected = at(&whole, path);
        match event {
            Ev::ObjectStart => assert!(expected.is_object(), "{doc}: ObjectStart at {path:?}"),
            Ev::ArrayStart => assert!(expected.is_array(), "{doc}: ArrayStart at {path:?}"),
            Ev::Str(text) => {
                assert_eq!(
                    Some(text.as_str()),
                    expected.as_str(),
                    "{doc}: Str at {path:?}"
                );
                assert_eq!(
                    events.get(i + 1).map(|(p, e)| (p, matches!(e, Ev::End(_)))),
                    Some((path, true)),
                    "{doc}: a string's text is followed by its End"
                );
            }
            Ev::End(raw) => {
                let parsed: Value = serde_json::from_str(raw)
                    .unwrap_or_else(|e| panic!("{doc}: raw {raw:?} at {path:?}: {e}"));
                assert_eq!(&parsed, expected, "{doc}: raw at {path:?}");
                assert_eq!(raw.trim(), raw, "{doc}: raw has no surrounding whitespace");
                assert!(
                    doc.contains(raw.as_str()),
                    "{doc}: raw {raw:?} is a slice of the text"
                );
                ended.push(path.clone());
            }
        }
    }
    ended.sort();
    let mut paths = all_paths(&whole);
    if is_top_number(doc) && doc.trim_end() == doc {
        // Nothing after a top-level number says it is over.
        paths.retain(|p| !p.is_empty());
    }
    assert_eq!(ended, paths, "{doc}: every value ends exactly once");
}

fn is_top_number(doc: &str) -> bool {
    doc.trim_start()
        .starts_with(|c: char| c == '-' || c.is_ascii_digit())
}

/// Whether `is_complete` should hold once the first `fed` bytes of a valid `doc` are in.
fn expect_complete(doc: &str, fed: usize) -> bool {
    let end = doc.trim_end().len();
    // A top-level number is only known to be complete when whitespace follows it.
    if is_top_number(doc) {
        fed > end
    } else {
        fed >= end
    }
}

/// The whole property for one valid document.
fn check_valid(doc: &str) {
    let reference = run(&[doc]);
    reference
        .result
        .as_ref()
        .unwrap_or_else(|e| panic!("{doc:?}: {e}"));
    // Merged string pieces equal serde_json's decoded text (checked here), and every chunking
    // gives the same merged events, so no piece ever carried half an escape.
    let expected = merged(&reference.events);
    check_against_serde(doc, &expected);
    for chunks in chunkings(doc) {
        let got = run(&refs(&chunks));
        assert_eq!(got.result, Ok(()), "{doc:?} in chunks {chunks:?}");
        assert_eq!(
            merged(&got.events),
            expected,
            "{doc:?} in chunks {chunks:?}"
        );
        assert_eq!(got.text, doc);
        let mut fed = 0;
        for (chunk, complete) in chunks.iter().zip(&got.complete) {
            fed += chunk.len();
            assert_eq!(
                *complete,
                expect_complete(doc, fed),
                "{doc:?}: is_complete after {fed} bytes"
            );
        }
    }
}

const VALID: &[&str] = &[
    r#"{"name":"Jason","age":30}"#,
    "{\n  \"name\": \"Jason\",\n\t\"tags\" : [ \"a\" , \"b\" ] ,\r\n  \"nested\": {\"x\": [1, [2, [3, {}]]], \"y\": null}\n}\n",
    "[]",
    "{}",
    "[[]]",
    "[{}]",
    r#"{"a":{},"b":[],"":[{}]}"#,
    "  [ ]  ",
    r#""plain""#,
    r#""""#,
    r#""\"\\\/\b\f\n\r\t\u00e9\u00E9\ud83d\ude00\uD83D\uDE00\u0000\u001f""#,
    r#"{"k\u00e9y":1,"a\"b":2,"\ud83d\ude00":"\u20ac"}"#,
    r#"["héllo wörld", "日本語のテキスト", "🎉🦀", "mixed é\u00e9 \ud83e\udd80🦀"]"#,
    r#"[0, -0, 7, -12, 1.5, -0.25, 0.0, 1e10, 1E+2, 2.5e-3, -1.0E-0, 10, 123456789012345678901234567890, 9007199254740993, 1e0]"#,
    "[0,1.25,-3e5]",
    r#"{"n":0}"#,
    r#"{"n":-0.5e+7}"#,
    "[true,false,null]",
    "true",
    "false",
    "null",
    " \"ws\" \n",
    "42 ",
    "-3.5e2\n",
    "[[[[[[[[[[1]]]]]]]]]]",
    r#"[{"a":[{"b":[{"c":"deep"}]}]}]"#,
    r#"{"list":[1,"two",{"three":3},[4],true,null,-5.5],"s":"x"}"#,
    r#"[" ", "\\", "\\\\", "\"", "end\\"]"#,
];

#[test]
fn events_do_not_depend_on_chunking_and_match_serde() {
    for doc in VALID {
        check_valid(doc);
    }
}

#[test]
fn exact_events_for_a_small_document() {
    let doc = r#"{"name": "Ja\u00e9", "tags": [1, {"k": true}], "e": []}"#;
    let got = merged(&run(&[doc]).events);
    let key = |k: &str| P::Key(k.to_owned());
    let expected = vec![
        (vec![], Ev::ObjectStart),
        (vec![key("name")], Ev::Str("Jaé".into())),
        (vec![key("name")], Ev::End(r#""Ja\u00e9""#.into())),
        (vec![key("tags")], Ev::ArrayStart),
        (vec![key("tags"), P::Index(0)], Ev::End("1".into())),
        (vec![key("tags"), P::Index(1)], Ev::ObjectStart),
        (
            vec![key("tags"), P::Index(1), key("k")],
            Ev::End("true".into()),
        ),
        (
            vec![key("tags"), P::Index(1)],
            Ev::End(r#"{"k": true}"#.into()),
        ),
        (vec![key("tags")], Ev::End(r#"[1, {"k": true}]"#.into())),
        (vec![key("e")], Ev::ArrayStart),
        (vec![key("e")], Ev::End("[]".into())),
        (vec![], Ev::End(doc.into())),
    ];
    assert_eq!(got, expected);
}

#[test]
fn string_pieces_follow_the_chunks() {
    // Unmerged: the opening quote gives `Str("")`, then each chunk that decodes characters gives
    // one piece; a chunk that ends inside an escape holds the partial escape back.
    let chunks = ["[\"ab", "c\\", "u00", "e9d\\ud83d", "\\ude00", "!\"]"];
    let got: Vec<Ev> = run(&chunks).events.into_iter().map(|(_, e)| e).collect();
    let s = |t: &str| Ev::Str(t.to_owned());
    assert_eq!(
        got,
        vec![
            Ev::ArrayStart,
            s(""),
            s("ab"),
            s("c"),
            s("éd"),
            s("😀"),
            s("!"),
            Ev::End(r#""abc\u00e9d\ud83d\ude00!""#.into()),
            Ev::End(r#"["abc\u00e9d\ud83d\ude00!"]"#.into()),
        ]
    );
}

#[test]
fn numbers_end_only_at_a_delimiter() {
    let mut parser = PartialParser::new();
    let mut ends = |chunk: &str| {
        let mut ends = Vec::new();
        parser
            .feed(chunk, &mut |_, e| {
                if let Event::End { raw, .. } = e {
                    ends.push((*raw).to_owned())
                }
            })
            .unwrap();
        ends
    };
    for chunk in ["[12", "3", "e", "4"] {
        assert!(ends(chunk).is_empty(), "no End before the delimiter");
    }
    assert_eq!(ends(" "), ["123e4"]);
    assert_eq!(ends("]"), ["[123e4 ]"]);
    assert!(parser.is_complete());

    // A character that cannot follow a number does not complete it first.
    for doc in ["[1x]", "12]", "[1.5e3a]", "-0x"] {
        let got = run(&[doc]);
        assert!(got.result.is_err(), "{doc}");
        assert!(
            got.events.iter().all(|(_, e)| !matches!(e, Ev::End(_))),
            "{doc}: {:?}",
            got.events
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Random documents.

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z\"\\\\/\u{0}-\u{1f}é😀 ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"\\\\é😀\u{1}]{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Re-indents serde_json's pretty output with assorted JSON whitespace, outside strings only.
fn odd_whitespace(doc: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for (n, c) in doc.chars().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            out.push(c);
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            ' ' => out.push(['\t', ' ', '\r'][n % 3]),
            ',' | ':' => {
                out.push(' ');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_documents_in_any_chunking(v in arb_json()) {
        let compact = serde_json::to_string(&v).unwrap();
        // Escapes of every kind, with non-ASCII as `\u` and astral characters as surrogate pairs.
        let ascii = to_ascii_json(&compact);
        let pretty = odd_whitespace(&serde_json::to_string_pretty(&v).unwrap());
        for doc in [compact, ascii, pretty] {
            check_valid(&doc);
        }
    }
}

/// Rewrites every non-ASCII character of a JSON text as `\u` escapes (pairs above U+FFFF). Only
/// strings hold non-ASCII, so this keeps the document's meaning.
fn to_ascii_json(doc: &str) -> String {
    let mut out = String::new();
    for c in doc.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Invalid documents.

/// Documents `serde_json` refuses, with the byte where our parser must stop.
const INVALID: &[(&str, usize)] = &[
    (r#"{"a":1]"#, 6),
    (r#"{"a":[1}"#, 7),
    ("[1,]", 3),
    (r#"{"a":1,}"#, 7),
    (r#"{"a" 1}"#, 5),
    (r#"{"a"}"#, 4),
    ("{1:2}", 1),
    ("{,}", 1),
    ("[,1]", 1),
    ("[1 2]", 3),
    ("[01]", 2),
    ("[-01]", 3),
    ("[1.]", 3),
    ("[.5]", 1),
    ("[-]", 2),
    ("[--1]", 2),
    ("[+1]", 1),
    ("[1e]", 3),
    ("[1e+]", 4),
    ("[1.5.2]", 4),
    ("[1x]", 2),
    ("12]", 2),
    ("[tru]", 4),
    ("[trUe]", 3),
    ("nul l", 3),
    ("[nan]", 2),
    (r#""a\x""#, 2),
    (r#"["a\u00g0"]"#, 3),
    (r#""\ud83d""#, 1),
    (r#""\ud83dx""#, 1),
    (r#""\ud83d\n""#, 1),
    (r#""\ud83d\u0041""#, 1),
    (r#""\ude00""#, 1),
    ("\"a\nb\"", 2),
    ("\"tab\there\"", 4),
    (r#"{"a":1}}"#, 7),
    (r#"{"a":1} x"#, 8),
    ("[] []", 3),
    ("]", 0),
    ("}", 0),
    (":", 0),
    ("[é]", 1),
    ("{\"a\":1,\"b\"::2}", 11),
    ("[\"unterminated\" \"x\"]", 16),
    ("'single'", 0),
];

#[test]
fn invalid_documents_fail_at_the_right_byte_in_any_chunking() {
    for &(doc, position) in INVALID {
        assert!(
            serde_json::from_str::<Value>(doc).is_err(),
            "serde_json accepts {doc:?}"
        );
        for chunks in chunkings(doc) {
            let got = run(&refs(&chunks));
            let err = got.result.as_ref().expect_err(doc);
            assert_eq!(err.position(), position, "{doc:?} in {chunks:?}: {err}");
            assert!(
                !got.complete.last().unwrap(),
                "{doc:?}: not complete after an error"
            );
        }
    }
}

#[test]
fn errors_name_the_problem_and_stick() {
    let mut parser = PartialParser::new();
    let mut sink = |_: &[Seg<'_>], _: &Event<'_>| {};
    parser.feed(r#"{"a":"#, &mut sink).unwrap();
    let err = parser.feed("1]", &mut sink).unwrap_err();
    assert_eq!(err.position(), 6);
    assert_eq!(
        err.to_string(),
        "invalid JSON at byte 6: expected `,` or `}`, found `]`"
    );
    // Later chunks are kept as text but parsing stays failed, with the first error.
    assert_eq!(parser.feed("}", &mut sink), Err(err));
    assert_eq!(parser.text(), r#"{"a":1]}"#);
    let boxed: Box<dyn std::error::Error> = Box::new(parser.feed("", &mut sink).unwrap_err());
    assert!(boxed.to_string().contains("byte 6"));
}

#[test]
fn nesting_limit_matches_serde_json() {
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let limit = (1..1000)
        .find(|&n| serde_json::from_str::<Value>(&nested(n)).is_err())
        .unwrap()
        - 1;
    check_valid(&nested(limit));
    let err = run(&[&nested(limit + 1)]).result.unwrap_err();
    assert_eq!(err.position(), limit, "{err}");
    let objects = format!("{}1{}", r#"{"a":"#.repeat(limit + 1), "}".repeat(limit + 1));
    assert!(serde_json::from_str::<Value>(&objects).is_err());
    assert_eq!(run(&[&objects]).result.unwrap_err().position(), 5 * limit);
    // A very deep document fails cleanly (no recursion, so no stack overflow).
    assert!(run(&[&"[".repeat(1_000_000)]).result.is_err());
}

// ---------------------------------------------------------------------------------------------
// PartialValue<T>: typed snapshots.

/// Whether snapshot `a` can grow into `b`: strings by appending, sequences by completing their
/// last item and adding more, maps by adding members or growing the last; numbers, booleans and
/// other atoms only ever appear complete. `null` in a snapshot is "not there yet".
fn grows_into(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, _) => true,
        (Value::String(x), Value::String(y)) => y.starts_with(x.as_str()),
        (Value::Array(x), Value::Array(y)) => {
            // Only the item being written may be partial: the last one that is there (a tuple's
            // snapshot holds `null` for the items not started yet).
            let current = x.iter().rposition(|v| !v.is_null()).unwrap_or(0);
            x.len() <= y.len()
                && x.iter()
                    .zip(y)
                    .enumerate()
                    .all(|(i, (p, q))| match i.cmp(&current) {
                        std::cmp::Ordering::Less => p == q,
                        _ => grows_into(p, q),
                    })
        }
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .all(|(k, p)| y.get(k).is_some_and(|q| grows_into(p, q))),
        _ => a == b,
    }
}

/// Feeds `doc` one char at a time (and in random chunks) into `PartialValue<T>` and checks that
/// every snapshot grows into the next and that the last one is the parsed value.
fn check_snapshots<T>(doc: &str)
where
    T: ResponseModel + serde::Serialize,
    T::Partial: serde::Serialize,
{
    let expected = serde_json::to_value(serde_json::from_str::<T>(doc).unwrap()).unwrap();
    for chunks in [
        doc.chars().map(String::from).collect::<Vec<_>>(),
        chunkings(doc).pop().unwrap(),
    ] {
        let mut value = PartialValue::<T>::new();
        let mut last = Value::Null;
        let mut fed = 0;
        for chunk in &chunks {
            let events = value.events();
            value.push(chunk).unwrap();
            fed += chunk.len();
            let now = serde_json::to_value(value.get()).unwrap();
            assert!(
                grows_into(&last, &now),
                "{doc:?} after {fed} bytes: {last} then {now}"
            );
            assert!(
                grows_into(&now, &expected),
                "{doc:?} after {fed} bytes: {now} vs final {expected}"
            );
            if value.events() == events {
                assert_eq!(now, last, "no event, no change");
            }
            assert_eq!(value.is_complete(), expect_complete(doc, fed));
            last = now;
        }
        assert_eq!(
            last, expected,
            "{doc:?}: the final snapshot is the parsed value"
        );
        assert_eq!(value.text(), doc);
    }
}

#[test]
fn snapshots_grow_into_the_final_value() {
    check_snapshots::<Vec<String>>(r#"["Jason", "", "a\"b\u00e9\ud83d\ude00", "日本"]"#);
    check_snapshots::<Vec<String>>("[]");
    check_snapshots::<HashMap<String, Vec<u8>>>(r#"{"a": [1, 22, 255], "b\u00e9": [], "c": [7]}"#);
    check_snapshots::<BTreeMap<String, String>>(r#"{ "x" : "long text here", "y": "z" }"#);
    check_snapshots::<Option<String>>(r#""maybe""#);
    check_snapshots::<Option<String>>("null");
    check_snapshots::<(String, u8)>(r#"["Jason", 30]"#);
    check_snapshots::<Vec<(String, u32, Vec<String>)>>(
        r#"[["a", 1234, ["x", "yy"]], ["bb", 0, []], ["ccc", 4294967295, ["z"]]]"#,
    );
    check_snapshots::<Vec<f64>>("[1.5, -2e-3, 100, 0.1]");
    check_snapshots::<Vec<Vec<i64>>>("[[1, -2], [], [3000000000]]");
    check_snapshots::<Value>(r#"{"any": [1, "two", {"three": null}]}"#);
    check_snapshots::<Vec<bool>>("[true, false]");
}

/// A `null` item of a sequence (or member of a map) keeps its place in the snapshot
/// (`Option<T>::Partial` is `Option<T::Partial>`), so later indexes still line up.
#[test]
fn null_items_keep_their_place() {
    check_snapshots::<Vec<Option<f64>>>("[1.5, null, -2e-3, 100]");
    check_snapshots::<HashMap<String, Option<u8>>>(r#"{"a": 1, "b": null}"#);
}

#[test]
fn numbers_appear_only_once_complete() {
    let mut value = PartialValue::<Vec<u32>>::new();
    for (chunk, expected) in [
        ("[1", vec![]),
        ("2", vec![]),
        ("3,", vec![123]),
        (" 4", vec![123]),
        ("5]", vec![123, 45]),
    ] {
        value.push(chunk).unwrap();
        assert_eq!(value.get(), Some(&expected), "after {chunk:?}");
    }
    assert!(value.is_complete());
}

#[test]
fn partial_value_reports_errors() {
    let mut value = PartialValue::<Vec<String>>::new();
    value.push(r#"["a", "b"#).unwrap();
    let err = value.push("\" 3]").unwrap_err();
    assert_eq!(err.position(), 10);
    assert_eq!(value.get(), Some(&vec!["a".to_owned(), "b".to_owned()]));
    assert!(value.push("").is_err());
    assert!(!value.is_complete());
}

// ---------------------------------------------------------------------------------------------
// ItemSplitter.

#[test]
fn items_come_out_as_soon_as_they_close() {
    let items = [
        r#"{"a": [1, {"b": "]}"}]}"#,
        r#""x\"],\u00e9""#,
        "12",
        "[1, [2], []]",
        "true",
        "null",
        "-3.5e2",
        "{}",
        r#""""#,
        "0",
    ];
    // Build the array, remembering at which byte each item completes: its last byte, or for a
    // number the delimiter after it.
    let mut doc = String::from("[ ");
    let mut done_at = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            doc.push_str(if i % 2 == 0 { " ,\n  " } else { "," });
        }
        doc.push_str(item);
        let number = item.starts_with(|c: char| c == '-' || c.is_ascii_digit());
        done_at.push(if number { doc.len() } else { doc.len() - 1 });
    }
    doc.push(']');

    let mut splitter = ItemSplitter::new();
    let mut got = Vec::new();
    let mut offset = 0;
    for c in doc.chars() {
        for item in splitter.push(c.encode_utf8(&mut [0; 4])).unwrap() {
            got.push((item, offset));
        }
        offset += c.len_utf8();
        assert_eq!(splitter.is_complete(), offset == doc.len());
    }
    let expected: Vec<(String, usize)> = items.iter().map(|s| s.to_string()).zip(done_at).collect();
    assert_eq!(got, expected);
    assert_eq!(splitter.text(), doc);

    // The same items in any other chunking.
    for chunks in chunkings(&doc) {
        let mut splitter = ItemSplitter::new();
        let mut all = Vec::new();
        for chunk in &chunks {
            all.extend(splitter.push(chunk).unwrap());
        }
        assert_eq!(all, items, "{chunks:?}");
        assert!(splitter.is_complete());
    }
}

#[test]
fn item_splitter_wants_an_array() {
    let mut splitter = ItemSplitter::new();
    assert!(splitter.push("  ").unwrap().is_empty());
    let err = splitter.push(r#"{"a": 1}"#).unwrap_err();
    assert_eq!(err.position(), 2);
    assert!(splitter.push("").is_err());
    assert!(!splitter.is_complete());

    let mut splitter = ItemSplitter::new();
    assert!(splitter.push(r#"[{"a": 1}, 2"#).unwrap() == [r#"{"a": 1}"#]);
    assert_eq!(splitter.push("}").unwrap_err().position(), 12);

    let mut splitter = ItemSplitter::new();
    assert!(splitter.push("[]").unwrap().is_empty());
    assert!(splitter.is_complete());
}
