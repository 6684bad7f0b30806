//! `pattern = "regex"` to GBNF, at macro time.
//!
//! The grammar sees the JSON text of a string, not its value: a `"` in the value is `\"` in the
//! output, a newline is `\n`. So every literal and character class of the regex is translated
//! into the JSON-escaped form of the characters it matches. The translation only ever accepts a
//! subset of what the regex matches (that is all the grammar may do: validation re-checks the
//! parsed value with the real regex), so where JSON allows several spellings of a character the
//! grammar emits one (raw UTF-8, the short escapes, `\u00xx` for other control characters).
//!
//! Regexes are parsed by `regex-syntax` (the `regex` crate's parser), so anything it rejects is
//! reported with its own message, and Unicode classes, case-insensitivity and the like arrive
//! already expanded into plain character ranges.

use std::fmt::Write as _;

use regex_syntax::hir::{Class, Hir, HirKind, Look, Repetition};

use crate::escape::{gbnf_literal, json_char_escape, json_escape};

/// Above this size a character class is restricted to its ASCII members (`\d`, `\w` and the
/// Unicode categories would otherwise take kilobytes of grammar each).
const CLASS_BUDGET: usize = 200;

/// The most grammar text one pattern may need: the narrowed rule must fit in a rule body
/// (`instructor_core::grammar::BODY_CAP`, 4 KiB) together with the quotes around it.
const PATTERN_BUDGET: usize = 3500;

const NOT_EXPRESSIBLE: &str = "pattern cannot be expressed as a grammar";

/// Translates `pattern` into a GBNF expression matching the JSON text (without the quotes) of
/// the strings the whole pattern matches. `Err` is the message for the user.
pub fn translate(pattern: &str) -> Result<String, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .map_err(|e| format!("invalid regular expression: {e}"))?;
    let (out, _) = emit(&hir, true, true)?;
    if out.len() > PATTERN_BUDGET {
        return Err(format!(
            "{NOT_EXPRESSIBLE}: it needs {} bytes of grammar, more than the {PATTERN_BUDGET} a rule holds; \
             use smaller repetition counts or ASCII classes",
            out.len()
        ));
    }
    Ok(out)
}

/// How tightly an emitted expression binds, to know when it needs parentheses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    /// A literal, class or parenthesized group: can take a repetition suffix as is.
    Atom,
    /// A sequence or a repeated atom.
    Seq,
    /// An alternation.
    Alt,
}

/// Emits `hir`; `at_start`/`at_end` say whether it begins/ends the whole pattern, where `^`
/// and `$` are allowed (the pattern is anchored anyway).
fn emit(hir: &Hir, at_start: bool, at_end: bool) -> Result<(String, Prec), String> {
    match hir.kind() {
        HirKind::Empty => Ok((String::from("\"\""), Prec::Atom)),
        HirKind::Literal(lit) => {
            let s = std::str::from_utf8(&lit.0)
                .map_err(|_| format!("{NOT_EXPRESSIBLE}: it matches bytes that are not UTF-8"))?;
            Ok((gbnf_literal(&json_escape(s)), Prec::Atom))
        }
        HirKind::Class(Class::Unicode(class)) => {
            let ranges = class.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect();
            class_expr(ranges)
        }
        HirKind::Class(Class::Bytes(class)) => {
            if class.ranges().iter().any(|r| r.end() > 0x7f) {
                return Err(format!("{NOT_EXPRESSIBLE}: byte classes (`(?-u)`) can match bytes that are not UTF-8"));
            }
            let ranges = class.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect();
            class_expr(ranges)
        }
        HirKind::Look(look) => match look {
            Look::Start if at_start => Ok((String::from("\"\""), Prec::Atom)),
            Look::End if at_end => Ok((String::from("\"\""), Prec::Atom)),
            Look::Start | Look::End => {
                Err(format!("{NOT_EXPRESSIBLE}: `^` and `$` are only allowed at the start and end of the pattern"))
            }
            Look::StartLF | Look::EndLF | Look::StartCRLF | Look::EndCRLF => {
                Err(format!("{NOT_EXPRESSIBLE}: multi-line anchors (`(?m)^`, `(?m)$`) are not supported"))
            }
            _ => Err(format!("{NOT_EXPRESSIBLE}: word boundaries (`\\b`, `\\B`, `\\<`, `\\>`) are not supported")),
        },
        HirKind::Repetition(rep) if rep.max.is_none() && nullable(&rep.sub) => {
            // llama.cpp rejects an unbounded repetition of something that can be empty (it is
            // left recursion once expanded); `x{m,}` with an `x` that can be empty is `y*` where
            // `y` is `x` without the empty string.
            let Some(sub) = non_empty(&rep.sub)? else {
                return Ok((String::from("\"\""), Prec::Atom));
            };
            let star = Hir::repetition(Repetition { min: 0, max: None, greedy: rep.greedy, sub: Box::new(sub) });
            emit(&star, false, false)
        }
        HirKind::Repetition(rep) => {
            let (sub, prec) = emit(&rep.sub, false, false)?;
            let sub = if prec == Prec::Atom { sub } else { format!("( {sub} )") };
            let suffix = match (rep.min, rep.max) {
                (0, None) => String::from("*"),
                (1, None) => String::from("+"),
                (0, Some(1)) => String::from("?"),
                (m, None) => format!("{{{m},}}"),
                (m, Some(n)) if m == n => format!("{{{m}}}"),
                (m, Some(n)) => format!("{{{m},{n}}}"),
            };
            // Not an atom: a suffix on a suffix (`"a"+*`) is not GBNF.
            Ok((format!("{sub}{suffix}"), Prec::Seq))
        }
        HirKind::Capture(cap) => emit(&cap.sub, at_start, at_end),
        HirKind::Concat(items) => {
            let last = items.len().saturating_sub(1);
            let mut parts = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let (s, prec) = emit(item, at_start && i == 0, at_end && i == last)?;
                if s == "\"\"" {
                    continue;
                }
                parts.push(if prec == Prec::Alt { format!("( {s} )") } else { s });
            }
            Ok(match parts.len() {
                0 => (String::from("\"\""), Prec::Atom),
                1 => (parts.remove(0), Prec::Seq),
                _ => (parts.join(" "), Prec::Seq),
            })
        }
        HirKind::Alternation(items) => {
            let mut parts = Vec::new();
            for item in items {
                parts.push(emit(item, at_start, at_end)?.0);
            }
            Ok((parts.join(" | "), Prec::Alt))
        }
    }
}

fn nullable(hir: &Hir) -> bool {
    hir.properties().minimum_len() == Some(0)
}

/// `hir` without the empty string: `None` when that leaves nothing.
fn non_empty(hir: &Hir) -> Result<Option<Hir>, String> {
    if !nullable(hir) {
        return Ok(Some(hir.clone()));
    }
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Ok(None),
        HirKind::Capture(cap) => non_empty(&cap.sub),
        HirKind::Alternation(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(non_empty(item)?);
            }
            Ok(if out.is_empty() {
                None
            } else {
                Some(Hir::alternation(out))
            })
        }
        HirKind::Repetition(rep) => {
            // `s{m,n}` without the empty string is `t{1,n}`, `t` being `s` without it.
            if rep.max == Some(0) {
                return Ok(None);
            }
            let Some(sub) = non_empty(&rep.sub)? else {
                return Ok(None);
            };
            Ok(Some(Hir::repetition(Repetition {
                min: 1,
                max: rep.max,
                greedy: rep.greedy,
                sub: Box::new(sub),
            })))
        }
        _ => Err(format!(
            "{NOT_EXPRESSIBLE}: it repeats without bound a sequence that can be empty; \
             rewrite it so the repeated part always matches at least one character"
        )),
    }
}

/// One code point inside a GBNF character class: alphanumerics as is, everything else escaped,
/// so no character can be mistaken for class syntax (`]`, `-`, `^`, `\`).
fn class_char(out: &mut String, c: u32) {
    match char::from_u32(c) {
        Some(ch) if ch.is_ascii_alphanumeric() => out.push(ch),
        _ if c < 0x80 => {
            let _ = write!(out, "\\x{c:02X}");
        }
        _ if c <= 0xffff => {
            let _ = write!(out, "\\u{c:04X}");
        }
        _ => {
            let _ = write!(out, "\\U{c:08X}");
        }
    }
}

fn class_body(ranges: &[(u32, u32)]) -> String {
    let mut out = String::new();
    for &(lo, hi) in ranges {
        class_char(&mut out, lo);
        if hi == lo + 1 {
            class_char(&mut out, hi);
        } else if hi > lo {
            out.push('-');
            class_char(&mut out, hi);
        }
    }
    out
}

/// The Unicode scalar values (surrogates excluded) not in `ranges` (sorted, disjoint).
fn complement(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut next = 0u32;
    for &(lo, hi) in ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= 0x10ffff {
        out.push((next, 0x10ffff));
    }
    remove(&out, 0xd800, 0xdfff)
}

/// `ranges` without `lo..=hi`.
fn remove(ranges: &[(u32, u32)], lo: u32, hi: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for &(a, b) in ranges {
        if b < lo || a > hi {
            out.push((a, b));
            continue;
        }
        if a < lo {
            out.push((a, lo - 1));
        }
        if b > hi {
            out.push((hi + 1, b));
        }
    }
    out
}

/// The shorter of `[ranges]` and `[^complement]`.
fn class_text(ranges: &[(u32, u32)]) -> String {
    let positive = format!("[{}]", class_body(ranges));
    let negative = format!("[^{}]", class_body(&complement(ranges)));
    if negative.len() < positive.len() {
        negative
    } else {
        positive
    }
}

/// A character class over JSON text: the characters that may appear raw go into one GBNF class,
/// and `"`, `\` and control characters become alternatives spelled as their JSON escapes.
fn class_expr(ranges: Vec<(u32, u32)>) -> Result<(String, Prec), String> {
    let mut plain = ranges.clone();
    for (lo, hi) in [(0x00, 0x1f), (0x22, 0x22), (0x5c, 0x5c)] {
        plain = remove(&plain, lo, hi);
    }
    let specials: Vec<u32> = [0x22, 0x5c]
        .into_iter()
        .chain(0x00..0x20)
        .filter(|c| ranges.iter().any(|&(lo, hi)| lo <= *c && *c <= hi))
        .collect();

    let mut alternatives = Vec::new();
    if !plain.is_empty() {
        let mut text = class_text(&plain);
        if text.len() > CLASS_BUDGET {
            let ascii = remove(&plain, 0x80, 0x10ffff);
            if ascii.is_empty() && specials.is_empty() {
                return Err(format!(
                    "{NOT_EXPRESSIBLE}: a character class has too many ranges to write out and no \
                     ASCII members to fall back to"
                ));
            }
            text = if ascii.is_empty() {
                String::new()
            } else {
                class_text(&ascii)
            };
        }
        if !text.is_empty() {
            alternatives.push(text);
        }
    }
    let mut hex_low = Vec::new();
    let mut hex_high = Vec::new();
    for &c in &specials {
        match c {
            0x22 | 0x5c | 0x08 | 0x09 | 0x0a | 0x0c | 0x0d => {
                alternatives.push(gbnf_literal(&json_char_escape(c).unwrap_or_default()));
            }
            c if c < 0x10 => hex_low.push(c),
            c => hex_high.push(c - 0x10),
        }
    }
    if !hex_low.is_empty() || !hex_high.is_empty() {
        let nibbles = |ns: &[u32]| {
            let digits: String = ns.iter().filter_map(|n| char::from_digit(*n, 16)).collect();
            format!("[{digits}]")
        };
        let mut groups = Vec::new();
        if !hex_low.is_empty() {
            groups.push(format!("\"0\" {}", nibbles(&hex_low)));
        }
        if !hex_high.is_empty() {
            groups.push(format!("\"1\" {}", nibbles(&hex_high)));
        }
        alternatives.push(format!("\"\\\\u00\" ( {} )", groups.join(" | ")));
    }
    match alternatives.len() {
        0 => Err(format!(
            "{NOT_EXPRESSIBLE}: it contains a character class that matches nothing"
        )),
        1 if !alternatives[0].contains(' ') => Ok((alternatives.remove(0), Prec::Atom)),
        _ => Ok((format!("( {} )", alternatives.join(" | ")), Prec::Atom)),
    }
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn literals_and_repetition() {
        assert_eq!(translate("ab+c").unwrap(), "\"a\" \"b\"+ \"c\"");
        assert_eq!(translate("^(ab)*$").unwrap(), "\"ab\"*");
        assert_eq!(translate("[a-z]{2,5}").unwrap(), "[a-z]{2,5}");
        assert_eq!(translate("x{3}|y").unwrap(), "\"x\"{3} | \"y\"");
        assert_eq!(translate("(ab|cd)e").unwrap(), "( \"ab\" | \"cd\" ) \"e\"");
        // An unbounded repetition never repeats something that can be empty.
        assert_eq!(translate("(a*)*").unwrap(), "( \"a\"+ )*");
        assert_eq!(translate("(a|b?)+").unwrap(), "[ab]*");
        assert!(translate("(a?b?)*").unwrap_err().contains("can be empty"));
    }

    #[test]
    fn json_escapes() {
        // A quote in the value is `\"` in the JSON text: GBNF literal `"\\\""`.
        assert_eq!(translate("\"").unwrap(), r#""\\\"""#);
        assert_eq!(translate(r"\\").unwrap(), r#""\\\\""#);
        assert_eq!(translate(r"\n").unwrap(), r#""\\n""#);
        assert_eq!(translate("[a\"]").unwrap(), r#"( [a] | "\\\"" )"#);
    }

    #[test]
    fn dot_splits_out_escapes() {
        let dot = translate(".").unwrap();
        assert!(dot.starts_with("( [^\\x00-\\x1F\\x22\\x5C] | "), "{dot}");
        assert!(
            dot.contains(r#""\\\"""#) && dot.contains(r#""\\t""#) && !dot.contains(r#""\\n""#),
            "{dot}"
        );
    }

    #[test]
    fn unicode_classes_fall_back_to_ascii() {
        assert_eq!(translate(r"\d+").unwrap(), "[0-9]+");
        assert_eq!(translate(r"\w").unwrap(), "[0-9A-Z\\x5Fa-z]");
    }

    #[test]
    fn errors() {
        assert!(translate("(")
            .unwrap_err()
            .starts_with("invalid regular expression"));
        assert!(translate(r"\bx").unwrap_err().contains("word boundaries"));
        assert!(translate("a^b")
            .unwrap_err()
            .contains("only allowed at the start and end"));
        assert!(translate("(?=a)")
            .unwrap_err()
            .starts_with("invalid regular expression"));
        assert!(translate("a{1000}b{1000}").is_ok());
    }
}
