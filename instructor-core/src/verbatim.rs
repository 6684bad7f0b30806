//! The grammar of "a substring of the source": a suffix automaton of the source texts, written
//! as one GBNF rule per state.
//!
//! This module owns the automaton and its GBNF text, nothing else: which texts are the source,
//! and when the rules are built, is `grounding.rs`'s.
//!
//! # Why it is exact and linear
//!
//! The suffix automaton of a string `s` is the smallest deterministic automaton whose paths
//! from the start state spell exactly the substrings of `s`; it has at most `2|s| - 1` states and
//! `3|s| - 4` transitions. Several sources are joined with a separator symbol that is no
//! character, and every transition on it is dropped: a path that avoids the separator spells a
//! substring of the joined text without the separator, which is exactly a substring of one of
//! the sources. Every state is accepting (every prefix of a substring is a substring), so each
//! rule is `vs--K ::= "" | c1 vs--M1 | c2 vs--M2 …`, a transition per alternative.
//!
//! Each transition's character is written as `serde_json` writes it inside a string (`\"`, `\\`,
//! `\n`, `\u0001`, raw UTF-8 for the rest), so the rule accepts the JSON text of a substring,
//! escaped the one way `serde_json` escapes it, and nothing else. Every reference is the last
//! item of its alternative, so llama.cpp's grammar stacks do not grow with the length of the
//! copy, and the automaton is deterministic, so one stack is alive at a time.

use std::collections::HashMap;

use crate::grammar::{push_json_str, push_lit};

/// The separator between sources: not a Unicode scalar value, so no character equals it.
const SEPARATOR: u32 = 0x11_0000;

/// A suffix automaton over `u32` symbols (characters, and [`SEPARATOR`]).
struct Automaton {
    /// Outgoing transitions of each state, sorted by symbol.
    next: Vec<Vec<(u32, u32)>>,
    /// Suffix link of each state (`u32::MAX` for the start state).
    link: Vec<u32>,
    /// Length of the longest string reaching each state.
    len: Vec<u32>,
}

impl Automaton {
    fn new(capacity: usize) -> Automaton {
        let mut a = Automaton {
            next: Vec::with_capacity(capacity),
            link: Vec::with_capacity(capacity),
            len: Vec::with_capacity(capacity),
        };
        a.push_state(0, u32::MAX, Vec::new());
        a
    }

    fn push_state(&mut self, len: u32, link: u32, next: Vec<(u32, u32)>) -> u32 {
        self.next.push(next);
        self.link.push(link);
        self.len.push(len);
        // At most 2 states per symbol: fits in u32 for any source that fits in memory here.
        u32::try_from(self.next.len() - 1).unwrap_or(u32::MAX)
    }

    fn get(&self, state: u32, symbol: u32) -> Option<u32> {
        let t = &self.next[state as usize];
        t.binary_search_by_key(&symbol, |&(s, _)| s)
            .ok()
            .map(|i| t[i].1)
    }

    fn set(&mut self, state: u32, symbol: u32, target: u32) {
        let t = &mut self.next[state as usize];
        match t.binary_search_by_key(&symbol, |&(s, _)| s) {
            Ok(i) => t[i].1 = target,
            Err(i) => t.insert(i, (symbol, target)),
        }
    }

    /// The classic online construction: appends `symbol` to the text, `last` being the state of
    /// the whole text so far; returns the state of the extended text.
    fn extend(&mut self, last: u32, symbol: u32) -> u32 {
        let cur = self.push_state(self.len[last as usize] + 1, 0, Vec::new());
        let mut p = last;
        while p != u32::MAX && self.get(p, symbol).is_none() {
            self.set(p, symbol, cur);
            p = self.link[p as usize];
        }
        if p == u32::MAX {
            self.link[cur as usize] = 0;
            return cur;
        }
        let Some(q) = self.get(p, symbol) else {
            return cur;
        };
        if self.len[p as usize] + 1 == self.len[q as usize] {
            self.link[cur as usize] = q;
            return cur;
        }
        let clone = self.push_state(
            self.len[p as usize] + 1,
            self.link[q as usize],
            self.next[q as usize].clone(),
        );
        while p != u32::MAX && self.get(p, symbol) == Some(q) {
            self.set(p, symbol, clone);
            p = self.link[p as usize];
        }
        self.link[q as usize] = clone;
        self.link[cur as usize] = clone;
        cur
    }
}

/// The name of the rule that matches one JSON string copied from the source, quotes included.
pub(crate) const RULE: &str = "verbatim--src";

/// Appends the rules of [`RULE`] for `sources` to `out`: `verbatim--src ::= "\"" vs--0 "\""` and
/// a rule per state of the automaton that has transitions (a transition to a state without any
/// is written as its character alone).
pub(crate) fn push_rules(out: &mut String, sources: &[&str]) {
    let total: usize = sources.iter().map(|s| s.chars().count() + 1).sum();
    let mut a = Automaton::new(2 * total + 1);
    let mut last = 0;
    for (i, s) in sources.iter().enumerate() {
        if i > 0 {
            last = a.extend(last, SEPARATOR);
        }
        for c in s.chars() {
            last = a.extend(last, u32::from(c));
        }
    }
    // Number the states reachable without the separator, breadth first from the start, skipping
    // those without transitions: they are not written as rules.
    let n = a.next.len();
    let live = |a: &Automaton, s: u32| a.next[s as usize].iter().any(|&(c, _)| c != SEPARATOR);
    let mut id = vec![u32::MAX; n];
    let mut order = vec![0u32];
    id[0] = 0;
    let mut head = 0;
    while head < order.len() {
        let s = order[head];
        head += 1;
        for &(c, t) in &a.next[s as usize] {
            if c != SEPARATOR && id[t as usize] == u32::MAX && live(&a, t) {
                id[t as usize] = u32::try_from(order.len()).unwrap_or(u32::MAX);
                order.push(t);
            }
        }
    }
    out.push_str(RULE);
    out.push_str(" ::= \"\\\"\" vs--0 \"\\\"\"\n");
    let mut lits: HashMap<u32, String> = HashMap::new();
    for (k, &s) in order.iter().enumerate() {
        out.push_str("vs--");
        out.push_str(&k.to_string());
        out.push_str(" ::= \"\"");
        for &(c, t) in &a.next[s as usize] {
            let Some(ch) = char::from_u32(c) else {
                continue;
            };
            out.push_str(" | ");
            out.push_str(lits.entry(c).or_insert_with(|| json_char_lit(ch)));
            if id[t as usize] != u32::MAX {
                out.push_str(" vs--");
                out.push_str(&id[t as usize].to_string());
            }
        }
        out.push('\n');
    }
}

/// The GBNF literal of `c` as `serde_json` writes it inside a JSON string.
fn json_char_lit(c: char) -> String {
    let mut buf = [0u8; 4];
    let mut json = String::with_capacity(8);
    push_json_str(&mut json, c.encode_utf8(&mut buf));
    let inner = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or_default();
    let mut out = String::with_capacity(inner.len() + 4);
    push_lit(&mut out, inner);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(s: &str) -> usize {
        let mut a = Automaton::new(8);
        let mut last = 0;
        for c in s.chars() {
            last = a.extend(last, u32::from(c));
        }
        a.next.len()
    }

    #[test]
    fn automaton_size_is_linear() {
        // The textbook bound: at most 2n - 1 states for n >= 2.
        for s in ["abcbc", "aaaaaaaa", "abababab", "mississippi"] {
            let n = s.chars().count();
            assert!(states(s) < 2 * n, "{s}: {}", states(s));
        }
    }

    #[test]
    fn rules_escape_like_serde_json() {
        let mut out = String::new();
        push_rules(&mut out, &["a\"\\\n\u{1}é"]);
        assert!(
            out.starts_with("verbatim--src ::= \"\\\"\" vs--0 \"\\\"\"\n"),
            "{out}"
        );
        for lit in [
            r#""a""#,
            r#""\\\"""#,
            r#""\\\\""#,
            r#""\\n""#,
            r#""\\u0001""#,
            "\"é\"",
        ] {
            assert!(out.contains(lit), "{lit} missing in\n{out}");
        }
    }
}
