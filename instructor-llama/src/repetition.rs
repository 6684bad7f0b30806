//! The repetition guard: spotting the loops a small model falls into under a grammar, and
//! saying where to cut and how to steer.
//!
//! This module owns detection only. It is fed the generated text token by token and answers
//! with a [`Cut`]: the byte offset to go back to, and what to write instead. Going back (KV
//! cache, grammar state, emitted text) is `generation.rs`'s; token choice is `sampler.rs`'s. JSON
//! structure comes from the core's incremental parser, never from a second tracker here.
//!
//! # The loops
//!
//! Measured on the default model (SmolLM2-135M), greedy:
//!
//! - **a repeated item**: a list goes `{"name":"Alice",…},{"name":"Bob",…},{"name":"Alice",…}` or
//!   `"stop","stop","stop"` until the token budget. Once an item is complete and equals an earlier
//!   item of the same list byte for byte, the guard cuts back to the end of the item before it
//!   and closes the list (`]`, or `}` for a map whose entry repeats). A block of k items that
//!   repeats is caught at the first repeated item. Types opt out with
//!   `#[instructor(allow_repeats)]` ([`instructor_core::ResponseModel::repeats_allowed`]).
//! - **counting items**: a list runs on with items that each count on from the one before:
//!   `"Alice","Bob","Carol","2024-03-15","2024-03-16","2024-03-17",…` (the attendees of an
//!   event whose date the model started counting from) or `"B-1042","C-1042","D-1042",…`. When
//!   `min_copies` items in a row each count on from the one before them (the same but for one
//!   number one higher, or one letter the next in the alphabet) and none of them is in the prompt, the guard
//!   cuts back to the end of the item the series started from and closes the list. A series the
//!   prompt spells out (`rooms 101, 102, 103, 104 and 105`) is copied, and left alone.
//! - **cycling text**: a string runs on as `….com.br.br.br…` or `…, a b, a b, a b…`. When the
//!   end of a string is a span of at most `max_period` bytes repeated `min_copies` times (and at
//!   least `min_span` bytes in all, twice that for a single repeated byte), the guard cuts all copies but the first and steers the next
//!   token away from the byte that would start another copy; the grammar then picks what it
//!   allows instead (the closing quote, the `@` of an email pattern). A repetition that the
//!   prompt itself contains is copied text, not a loop, and is left alone.
//!
//! Numbers cannot run on: the compile-time grammars bound every number's digits.
//!
//! # Exactness
//!
//! The guard only reads. Until it fires, generation is token for token what it is without it,
//! and it fires at the same token whether drafts are on or off (it sees every emitted token, in
//! order, however many a decode step confirmed).
//!
//! # Cost
//!
//! Per token: the parser's work on a few bytes, and one comparison per byte for every candidate
//! period (`max_period`, 64 by default). A completed list item is compared with its earlier
//! siblings. `decode_bench` measures the total (well under a microsecond per token).

use instructor_core::__private::partial::PartialParser;
use instructor_core::{Event, LoopKind, Seg};

/// Settings of the repetition guard ([`crate::LlamaBuilder::repetition_guard`]).
///
/// On by default. The thresholds are those measured to catch every loop the default model
/// produced on the benchmark and the test corpus without touching an answer that has none.
///
/// ```
/// use instructor_llama::RepetitionGuard;
/// let strict = RepetitionGuard::default().min_copies(3);
/// let off = RepetitionGuard::off();
/// assert!(strict.is_enabled() && !off.is_enabled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepetitionGuard {
    enabled: bool,
    min_copies: usize,
    max_period: usize,
    min_span: usize,
}

impl Default for RepetitionGuard {
    fn default() -> Self {
        Self {
            enabled: true,
            min_copies: 4,
            max_period: 64,
            min_span: 12,
        }
    }
}

impl RepetitionGuard {
    /// No guard: the model may loop until the token budget ends the generation.
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Whether the guard runs.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Copies of a span at the end of a string that make a cycle (at least 2). Default 4.
    #[must_use]
    pub fn min_copies(mut self, copies: usize) -> Self {
        self.min_copies = copies.max(2);
        self
    }

    /// Longest span, in bytes, checked for cycles. Default 64: sentence-long cycles occur
    /// (`This: {{name}} is a valid JSON response. ` repeated, 41 bytes, on SmolLM2 re-asked with
    /// a validator that rejects everything), and each period costs one byte comparison per byte.
    #[must_use]
    pub fn max_period(mut self, bytes: usize) -> Self {
        self.max_period = bytes.max(1);
        self
    }

    /// Fewest bytes a cycle spans in all, copies together (so `"aaaa"` is not a loop). Default 12.
    #[must_use]
    pub fn min_span(mut self, bytes: usize) -> Self {
        self.min_span = bytes.max(2);
        self
    }
}

/// What to write after cutting back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steer {
    /// Close the innermost container with this byte (`]` or `}`).
    Close(u8),
    /// Choose the next token among those whose text does not start with this byte.
    Avoid(u8),
}

/// A loop found: cut the text back to `keep` bytes, then steer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cut {
    pub(crate) keep: usize,
    pub(crate) steer: Steer,
    pub(crate) kind: LoopKind,
    pub(crate) path: String,
    /// Nesting depth of the container the loop is in (for [`Detector::decline`]).
    depth: usize,
}

/// Time a default detector takes to read each of `documents` in pieces of about `piece` bytes
/// (one per token), and the number of pieces: `decode_bench`'s figure.
pub(crate) fn cost(documents: &[&str], piece: usize) -> (std::time::Duration, usize) {
    let mut pieces = Vec::new();
    let mut total = std::time::Duration::ZERO;
    let mut count = 0;
    for doc in documents {
        pieces.clear();
        let mut start = 0;
        while start < doc.len() {
            let mut end = (start + piece.max(1)).min(doc.len());
            while !doc.is_char_boundary(end) {
                end += 1;
            }
            pieces.push(&doc[start..end]);
            start = end;
        }
        let mut detector = Detector::new(RepetitionGuard::default(), None, String::new());
        let started = std::time::Instant::now();
        for p in &pieces {
            let _ = detector.push(p);
        }
        total += started.elapsed();
        count += pieces.len();
    }
    (total, count)
}

/// A completed member of an open container: its key (empty in arrays), its JSON text, and
/// where that text ends.
#[derive(Debug)]
struct Member {
    key: Box<str>,
    raw: Box<str>,
    end: usize,
}

/// An open object or array.
#[derive(Debug, Default)]
struct Frame {
    object: bool,
    members: Vec<Member>,
    /// Where the last completed member's text ends.
    last_end: usize,
    /// Set when a cut here could not be applied (the grammar wants more items): stop checking.
    declined: bool,
}

/// Watches one generation for loops.
pub(crate) struct Detector {
    settings: RepetitionGuard,
    repeats_allowed: Option<fn(&[Seg<'_>]) -> bool>,
    /// The conversation's text: a repetition found in it is copied, not looped.
    source: String,
    parser: PartialParser,
    frames: Vec<Frame>,
    /// `runs[p - 1]`: how many bytes in a row, ending at the last one, equal the byte `p` before
    /// them (inside one string: a quote resets every run).
    runs: Vec<usize>,
    in_string: bool,
    /// The JSON path of the string being written, for the report.
    string_path: String,
    /// The parser failed (a backend without the grammar wrote something else): stay silent.
    failed: bool,
}

impl Detector {
    pub(crate) fn new(
        settings: RepetitionGuard,
        repeats_allowed: Option<fn(&[Seg<'_>]) -> bool>,
        source: String,
    ) -> Self {
        Self {
            settings,
            repeats_allowed,
            source,
            parser: PartialParser::new(),
            frames: Vec::new(),
            runs: vec![0; settings.max_period],
            in_string: false,
            string_path: String::new(),
            failed: false,
        }
    }

    /// Starts again from `text`, already written and known to hold no loop (after a cut).
    pub(crate) fn reset_to(&mut self, text: &str) {
        self.parser = PartialParser::new();
        self.frames.clear();
        self.runs.iter_mut().for_each(|r| *r = 0);
        self.in_string = false;
        self.failed = false;
        let _ = self.push(text);
    }

    /// `cut` could not be applied (the grammar wants more items there): stop looking for
    /// repeats in its container.
    pub(crate) fn decline(&mut self, cut: &Cut) {
        if let Some(frame) = self.frames.get_mut(cut.depth) {
            frame.declined = true;
        }
    }

    /// Feeds the text of the next token; returns the loop it completes, if any.
    pub(crate) fn push(&mut self, text: &str) -> Option<Cut> {
        if !self.settings.enabled || self.failed || text.is_empty() {
            return None;
        }
        let from = self.parser.text().len();
        let mut cut = None;
        let frames = &mut self.frames;
        let in_string = &mut self.in_string;
        let string_path = &mut self.string_path;
        let allowed = self.repeats_allowed;
        let series = Series {
            copies: self.settings.min_copies,
            source: &self.source,
        };
        // Every event is tracked, even after a cut is found, so the frames stay in step with the
        // parser if the cut is declined.
        let fed = self.parser.feed(text, &mut |path, event| match event {
            Event::ObjectStart | Event::ArrayStart => {
                *in_string = false;
                frames.push(Frame {
                    object: *event == Event::ObjectStart,
                    ..Frame::default()
                });
            }
            Event::Str(piece) => {
                if !*in_string && piece.is_empty() {
                    string_path.clear();
                    write_path(string_path, path);
                }
                *in_string = true;
            }
            Event::End { raw, start } => {
                *in_string = false;
                if path.len() < frames.len() {
                    frames.pop();
                }
                let found = member_done(frames, allowed, &series, path, raw, *start);
                cut = cut.take().or(found);
            }
        });
        if fed.is_err() {
            self.failed = true;
            return None;
        }
        if cut.is_some() {
            return cut;
        }
        self.track_runs(from);
        if self.in_string {
            self.cycle()
        } else {
            None
        }
    }

    /// Updates the runs over the bytes fed since `from`.
    fn track_runs(&mut self, from: usize) {
        let bytes = self.parser.text().as_bytes();
        for i in from..bytes.len() {
            let b = bytes[i];
            for (k, run) in self.runs.iter_mut().enumerate() {
                let p = k + 1;
                *run = if b != b'"' && i >= p && bytes[i - p] == b {
                    *run + 1
                } else {
                    0
                };
            }
        }
    }

    /// The shortest cycle at the end of the string being written, as a cut.
    fn cycle(&self) -> Option<Cut> {
        let s = self.settings;
        let text = self.parser.text();
        let len = text.len();
        for (k, &run) in self.runs.iter().enumerate() {
            let p = k + 1;
            // A multiple of a shorter period over the same bytes is that cycle, judged by its
            // own period.
            if (1..p).any(|d| p % d == 0 && self.runs[d - 1] >= run) {
                continue;
            }
            // One byte repeated (`0000…`, `----…`) is common in real values: twice the span.
            let span = if p == 1 { 2 * s.min_span } else { s.min_span };
            if run < (s.min_copies - 1) * p || run + p < span {
                continue;
            }
            let region = text.get(len - run - p..)?;
            if self.source.contains(region) {
                continue;
            }
            // Keep the first copy: drop whole periods from the end, so the phase stays.
            let mut keep = len - p * (run / p);
            while !text.is_char_boundary(keep) {
                keep += 1;
            }
            let next = *text.as_bytes().get(keep)?;
            return Some(Cut {
                keep,
                steer: Steer::Avoid(next),
                kind: LoopKind::CyclingText { period: p },
                path: self.string_path.clone(),
                depth: self.frames.len().saturating_sub(1),
            });
        }
        None
    }
}

/// What makes list items a counting series: `copies` items in a row, each counting on from
/// the one before, none of them in `source`.
struct Series<'a> {
    copies: usize,
    source: &'a str,
}

impl Series<'_> {
    /// The index of the member a counting series started from, when `raw` completes one.
    fn start(&self, members: &[Member], raw: &str) -> Option<usize> {
        let seed = members.len().checked_sub(self.copies)?;
        let mut before = &*members[seed].raw;
        for item in members[seed + 1..].iter().map(|m| &*m.raw).chain([raw]) {
            let word = counts_on(before, item)?;
            if self.source.contains(word) {
                return None;
            }
            before = item;
        }
        Some(seed)
    }
}

/// When the JSON string `b` counts on from `a` (same length, the same but for one number one
/// higher, or one letter the next in the alphabet): the word of `b` that changed (letters,
/// digits and the joiners `-_.:/` around the change), to look for in the prompt.
fn counts_on<'b>(a: &str, b: &'b str) -> Option<&'b str> {
    if a.len() != b.len() || !b.starts_with('"') {
        return None;
    }
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let first = (0..y.len()).find(|&i| x[i] != y[i])?;
    let last = (0..y.len()).rev().find(|&i| x[i] != y[i])?;
    let next = if y[first].is_ascii_digit() {
        // The number the change is in, in both: one higher (`09` → `10`, `19` → `20`).
        let from = (0..first)
            .rev()
            .take_while(|&i| y[i].is_ascii_digit())
            .last()
            .unwrap_or(first);
        let to = (last..y.len())
            .take_while(|&i| y[i].is_ascii_digit())
            .last()
            .unwrap_or(last);
        let number = |t: &str| t.get(from..=to)?.parse::<u64>().ok();
        number(a)
            .zip(number(b))
            .is_some_and(|(m, n)| m.checked_add(1) == Some(n))
    } else {
        first == last && y[first].is_ascii_alphabetic() && x[first].checked_add(1) == Some(y[first])
    };
    if !next {
        return None;
    }
    let joins = |c: u8| c.is_ascii_alphanumeric() || b"-_.:/".contains(&c);
    let from = (0..first)
        .rev()
        .take_while(|&i| joins(y[i]))
        .last()
        .unwrap_or(first);
    let to = (last..y.len())
        .take_while(|&i| joins(y[i]))
        .last()
        .unwrap_or(last);
    b.get(from..=to)
}

/// A member of the innermost container is complete: a cut if it repeats an earlier member, or
/// completes a counting series of list items.
fn member_done(
    frames: &mut [Frame],
    allowed: Option<fn(&[Seg<'_>]) -> bool>,
    series: &Series<'_>,
    path: &[Seg<'_>],
    raw: &str,
    start: usize,
) -> Option<Cut> {
    if path.len() != frames.len() {
        return None;
    }
    let (last, parent) = path.split_last()?;
    let frame = frames.last_mut()?;
    let key = match last {
        Seg::Key(k) => *k,
        Seg::Index(_) => "",
    };
    let repeat = !frame.declined
        && frame
            .members
            .iter()
            .any(|m| &*m.raw == raw && &*m.key == key);
    let counting = (!repeat && !frame.declined && !frame.object)
        .then(|| series.start(&frame.members, raw))
        .flatten();
    let cut = if allowed.is_some_and(|f| f(parent)) {
        None
    } else if repeat {
        Some((
            frame.last_end,
            if frame.object {
                LoopKind::RepeatedEntry
            } else {
                LoopKind::RepeatedItem
            },
        ))
    } else {
        counting.map(|seed| (frame.members[seed].end, LoopKind::CountingItems))
    };
    let cut = cut.map(|(keep, kind)| {
        let mut where_ = String::new();
        write_path(&mut where_, path);
        Cut {
            keep,
            steer: Steer::Close(if frame.object { b'}' } else { b']' }),
            kind,
            path: where_,
            depth: parent.len(),
        }
    });
    frame.members.push(Member {
        key: key.into(),
        raw: raw.into(),
        end: start + raw.len(),
    });
    frame.last_end = start + raw.len();
    cut
}

/// `$`, then `.key` or `[index]` per step.
fn write_path(out: &mut String, path: &[Seg<'_>]) {
    use std::fmt::Write;
    out.push('$');
    for seg in path {
        let _ = match seg {
            Seg::Key(k) => write!(out, ".{k}"),
            Seg::Index(i) => write!(out, "[{i}]"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` in pieces of `n` bytes (on char boundaries); returns the first cut and the
    /// text fed up to it.
    fn run(text: &str, n: usize, allowed: Option<fn(&[Seg<'_>]) -> bool>) -> Option<(Cut, String)> {
        let mut d = Detector::new(RepetitionGuard::default(), allowed, String::new());
        let mut fed = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            let mut at = n.min(rest.len());
            while !rest.is_char_boundary(at) {
                at += 1;
            }
            let (piece, tail) = rest.split_at(at);
            fed.push_str(piece);
            rest = tail;
            if let Some(cut) = d.push(piece) {
                return Some((cut, fed));
            }
        }
        None
    }

    #[test]
    fn a_repeated_list_item_is_cut_back_to_the_item_before() {
        let text = r#"{"people":[{"name":"Alice","age":30},{"name":"Bob","age":25},{"name":"Alice","age":30},"#;
        for n in 1..6 {
            let (cut, fed) = run(text, n, None).expect("a cut");
            assert_eq!(cut.kind, LoopKind::RepeatedItem);
            assert_eq!(cut.steer, Steer::Close(b']'));
            assert_eq!(cut.path, "$.people[2]");
            assert_eq!(
                &fed[..cut.keep],
                r#"{"people":[{"name":"Alice","age":30},{"name":"Bob","age":25}"#
            );
        }
    }

    #[test]
    fn distinct_items_never_fire() {
        let text = r#"{"a":[1,2,3,10,"x","y",{"k":1},{"k":2},[1],[2]],"b":{"x":1,"y":1,"z":1},"c":[{"name":"Alice","age":30},{"name":"Alicia","age":30}]}"#;
        for n in 1..8 {
            assert_eq!(run(text, n, None), None);
        }
    }

    #[test]
    fn repeated_strings_in_a_list_and_map_entries() {
        let (cut, fed) = run(r#"["stop","go","stop","#, 3, None).expect("a cut");
        assert_eq!(
            (cut.kind, &fed[..cut.keep]),
            (LoopKind::RepeatedItem, r#"["stop","go""#)
        );
        let (cut, fed) = run(r#"{"a":1,"b":2,"a":1,"#, 2, None).expect("a cut");
        assert_eq!(cut.kind, LoopKind::RepeatedEntry);
        assert_eq!(cut.steer, Steer::Close(b'}'));
        assert_eq!(&fed[..cut.keep], r#"{"a":1,"b":2"#);
    }

    #[test]
    fn an_opted_out_list_keeps_its_repeats() {
        fn tags_only(path: &[Seg<'_>]) -> bool {
            matches!(path, [Seg::Key("tags")])
        }
        let text = r#"{"tags":["x","x","x"],"more":["y","y"]}"#;
        let (cut, _) = run(text, 2, Some(tags_only)).expect("the other list is cut");
        assert_eq!(cut.path, "$.more[1]");
    }

    #[test]
    fn a_counting_series_is_cut_back_to_where_it_started() {
        let text = r#"{"attendees":["Alice","Bob","Carol","2024-03-15","2024-03-16","2024-03-17","2024-03-18","2024-03-19","2024-03-20","#;
        for n in 1..6 {
            let mut d = Detector::new(
                RepetitionGuard::default(),
                None,
                "Meeting on 2024-03-15 with Alice, Bob and Carol.".into(),
            );
            let mut fed = String::new();
            let mut found = None;
            for piece in text.as_bytes().chunks(n) {
                let piece = std::str::from_utf8(piece).unwrap();
                fed.push_str(piece);
                if let Some(cut) = d.push(piece) {
                    found = Some(cut);
                    break;
                }
            }
            let cut = found.expect("a cut");
            assert_eq!(cut.kind, LoopKind::CountingItems);
            assert_eq!(cut.steer, Steer::Close(b']'));
            assert_eq!(cut.path, "$.attendees[7]");
            assert_eq!(
                &fed[..cut.keep],
                r#"{"attendees":["Alice","Bob","Carol","2024-03-15""#
            );
        }
        let (cut, fed) = run(r#"["B-1042","C-1042","D-1042","E-1042","F-1042","#, 2, None)
            .expect("letters count too");
        assert_eq!(
            (cut.kind, &fed[..cut.keep]),
            (LoopKind::CountingItems, r#"["B-1042""#)
        );
    }

    #[test]
    fn series_that_are_short_copied_or_not_counting_are_left_alone() {
        // Three steps only, then something else.
        assert_eq!(run(r#"["A1","A2","A3","A4","zz"]"#, 2, None), None);
        // Same length, but whole words change: not a count.
        assert_eq!(
            run(r#"["red","tan","sky","ivy","oak","elm"]"#, 2, None),
            None
        );
        // Numbers are bounded by the grammar; only strings are watched.
        assert_eq!(run(r#"[1,2,3,4,5,6,7,8,9]"#, 1, None), None);
        // The prompt spells the series out: copied.
        let mut d = Detector::new(
            RepetitionGuard::default(),
            None,
            "Rooms 101, 102, 103, 104, 105 and 106 are free.".into(),
        );
        assert_eq!(d.push(r#"["101","102","103","104","105","106"]"#), None);
    }

    #[test]
    fn a_cycling_string_keeps_one_copy_and_avoids_the_next() {
        let (cut, fed) = run(r#"{"email":"maria@example.com.br.br.br.br"#, 2, None).expect("a cut");
        assert_eq!(cut.kind, LoopKind::CyclingText { period: 3 });
        assert_eq!(&fed[..cut.keep], r#"{"email":"maria@example.com.br"#);
        assert_eq!(cut.steer, Steer::Avoid(b'.'));
        assert_eq!(cut.path, "$.email");
        let (cut, fed) = run(r#"{"note":"x, a b, a b, a b, a b"#, 3, None).expect("a cut");
        assert_eq!(cut.kind, LoopKind::CyclingText { period: 5 });
        assert!(fed[..cut.keep].ends_with("x, a b"), "{}", &fed[..cut.keep]);
        let (cut, fed) = run(
            r#"["12:30.0000000000000.0000000000000.0000000000000.0000000000000"#,
            4,
            None,
        )
        .expect("a cut");
        assert_eq!(&fed[..cut.keep], r#"["12:30.0000000000000"#);
    }

    #[test]
    fn multibyte_cycles_cut_on_a_char_boundary() {
        let (cut, fed) = run(r#"["été été été été été"#, 1, None).expect("a cut");
        assert!(fed.is_char_boundary(cut.keep));
        assert!(fed[..cut.keep].starts_with(r#"["été"#));
    }

    #[test]
    fn short_or_copied_repetitions_are_left_alone() {
        // Below the thresholds: ordinary text.
        for text in [
            r#"["aaaa","hahaha","1,000,000","Mississippi""#,
            r#"{"s":"abab"}"#,
        ] {
            assert_eq!(run(text, 2, None), None, "{text}");
        }
        // Repetitions the prompt holds are copies.
        let mut d = Detector::new(
            RepetitionGuard::default(),
            None,
            "She said: no no no no no no.".into(),
        );
        assert_eq!(d.push(r#"{"quote":"no no no no no no"#), None);
    }

    #[test]
    fn off_means_off_and_reset_forgets_nothing_kept() {
        let mut d = Detector::new(RepetitionGuard::off(), None, String::new());
        assert_eq!(d.push(r#"["a","a","a""#), None);
        let mut d = Detector::new(RepetitionGuard::default(), None, String::new());
        d.reset_to(r#"["a","b""#);
        assert!(
            d.push(r#","a""#).is_some(),
            "items kept before the reset still count"
        );
    }

    #[test]
    fn a_declined_cut_stops_checking_that_list() {
        let mut d = Detector::new(RepetitionGuard::default(), None, String::new());
        let cut = d.push(r#"[["a","a""#).expect("a cut");
        d.decline(&cut);
        assert_eq!(d.push(r#","a"]"#), None);
        let cut = d
            .push(r#",["b","b""#)
            .expect("another list is still checked");
        assert_eq!(cut.path, "$[1][1]");
    }
}
