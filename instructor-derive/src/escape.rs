//! The text the derive writes into rule bodies at macro time, spelled exactly as
//! `instructor_core`'s grammar builders spell it: JSON-string escaping (core's
//! `grammar::json_escape`), GBNF string literals (core's `Text::lit`) and rule-name mangling
//! (core's `grammar::name`).
//!
//! A proc-macro cannot call its runtime crate, so these mirror core's functions; each is the
//! derive's only copy, and `instructor-core/tests/escaping.rs` checks, on derived types, that
//! the two spellings agree. Must not decide *where* any of this text goes.

use std::fmt::Write as _;

/// The JSON escape `serde_json` writes for code point `c`, for those that cannot appear raw in a
/// JSON string (`"`, `\`, control characters); `None` for the others.
pub fn json_char_escape(c: u32) -> Option<String> {
    Some(match c {
        0x22 => String::from("\\\""),
        0x5c => String::from("\\\\"),
        0x08 => String::from("\\b"),
        0x09 => String::from("\\t"),
        0x0a => String::from("\\n"),
        0x0c => String::from("\\f"),
        0x0d => String::from("\\r"),
        c if c < 0x20 => format!("\\u{c:04x}"),
        _ => return None,
    })
}

/// `s` as the content of a JSON string, without quotes.
pub fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match json_char_escape(u32::from(c)) {
            Some(esc) => out.push_str(&esc),
            None => out.push(c),
        }
    }
    out
}

/// `s` as the text of a JSON string, quotes included, as core's `grammar::json_escape` writes it.
pub fn json_string(s: &str) -> String {
    format!("\"{}\"", json_escape(s))
}

/// `s` as a GBNF string literal, as core's `Text::lit` writes it: `"` and `\` escaped, control
/// bytes (and DEL) as `\xhh`.
pub fn gbnf_literal(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Mirrors `grammar::name` on one part: characters GBNF names cannot hold become `-`, runs of
/// them collapse, and a part never starts with one (the joining `-` precedes it).
pub fn mangle(s: &str) -> String {
    let mut out = String::new();
    let mut last_dash = true;
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
            last_dash = b == b'-';
        } else if !last_dash {
            out.push('-');
            last_dash = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{gbnf_literal, json_string, mangle};

    #[test]
    fn mangles_like_grammar_name() {
        assert_eq!(mangle("first_name"), "first-name");
        assert_eq!(mangle("_a__b"), "a-b");
        assert_eq!(mangle("größe"), "gr-e");
        assert_eq!(mangle("Variant-t2"), "Variant-t2");
    }

    #[test]
    fn json_strings() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn gbnf_literals() {
        assert_eq!(gbnf_literal("a\"\\\u{7f}"), "\"a\\\"\\\\\\x7f\"");
    }
}
