//! The derive writes JSON keys, pattern literals and rule names into grammar text at macro time,
//! where it cannot call this crate: `instructor-derive/src/escape.rs` mirrors core's
//! `grammar::json_escape`, `Text::lit` and `grammar::name`. These tests derive types over many
//! tricky inputs and check that the derive's spelling is exactly core's (and `serde_json`'s).

// Field names that are not snake case on purpose: the derive's partial type repeats them.
#![allow(non_snake_case)]

use instructor_core::__private::grammar::{json_escape, name, Text};
use instructor_core::ResponseModel;

/// Core's GBNF literal of `s`.
fn core_lit(s: &str) -> String {
    Text::<4096>::new().lit(s).as_str().to_owned()
}

/// Core's JSON string of `s`, quotes included.
fn core_json(s: &str) -> String {
    json_escape::<1024>(s).as_str().to_owned()
}

/// The name of the rule matching one value of `T`.
fn root_rule<T: ResponseModel>() -> String {
    let first = T::GBNF.lines().next().unwrap_or_default();
    first.trim_start_matches("root ::= ").trim().to_owned()
}

macro_rules! keyed {
    ($($m:ident: $key:literal),* $(,)?) => {
        $(
            mod $m {
                #[derive(serde::Deserialize, instructor_core::ResponseModel)]
                pub struct K {
                    #[serde(rename = $key)]
                    pub v: bool,
                }
            }
        )*
        /// Each key, the derived type's GBNF and the key's JSON Schema property names.
        fn keyed() -> Vec<(&'static str, &'static str, Vec<String>)> {
            vec![$((
                $key,
                <$m::K as ResponseModel>::GBNF,
                instructor_core::json_schema::<$m::K>()
                    .pointer("/$defs")
                    .and_then(|d| d.as_object())
                    .and_then(|d| d.values().next())
                    .and_then(|s| s.get("properties"))
                    .and_then(|p| p.as_object())
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default(),
            )),*]
        }
    };
}

keyed! {
    plain: "name",
    spaced: "first name",
    quote: "say \"hi\"",
    backslash: "back\\slash",
    both: "\\\"",
    newline: "new\nline",
    cr_tab: "a\r\tb",
    backspace_formfeed: "\u{8}\u{c}",
    control: "\u{1}\u{1f}",
    nul: "nul\u{0}",
    del: "del\u{7f}",
    slash: "a/b",
    latin: "größe",
    euro: "price €",
    emoji: "😀 ok",
    mixed: "ü\"\\\n\u{2}😀",
}

#[test]
fn derived_keys_are_escaped_as_core_and_serde_json_escape_them() {
    for (key, gbnf, properties) in keyed() {
        let json = core_json(key);
        assert_eq!(
            json,
            serde_json::to_string(key).unwrap_or_default(),
            "{key:?}"
        );
        let member = core_lit(&format!("{{{json}:"));
        assert!(gbnf.contains(&member), "{key:?}: {member} not in\n{gbnf}");
        // The grammar's key is the one serde reads and the schema shows.
        assert_eq!(properties, vec![key.to_owned()], "{key:?}");
    }
}

macro_rules! patterned {
    ($($m:ident: $re:literal => $text:literal),* $(,)?) => {
        $(
            mod $m {
                #[derive(serde::Deserialize, instructor_core::ResponseModel)]
                pub struct P {
                    #[instructor(pattern = $re)]
                    pub v: String,
                }
            }
        )*
        /// Each pattern's literal text and the derived type's GBNF.
        fn patterned() -> Vec<(&'static str, &'static str)> {
            vec![$(($text, <$m::P as ResponseModel>::GBNF)),*]
        }
    };
}

patterned! {
    p_plain: "^abc$" => "abc",
    p_quote: "^a\"b$" => "a\"b",
    p_backslash: r"^a\\b$" => "a\\b",
    p_newline: r"^a\nb$" => "a\nb",
    p_tab: r"^\t$" => "\t",
    p_control: r"^x\x01$" => "x\u{1}",
    p_del: r"^x\x7f$" => "x\u{7f}",
    p_latin: "^größe$" => "größe",
    p_emoji: "^😀€$" => "😀€",
}

#[test]
fn pattern_literals_are_escaped_as_core_escapes_them() {
    for (text, gbnf) in patterned() {
        let json = core_json(text);
        let inner = &json[1..json.len() - 1];
        let lit = core_lit(inner);
        assert!(gbnf.contains(&lit), "{text:?}: {lit} not in\n{gbnf}");
    }
}

/// Constrained fields get a rule `Type-field` named by the derive's mangled suffix; it must be
/// the name core's `grammar::name` gives the field's identifier, or rules would clash.
#[derive(serde::Deserialize, ResponseModel)]
struct Names {
    #[instructor(range(max = 1))]
    first_name: u8,
    #[instructor(range(max = 1))]
    _lead: u8,
    #[instructor(range(max = 1))]
    größe: u8,
    #[instructor(range(max = 1))]
    r#type: u8,
    #[instructor(range(max = 1))]
    x2: u8,
    #[instructor(range(max = 1))]
    MixedCase: u8,
    #[instructor(range(max = 1))]
    ünï_çødé: u8,
    #[instructor(range(max = 1))]
    a_b: u8,
    #[instructor(range(max = 1))]
    a__b: u8,
}

#[test]
fn derived_rule_names_are_mangled_as_core_mangles_them() {
    let root = root_rule::<Names>();
    for field in [
        "first_name",
        "_lead",
        "größe",
        "type",
        "x2",
        "MixedCase",
        "ünï_çødé",
        "a_b",
    ] {
        let rule = name(&[root.as_str(), field]);
        let def = format!("\n{} ::= ", rule.as_str());
        assert!(
            Names::GBNF.contains(&def),
            "{field}: {def:?} not in\n{}",
            Names::GBNF
        );
    }
    // `a__b` mangles like `a_b`: the derive keeps the two apart with a suffix.
    let second = name(&[root.as_str(), "a-b-2"]);
    let def = format!("\n{} ::= ", second.as_str());
    assert!(
        Names::GBNF.contains(&def),
        "{def:?} not in\n{}",
        Names::GBNF
    );
}
