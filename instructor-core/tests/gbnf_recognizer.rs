//! Proves the test-support GBNF toolkit (`support/gbnf.rs`) right before other tests lean on it:
//! languages with known membership, exhaustive comparison with independent oracles (the `regex`
//! crate, counters, `serde_json`), parse errors, prefixes, and generation.

#[path = "support/gbnf.rs"]
mod gbnf;

use std::time::{Duration, Instant};

use gbnf::Grammar;
use proptest::prelude::*;

/// A seeded xorshift64* generator: deterministic, dependency-free randomness for `generate`.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // Spread small seeds over the state; xorshift must never be seeded with zero.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn grammar(src: &str) -> Grammar {
    Grammar::parse(src).unwrap_or_else(|e| panic!("grammar should parse: {e}\n{src}"))
}

fn parse_error(src: &str) -> String {
    match Grammar::parse(src) {
        Ok(_) => panic!("grammar should be rejected:\n{src}"),
        Err(e) => e,
    }
}

#[track_caller]
fn check(g: &Grammar, accepted: &[&str], rejected: &[&str]) {
    for s in accepted {
        assert!(g.accepts(s), "should accept {s:?}");
        assert!(g.accepts_prefix(s), "a member is its own prefix: {s:?}");
    }
    for s in rejected {
        assert!(!g.accepts(s), "should reject {s:?}");
    }
}

/// Every string over `alphabet` of length at most `max_len`, shortest first.
fn all_strings(alphabet: &[char], max_len: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut layer = vec![String::new()];
    for _ in 0..max_len {
        layer = layer
            .iter()
            .flat_map(|s| {
                alphabet.iter().map(move |&c| {
                    let mut t = s.clone();
                    t.push(c);
                    t
                })
            })
            .collect();
        out.extend(layer.iter().cloned());
    }
    out
}

fn prefixes(s: &str) -> impl Iterator<Item = &str> {
    s.char_indices()
        .map(|(i, _)| &s[..i])
        .chain(std::iter::once(s))
}

const ARITHMETIC: &str = r#"
root   ::= expr
expr   ::= term (("+" | "-") term)*
term   ::= factor (("*" | "/") factor)*
factor ::= number | "(" expr ")" | "-" factor
number ::= [0-9]+ ("." [0-9]+)?
"#;

const JSON: &str = r#"
root   ::= ws value ws
value  ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( member ( ws "," ws member )* ws )? "}"
member ::= string ws ":" ws value
array  ::= "[" ws ( value ( ws "," ws value )* ws )? "]"
string ::= "\"" ( [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
ws     ::= [ \t\n\r]*
"#;

const PARENS: &str = r#"root ::= ("(" root ")")*"#;

/// `serde_json` as a pure syntax oracle: `IgnoredAny` checks the grammar of JSON without
/// building values, so it does not refuse `1e999` or lone surrogate escapes the way parsing into
/// `Value` does.
fn serde_says_json(s: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Languages with known membership

#[test]
fn arithmetic_expressions() {
    let g = grammar(ARITHMETIC);
    check(
        &g,
        &[
            "1",
            "42",
            "1+2*3",
            "(1+2)*3",
            "-(4.5/2)",
            "((7))",
            "1-2-3",
            "--1",
            "3.14*(2-0.5)/-7",
        ],
        &[
            "", "1+", "(1", "1)", "1..2", "+1", "1 + 2", "()", "1.", ".5", "1(2)", "(1)(2)",
        ],
    );
}

#[test]
fn balanced_parentheses_match_a_counter_exhaustively() {
    let g = grammar(PARENS);
    let mut members = 0;
    for s in all_strings(&['(', ')'], 12) {
        let mut depth = 0i32;
        let mut never_negative = true;
        for c in s.chars() {
            depth += if c == '(' { 1 } else { -1 };
            never_negative &= depth >= 0;
        }
        let member = never_negative && depth == 0;
        members += usize::from(member);
        assert_eq!(g.accepts(&s), member, "accepts({s:?})");
        // Any string that never closes more than it opened can be completed by closing.
        assert_eq!(
            g.accepts_prefix(&s),
            never_negative,
            "accepts_prefix({s:?})"
        );
    }
    // Catalan numbers 1, 1, 2, 5, 14, 42, 132 for 0..=6 pairs.
    assert_eq!(members, 1 + 1 + 2 + 5 + 14 + 42 + 132);
}

#[test]
fn nested_recursion_with_a_second_rule() {
    let g = grammar(
        r#"
root ::= item*
item ::= "x" | "(" root ")"
"#,
    );
    for s in all_strings(&['(', ')', 'x'], 8) {
        let mut depth = 0i32;
        let mut ok = true;
        for c in s.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            ok &= depth >= 0;
        }
        assert_eq!(g.accepts(&s), ok && depth == 0, "accepts({s:?})");
        assert_eq!(g.accepts_prefix(&s), ok, "accepts_prefix({s:?})");
    }
}

#[test]
fn repetition_bounds_are_exact() {
    let g = grammar(r#"root ::= "a"{2,4}"#);
    check(&g, &["aa", "aaa", "aaaa"], &["", "a", "aaaaa", "aab"]);

    let g = grammar(r#"root ::= "a"{3}"#);
    check(&g, &["aaa"], &["aa", "aaaa"]);

    let g = grammar(r#"root ::= "a"{2,}"#);
    check(&g, &["aa", "aaa", &"a".repeat(500)], &["", "a"]);

    let g = grammar(r#"root ::= "a"{0} "b""#);
    check(&g, &["b"], &["ab"]);

    let g = grammar(r#"root ::= ("ab"){1,2} | "x" [0-9]{ 1 , 3 }"#);
    check(
        &g,
        &["ab", "abab", "x1", "x123"],
        &["", "aba", "ababab", "x", "x1234"],
    );

    // An operator applies to the whole preceding item, including a repetition.
    let g = grammar(r#"root ::= "a"{2}{3} "b"+?"#);
    check(
        &g,
        &["aaaaaa", "aaaaaab", "aaaaaabbb"],
        &["aaaaa", "aaaaaaa"],
    );
}

#[test]
fn repetition_maximum_above_llama_limit_means_unbounded() {
    // llama.cpp reads a maximum above 2000 as "no maximum"; so do we.
    let g = grammar(r#"root ::= "a"{1,5000}"#);
    assert!(g.accepts(&"a".repeat(6000)));
    assert!(!g.accepts(""));
    let g = grammar(r#"root ::= "a"{0,2000}"#);
    assert!(g.accepts(&"a".repeat(2000)));
    assert!(!g.accepts(&"a".repeat(2001)));
}

/// GBNF and regex agree on regular languages; compare every string over `abc` up to length 6.
#[test]
fn agrees_with_regex_on_regular_grammars() {
    let cases: &[(&str, &str)] = &[
        (r#"root ::= "a"{2,4}"#, "a{2,4}"),
        (r#"root ::= "a"{3}"#, "a{3}"),
        (r#"root ::= "a"{2,}"#, "a{2,}"),
        (r#"root ::= "a"? "b""#, "a?b"),
        (r#"root ::= ("ab"){1,2}"#, "(?:ab){1,2}"),
        (r#"root ::= ("a"{2}){2}"#, "aaaa"),
        (r#"root ::= ("a" | "ab") "c""#, "(?:a|ab)c"),
        (r#"root ::= "a"? "a"?"#, "a?a?"),
        (r#"root ::= [ab]* "b""#, "[ab]*b"),
        (r#"root ::= ("a" | "b" "c"?)+"#, "(?:a|bc?)+"),
        (r#"root ::= [^a]+"#, "[^a]+"),
        (r#"root ::= [a-b]{1,3} "c"?"#, "[a-b]{1,3}c?"),
        (r#"root ::= . ."#, "(?s).."),
        (r#"root ::= "" "a""#, "a"),
        (r#"root ::= ("a"{0,2} "b"){2,3}"#, "(?:a{0,2}b){2,3}"),
        (r#"root ::= ("a" "b"*)* "c""#, "(?:ab*)*c"),
        (
            r#"root ::= ("a" | "aa" | "b")* "c"{1,2}"#,
            "(?:a|aa|b)*c{1,2}",
        ),
        (r#"root ::= [-a]+ | [c-]"#, "[-a]+|[c-]"),
        (
            "root ::= x y? x\nx ::= \"a\" | \"b\" \"a\"\ny ::= (\"c\" | x)*",
            "(?:a|ba)(?:(?:c|a|ba)*)?(?:a|ba)",
        ),
    ];
    let strings = all_strings(&['a', 'b', 'c'], 6);
    for (src, pattern) in cases {
        let g = grammar(src);
        let re = regex::Regex::new(&format!(r"\A(?:{pattern})\z")).unwrap();
        let mut members = Vec::new();
        for s in &strings {
            let expected = re.is_match(s);
            assert_eq!(g.accepts(s), expected, "{src} vs /{pattern}/ on {s:?}");
            if expected {
                members.push(s.as_str());
            }
        }
        // Prefix closure: every prefix of a member is a prefix ...
        for m in &members {
            for p in prefixes(m) {
                assert!(g.accepts_prefix(p), "{src}: {p:?} is a prefix of {m:?}");
            }
        }
        // ... and every short string called a prefix extends to a member. Each grammar here
        // has members at most three characters beyond any of its prefixes.
        for s in strings.iter().filter(|s| s.len() <= 3) {
            let extends = members.iter().any(|m| m.starts_with(s.as_str()));
            assert_eq!(g.accepts_prefix(s), extends, "{src}: accepts_prefix({s:?})");
        }
    }
}

#[test]
fn negated_class_with_hex_escapes_rejects_control_characters() {
    let g = grammar(r#"root ::= "\"" [^"\\\x00-\x1F]* "\"""#);
    check(
        &g,
        &["\"\"", "\"hello é 中 😀\"", "\"\u{7f}\"", "\"a'b\""],
        &[
            "\"a\nb\"",
            "\"\u{1}\"",
            "\"\u{0}\"",
            "\"\u{1f}\"",
            "\"\t\"",
            "\"a\"b\"",
            "\"\\\"",
            "\"",
        ],
    );

    let g = grammar(r#"root ::= [\x41-\x43] [^\u0000-\u007F] [\U0001F600-\U0001F602]"#);
    check(&g, &["Aé😀", "C中😂"], &["Dé😀", "AA😀", "Aé😃", "Aé"]);
}

#[test]
fn escapes_in_literals_and_classes() {
    let g = grammar(r#"root ::= "\"\\\n\r\t\x41\u00e9\U0001F600\[\]\-""#);
    check(&g, &["\"\\\n\r\tAé😀[]-"], &["\"\\\n\r\tAé😀[]", ""]);

    // `#` inside a literal or class is not a comment; `-` first or last in a class is a member.
    let g = grammar("root ::= \"a#b\" [#] [-+] [x-] # a real comment\n");
    check(&g, &["a#b#-x", "a#b#+-"], &["a#b#x-", "a#b"]);

    let g = grammar(r#"root ::= [\]\[\\\-]+"#);
    check(&g, &["]", "[", "\\", "-", "][\\-"], &["a", ""]);
}

#[test]
fn alternation_with_shared_prefixes() {
    let g = grammar(r#"root ::= "abc" | "abd" | "ab" | "a" "bcd""#);
    check(
        &g,
        &["ab", "abc", "abd", "abcd"],
        &["a", "abce", "abdd", "b", ""],
    );

    let g = grammar(r#"root ::= ("a" | "ab") "c""#);
    check(&g, &["ac", "abc"], &["abbc", "a", "ab", "c"]);

    let g = grammar(r#"root ::= ("true" | "t") ("rue")?"#);
    check(&g, &["t", "true", "truerue"], &["tru", "trueue", "trrue"]);
}

#[test]
fn ambiguous_optional_chains() {
    let g = grammar("root ::= x? x?\nx ::= \"a\" | \"aa\"");
    check(&g, &["", "a", "aa", "aaa", "aaaa"], &["aaaaa", "b"]);

    // A greedy matcher would let the star eat every `a` and then fail.
    let g = grammar(r#"root ::= "a"* "a" "a"?"#);
    check(&g, &["a", "aa", "aaaaa"], &[""]);

    // The pathological `a?{n} a{n}` that defeats backtracking engines.
    let n = 30;
    let src = format!("root ::= {} \"a\"{{{n}}}", "\"a\"? ".repeat(n));
    let g = grammar(&src);
    let start = Instant::now();
    check(
        &g,
        &[&"a".repeat(n), &"a".repeat(2 * n)],
        &[&"a".repeat(n - 1), &"a".repeat(2 * n + 1)],
    );
    assert!(start.elapsed() < Duration::from_secs(2));

    // Exponentially many parses of one string still cost polynomial time.
    let g = grammar(r#"root ::= ("a" | "aa" | "a" "a")* "b"?"#);
    let long = "a".repeat(2000);
    let start = Instant::now();
    assert!(g.accepts(&long));
    assert!(g.accepts(&format!("{long}b")));
    assert!(!g.accepts(&format!("{long}bb")));
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn unicode_is_matched_by_scalar_value() {
    let g = grammar(r#"root ::= "中文" [α-ω]+ "é"? ."#);
    check(
        &g,
        &["中文α😀", "中文ωé!", "中文αé", "中文αβγéé"],
        &["中文α", "中文", "中文Aé!", "中文α😀😀"],
    );

    // `.` is one character, however many bytes it takes; it matches newlines too.
    let g = grammar("root ::= . .");
    check(&g, &["😀x", "é中", "\n\t", "ab"], &["😀", "é", "abc", ""]);
}

#[test]
fn surrogates_are_not_characters() {
    // Classes span the surrogate gap without losing its neighbours.
    let g = grammar(r#"root ::= [\uD7FF-\uE000]"#);
    check(&g, &["\u{D7FF}", "\u{E000}"], &["\u{D7FE}", "\u{E001}"]);
    let g = grammar(r#"root ::= [^a]"#);
    check(
        &g,
        &["\u{D7FF}", "\u{E000}", "\u{10FFFF}", "\u{0}"],
        &["a", ""],
    );

    // A literal or class made only of surrogates can never match: those branches are dead.
    let g = grammar(r#"root ::= "\uD800" | [\uD800-\uDFFF] | "ok""#);
    check(&g, &["ok"], &["", "\u{FFFD}"]);
    assert!(!g.accepts_prefix("\u{FFFD}"));
    let g = grammar(r#"root ::= "x" "\uDC00""#);
    assert!(!g.accepts_prefix(""));
    assert_eq!(g.generate(&mut |_| 0, 3), None);
}

#[test]
fn json_grammar_accepts_json_and_rejects_near_misses() {
    let g = grammar(JSON);
    let accepted = [
        "{}",
        "[]",
        " 42 ",
        "0",
        "-0.5e-10",
        "1E+2",
        r#"{"a": 1}"#,
        r#"[1, -2.5e10, 0, 0.5, "x\"y\\\u00e9", true, null, {"k": [false]}]"#,
        r#""\u00e9\n\/""#,
        "\"中文 😀\"",
        "{\n  \"nested\": {\"deep\": [[[]]]},\n  \"e\": \"\"\n}",
    ];
    let rejected = [
        "",
        "01",
        "-",
        "1.",
        ".5",
        "+1",
        "1e",
        "1e+",
        "--1",
        r#"{"a" 1}"#,
        r#"{"a": 1,}"#,
        "[1 2]",
        "[1,]",
        r#""\x""#,
        r#""a"#,
        "\"tab\there\"",
        "tru",
        "nul",
        "{'a': 1}",
        r#""\u12G4""#,
        r#""\u123""#,
        "{\"a\":1}}",
        "[1]x",
    ];
    check(&g, &accepted, &rejected);
    for s in accepted.iter().chain(&rejected) {
        assert_eq!(
            g.accepts(s),
            serde_says_json(s),
            "serde_json disagrees on {s:?}"
        );
    }
    // The oracle itself: syntax only, as the doc comment on `serde_says_json` claims.
    for s in [r#""\ud800""#, "1e99999", "-1e-99999"] {
        assert!(g.accepts(s) && serde_says_json(s), "{s}");
    }
}

/// Random edits of JSON documents, judged by both the grammar and `serde_json`.
#[test]
fn json_grammar_agrees_with_serde_json_on_mutations() {
    let g = grammar(JSON);
    let seeds = [
        r#"{"a": [1, -2.5e10, 0], "b": "x\"y\\u00e9", "c": true, "d": null}"#,
        r#"[{"k": [false, 0.5]}, "", 10, -0, 1E+2]"#,
        r#"  "plain" "#,
    ];
    let alphabet: Vec<char> = "{}[],:\"\\0123456789-+.eEtrufalsn u\t\n/é"
        .chars()
        .collect();
    let mut rng = XorShift::new(7);
    let mut members = 0;
    for round in 0..3000 {
        let mut s: Vec<char> = seeds[round % seeds.len()].chars().collect();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(s.len() + 1);
            match rng.below(3) {
                0 if at < s.len() => {
                    s.remove(at);
                }
                1 if at < s.len() => s[at] = alphabet[rng.below(alphabet.len())],
                _ => s.insert(at, alphabet[rng.below(alphabet.len())]),
            }
        }
        let s: String = s.into_iter().collect();
        let ours = g.accepts(&s);
        members += usize::from(ours);
        assert_eq!(ours, serde_says_json(&s), "disagreement on {s:?}");
        if ours {
            for p in prefixes(&s) {
                assert!(g.accepts_prefix(p), "prefix {p:?} of member {s:?}");
            }
        }
    }
    // Both outcomes must be well represented for the comparison to mean anything.
    assert!(members > 100 && members < 2900, "members: {members}");
}

#[test]
fn serde_json_output_is_accepted() {
    let g = grammar(JSON);
    let mut rng = XorShift::new(3);
    for _ in 0..300 {
        let value = random_json(&mut rng, 3);
        for text in [
            serde_json::to_string(&value).unwrap(),
            serde_json::to_string_pretty(&value).unwrap(),
        ] {
            assert!(g.accepts(&text), "should accept {text}");
        }
    }
}

fn random_json(rng: &mut XorShift, depth: usize) -> serde_json::Value {
    use serde_json::Value;
    let kinds = if depth == 0 { 5 } else { 7 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => Value::from(rng.next() as i64 >> rng.below(64)),
        3 => Value::from((rng.below(100_000) as f64 - 50_000.0) / 64.0),
        4 => {
            let pool: Vec<char> = "ab \"\\/\n\t\u{1}\u{7f}é中😀".chars().collect();
            let s: String = (0..rng.below(6))
                .map(|_| pool[rng.below(pool.len())])
                .collect();
            Value::String(s)
        }
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|i| (format!("k{i}"), random_json(rng, depth - 1)))
                .collect(),
        ),
    }
}

#[test]
fn comments_and_multi_line_rules() {
    let g = grammar(
        "# leading comment\n\
         root ::= greeting   # trailing comment\n\
         \x20 \" \" name       # continuation line\n\
         \n\
         greeting ::= \"hello\"\n\
         \x20 | \"hi\"\n\
         name ::= [a-z]+\r\n",
    );
    check(&g, &["hello bob", "hi x"], &["hello", "hey bob", "hi Bob"]);
}

// ---------------------------------------------------------------------------------------------
// Prefixes

#[test]
fn accepts_prefix_on_finite_and_json_languages() {
    let g = grammar(r#"root ::= "abc""#);
    for (s, expected) in [
        ("", true),
        ("a", true),
        ("ab", true),
        ("abc", true),
        ("abcd", false),
        ("b", false),
    ] {
        assert_eq!(g.accepts_prefix(s), expected, "{s:?}");
    }

    let g = grammar(JSON);
    let doc = r#"{"a": [1, 2.5e-3, "x\"é"], "b": {"c": null}}"#;
    for p in prefixes(doc) {
        assert!(g.accepts_prefix(p), "{p:?}");
    }
    for s in [
        r#"{"a": 01"#,
        "[1,]",
        r#"{"a"}"#,
        "tx",
        "-a",
        r#""\q"#,
        "{}}",
        "00",
    ] {
        assert!(!g.accepts_prefix(s), "{s:?}");
    }
    for s in [r#"{"a": [1, "#, r#""abc"#, "-", "1.", "1e", "tr", "  "] {
        assert!(g.accepts_prefix(s) && !g.accepts(s), "{s:?}");
    }
}

#[test]
fn prefixes_that_only_lead_into_dead_rules_are_rejected() {
    // `dead` derives no finite string, so "x" starts nothing the grammar can finish.
    let g = grammar("root ::= \"x\" dead | \"y\"\ndead ::= \"z\" dead");
    assert!(!g.accepts_prefix("x"));
    assert!(!g.accepts_prefix("xz"));
    assert!(g.accepts_prefix(""));
    assert!(g.accepts("y"));

    let g = grammar("root ::= \"a\" root");
    assert!(!g.accepts_prefix(""));
    assert!(!g.accepts(""));
    assert!(!g.accepts_prefix("a"));
    assert_eq!(g.generate(&mut |_| 0, 5), None);
}

// ---------------------------------------------------------------------------------------------
// Parse errors

#[test]
fn parse_errors_are_reported_with_lines() {
    let cases: &[(&str, &[&str])] = &[
        ("root ::= foo", &["undefined rule 'foo'", "line 1"]),
        (
            "root ::= a\na ::= \"x\"\n   b\n",
            &["undefined rule 'b'", "line 3"],
        ),
        ("a ::= \"x\"", &["missing 'root'"]),
        ("", &["missing 'root'"]),
        ("# only a comment\n", &["missing 'root'"]),
        ("root ::= \"abc", &["unterminated string literal", "line 1"]),
        ("root ::= [abc", &["unterminated character class"]),
        ("root ::= []", &["empty character class"]),
        ("root ::= [z-a]", &["reversed range"]),
        ("root ::= \"\\q\"", &["unknown escape"]),
        ("root ::= \"\\x4\"", &["hex digits"]),
        ("root ::=\n  \"a\"{3,2}", &["max < min", "line 2"]),
        ("root ::= \"a\"{2001}", &["limit"]),
        ("root ::= \"a\"{2,", &["expected '}'"]),
        ("root ::= \"a\"{x}", &["expected a number"]),
        ("root ::= * \"a\"", &["nothing before it"]),
        ("root ::= \"\"*", &["empty literal"]),
        ("root ::= (\"a\"", &["unclosed '('"]),
        ("root ::= \"a\")", &["unmatched ')'"]),
        (
            "root ::= \"a\"\nroot ::= \"b\"",
            &["defined twice", "line 2"],
        ),
        ("root ::= \"a\" b ::= \"c\"", &["new line"]),
        (
            "root ::= my_rule\nmy_rule ::= \"x\"",
            &["unexpected character '_'"],
        ),
        ("root ::= <think>", &["not supported"]),
        ("root ::= \"a\" @", &["unexpected character '@'"]),
        ("::= \"a\"", &["expected a rule definition"]),
        ("root := \"a\"", &["expected a rule definition"]),
    ];
    let deep = format!("root ::= {}\"a\"{}", "(".repeat(100), ")".repeat(100));
    let deep_cases: &[(&str, &[&str])] = &[(&deep, &["nested too deeply"])];
    for (src, needles) in cases.iter().chain(deep_cases) {
        let err = parse_error(src);
        for needle in *needles {
            assert!(
                err.contains(needle),
                "error for {src:?} should mention {needle:?}: {err}"
            );
        }
    }
}

#[test]
fn left_recursion_is_rejected_not_looped_on() {
    for (src, cycle) in [
        ("root ::= root \"a\" | \"b\"", "root -> root"),
        (
            "root ::= a\na ::= b \"x\"\nb ::= \"y\"? root",
            "root -> a -> b -> root",
        ),
        (
            "root ::= \"x\" a\na ::= (\"\" | \"y\") a \"z\" | \"w\"",
            "a -> a",
        ),
    ] {
        let err = parse_error(src);
        assert!(
            err.contains("left recursion") && err.contains(cycle),
            "{src:?}: {err}"
        );
    }
    // llama.cpp expands `S*` to `S' ::= S S' |`, left-recursive when S can be empty.
    for src in [
        "root ::= (\"a\"?)*",
        "root ::= x+\nx ::= \"a\" | \"\"",
        "root ::= (\"a\"*){2,}",
    ] {
        let err = parse_error(src);
        assert!(err.contains("empty string"), "{src:?}: {err}");
    }
    // Recursion after consuming input is fine, as is a bounded repetition of a nullable item.
    grammar("root ::= \"(\" root \")\" | \"\"");
    grammar("root ::= (\"a\"?){3}");
}

#[test]
fn garbage_grammars_never_panic() {
    let base: Vec<char> = JSON.chars().collect();
    let alphabet: Vec<char> = "()[]{}|*+?.\"\\#:=-^,0123456789ax \n".chars().collect();
    let mut rng = XorShift::new(11);
    let mut parsed = 0;
    for _ in 0..2000 {
        let mut s = base.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(s.len());
            if rng.below(2) == 0 {
                s[at] = alphabet[rng.below(alphabet.len())];
            } else {
                s.insert(at, alphabet[rng.below(alphabet.len())]);
            }
        }
        let src: String = s.into_iter().collect();
        if let Ok(g) = Grammar::parse(&src) {
            parsed += 1;
            g.accepts(r#"{"a": [1, "x"]}"#);
            g.accepts_prefix("[1,");
            if let Some(out) = g.generate(&mut |n| rng.below(n), 4) {
                assert!(g.accepts(&out), "generated {out:?} rejected by\n{src}");
            }
        }
    }
    assert!(
        parsed > 50,
        "mutations should sometimes stay valid: {parsed}"
    );
}

// ---------------------------------------------------------------------------------------------
// Generation

fn generation_grammars() -> Vec<(&'static str, Grammar)> {
    [
        ("arithmetic", ARITHMETIC),
        ("json", JSON),
        ("parens", PARENS),
        ("bounds", r#"root ::= "a"{2,4} ("," [0-9]{0,10})* "b"{3}"#),
        (
            "unicode",
            r#"root ::= "中文" [α-ω]+ "é"? . [\U0001F600-\U0001F64F]"#,
        ),
        ("negated", r#"root ::= "\"" [^"\\\x00-\x1F]* "\"" [^a-z]"#),
        (
            "multi-line",
            "root ::= x y? x\nx ::= \"a\" | \"b\" \"a\"\ny ::= (\"c\" | x)*",
        ),
        (
            "deep-exit",
            "root ::= \"(\" root \")\" | a\na ::= b\nb ::= c\nc ::= \"x\"",
        ),
    ]
    .into_iter()
    .map(|(name, src)| (name, grammar(src)))
    .collect()
}

#[test]
fn generated_strings_are_accepted() {
    for (name, g) in generation_grammars() {
        for seed in 0..300u64 {
            let mut rng = XorShift::new(seed);
            let depth = (seed % 7) as usize;
            let s = g
                .generate(&mut |n| rng.below(n), depth)
                .unwrap_or_else(|| panic!("{name}: language is not empty"));
            assert!(
                g.accepts(&s),
                "{name}: generated {s:?} (seed {seed}) rejected"
            );
            if seed % 10 == 0 {
                for p in prefixes(&s) {
                    assert!(g.accepts_prefix(p), "{name}: prefix {p:?} of {s:?}");
                }
            }
            if name == "json" {
                assert!(serde_says_json(&s), "serde_json rejects generated {s:?}");
            }
        }
    }
}

#[test]
fn generation_terminates_on_recursive_grammars_at_small_depth() {
    let g = grammar("root ::= \"(\" root \")\" | \"x\"");
    for depth in 0..6 {
        for seed in 0..50 {
            let mut rng = XorShift::new(seed);
            let s = g.generate(&mut |n| rng.below(n), depth).unwrap();
            assert!(g.accepts(&s));
            // Each level of nesting is one rule reference, so the budget bounds the nesting.
            assert!(s.len() <= 2 * depth + 1, "depth {depth}: {s}");
        }
    }
    // At depth 0 every choice is the cheapest one.
    assert_eq!(g.generate(&mut |_| 0, 0).as_deref(), Some("x"));

    // A chooser that always asks for more recursion still cannot keep the walk going.
    let g = grammar(JSON);
    let s = g.generate(&mut |n| n - 1, 3).unwrap();
    assert!(g.accepts(&s), "{s}");
    let g = grammar("root ::= \"(\" root \")\" | a\na ::= b\nb ::= c\nc ::= \"x\"");
    assert_eq!(g.generate(&mut |_| 0, 2).as_deref(), Some("((x))"));
    assert_eq!(g.generate(&mut |_| 0, 0).as_deref(), Some("x"));
}

#[test]
fn generation_explores_repetition_counts_and_character_pools() {
    let g = grammar(r#"root ::= "a"{2,4} "," "b"{0,10} "," "c"*"#);
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..300 {
        let mut rng = XorShift::new(seed);
        let s = g.generate(&mut |n| rng.below(n), 5).unwrap();
        assert!(g.accepts(&s));
        let parts: Vec<usize> = s.split(',').map(str::len).collect();
        seen.insert(("a", parts[0]));
        seen.insert(("b", parts[1]));
        seen.insert(("c", parts[2]));
    }
    for expected in [
        ("a", 2),
        ("a", 3),
        ("a", 4),
        ("b", 0),
        ("b", 10),
        ("c", 0),
        ("c", 3),
    ] {
        assert!(
            seen.contains(&expected),
            "never generated {expected:?}: {seen:?}"
        );
    }
    assert!(!seen.contains(&("b", 11)) && !seen.contains(&("a", 5)));

    let g = grammar(r#"root ::= [^"\\\x00-\x1F]{200}"#);
    let mut rng = XorShift::new(5);
    let s = g.generate(&mut |n| rng.below(n), 5).unwrap();
    assert!(g.accepts(&s));
    assert!(
        !s.is_ascii(),
        "the pool's non-ASCII characters should show up: {s}"
    );
}

#[test]
fn generation_copes_with_out_of_range_choices() {
    let g = grammar(JSON);
    let s = g.generate(&mut |_| usize::MAX, 2).unwrap();
    assert!(g.accepts(&s), "{s}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn proptest_driven_generation_is_accepted(
        choices in proptest::collection::vec(any::<usize>(), 1..64),
        depth in 0usize..6,
    ) {
        let g = grammar(JSON);
        let mut i = 0;
        let s = g
            .generate(
                &mut |n| {
                    i += 1;
                    choices[i % choices.len()] % n
                },
                depth,
            )
            .unwrap();
        prop_assert!(g.accepts(&s), "{}", s);
    }
}

// ---------------------------------------------------------------------------------------------
// Speed

#[test]
fn long_inputs_and_large_grammars_are_fast() {
    let g = grammar(JSON);
    let mut doc = String::from("[");
    for i in 0..150 {
        if i > 0 {
            doc.push_str(", ");
        }
        doc.push_str(&format!(
            r#"{{"id": {i}, "name": "item \"{i}\" é", "tags": [true, null]}}"#
        ));
    }
    doc.push(']');
    assert!(doc.chars().count() > 3000);
    let start = Instant::now();
    assert!(g.accepts(&doc));
    assert!(!g.accepts(&doc.replace("null", "nul")));
    assert!(g.accepts_prefix(&doc[..doc.len() - 1]));
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "JSON over {} chars: {elapsed:?}",
        doc.len()
    );

    // 300 field rules chained like an emitted object schema, each with its own value rule.
    let mut src = String::from("root ::= \"{\" f0 \"}\"\n");
    let mut input = String::from("{");
    for i in 0..300 {
        let next = if i < 299 {
            format!(" (\",\" f{})", i + 1)
        } else {
            String::new()
        };
        src.push_str(&format!("f{i} ::= \"\\\"field{i}\\\":\" v{i}{next}\n"));
        src.push_str(&format!(
            "v{i} ::= [0-9]{{1,5}} | \"\\\"\" [a-z]* \"\\\"\" | \"null\"\n"
        ));
        if i > 0 {
            input.push(',');
        }
        let value = if i % 2 == 0 { "123" } else { "\"text\"" };
        input.push_str(&format!("\"field{i}\":{value}"));
    }
    input.push('}');
    let start = Instant::now();
    let g = grammar(&src);
    assert!(g.accepts(&input), "{input}");
    assert!(!g.accepts(&input.replace("field150", "field151")));
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "300 rules, {} chars: {elapsed:?}",
        input.len()
    );
}
