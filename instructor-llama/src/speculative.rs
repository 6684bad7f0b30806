//! Draft tokens for speculative decoding, from two cheap sources that need no second model.
//!
//! This module owns *proposing* drafts only. Verification (one batched decode, each position
//! chosen through the grammar, KV rollback after the first mismatch) lives in `generation.rs`
//! (and `batch.rs` for batch sequences), which is why a wrong draft can cost time but never change the output.
//!
//! - **Prompt lookup**: extraction answers copy from the prompt (names, numbers, the previous
//!   answer on a retry). The last `n` tokens are searched for earlier in the prompt and output;
//!   the tokens that followed the most recent earlier occurrence are the draft.
//! - **Schema drafts**: a JSON grammar forces long literals (`"name":`, `,"age":`, `true`).
//!   When the text generated so far ends with a proper prefix of exactly one such literal, the
//!   rest of that literal is the draft.

use llama_cpp_2::token::LlamaToken;

use crate::answer::Answer;

/// Where a step's drafts came from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DraftSource {
    Schema = 0,
    PromptLookup = 1,
    None = 2,
}

/// Drafts for the next step of `out`, at most `budget` tokens, cut at the first token the
/// grammar rejects (it could never be accepted). The schema literal comes first when one
/// applies: the grammar forces it; prompt lookup otherwise. Shared by lone generations and
/// batch sequences.
pub(crate) fn propose(
    out: &Answer<'_>,
    d: &DraftSettings,
    literals: Option<&SchemaLiterals>,
    budget: usize,
) -> (DraftSource, Vec<LlamaToken>) {
    if budget == 0 {
        return (DraftSource::None, Vec::new());
    }
    let model = out.model;
    if d.schema_drafts {
        if let Some(rest) = literals.and_then(|l| l.continuation(&out.text)) {
            let mut tokens = model.vocab().tokenize(rest.as_bytes(), false, false);
            tokens.truncate(budget.min(d.schema_draft_max));
            tokens.truncate(out.chooser.allowed_prefix(&tokens, model));
            if !tokens.is_empty() {
                return (DraftSource::Schema, tokens);
            }
        }
    }
    if d.prompt_lookup {
        let mut tokens = prompt_lookup(
            &out.history,
            d.ngram_max,
            d.ngram_min,
            budget.min(d.draft_len),
        );
        tokens.truncate(out.chooser.allowed_prefix(&tokens, model));
        return (DraftSource::PromptLookup, tokens);
    }
    (DraftSource::None, Vec::new())
}

/// Settings of the draft sources (see [`crate::LlamaBuilder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DraftSettings {
    pub(crate) prompt_lookup: bool,
    pub(crate) schema_drafts: bool,
    pub(crate) ngram_max: usize,
    pub(crate) ngram_min: usize,
    pub(crate) draft_len: usize,
    pub(crate) schema_draft_max: usize,
}

impl Default for DraftSettings {
    fn default() -> Self {
        Self {
            prompt_lookup: true,
            schema_drafts: true,
            ngram_max: 3,
            ngram_min: 1,
            draft_len: 2,
            schema_draft_max: 16,
        }
    }
}

/// Prompt-lookup draft: the tokens that followed the most recent earlier occurrence of the
/// longest suffix n-gram of `history` (`ngram_max` down to `ngram_min` tokens), at most
/// `draft_len` of them. Empty when nothing matches.
///
/// The most recent occurrence wins because on a retry the previous answer sits at the end of
/// the prompt and is the best predictor of the new one.
pub(crate) fn prompt_lookup(
    history: &[LlamaToken],
    ngram_max: usize,
    ngram_min: usize,
    draft_len: usize,
) -> Vec<LlamaToken> {
    let len = history.len();
    if draft_len == 0 {
        return Vec::new();
    }
    for n in (ngram_min.max(1)..=ngram_max).rev() {
        if n >= len {
            continue;
        }
        let pattern = &history[len - n..];
        // Start positions whose match ends before the suffix itself, so a continuation exists.
        for start in (0..len - n).rev() {
            if &history[start..start + n] == pattern {
                let from = start + n;
                let to = (from + draft_len).min(len);
                return history[from..to].to_vec();
            }
        }
    }
    Vec::new()
}

/// The string literals a GBNF grammar forces, read once per request.
#[derive(Debug, Clone, Default)]
pub(crate) struct SchemaLiterals {
    literals: Vec<String>,
}

impl SchemaLiterals {
    /// Collects the quoted literals of at least two characters from GBNF source text
    /// (comments and character classes skipped, escapes decoded).
    pub(crate) fn from_gbnf(grammar: &str) -> Self {
        let mut literals: Vec<String> = gbnf_literals(grammar)
            .into_iter()
            .filter(|l| l.chars().count() >= 2)
            .collect();
        literals.sort();
        literals.dedup();
        Self { literals }
    }

    /// The literals found, sorted.
    #[cfg(test)]
    pub(crate) fn literals(&self) -> &[String] {
        &self.literals
    }

    /// The rest of the only literal that `text` ends partway through, if exactly one fits.
    ///
    /// The longest suffix of `text` that is a proper prefix of some literal decides; when it is
    /// a prefix of several different literals the continuation is ambiguous and nothing is
    /// drafted.
    pub(crate) fn continuation(&self, text: &str) -> Option<&str> {
        let longest = self.literals.iter().map(String::len).max()?;
        // Suffix start positions, longest suffix first, on char boundaries.
        let starts = text
            .char_indices()
            .map(|(i, _)| i)
            .filter(|&i| text.len() - i < longest);
        for start in starts {
            let suffix = &text[start..];
            let mut found: Option<&str> = None;
            for literal in &self.literals {
                if literal.len() > suffix.len() && literal.starts_with(suffix) {
                    let rest = &literal[suffix.len()..];
                    match found {
                        None => found = Some(rest),
                        Some(other) if other == rest => {}
                        Some(_) => return None,
                    }
                }
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

/// Every quoted literal of a GBNF text, decoded, in order of appearance.
fn gbnf_literals(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '[' => {
                // A character class: its quotes are not literals.
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        ']' => break,
                        _ => {}
                    }
                }
            }
            '"' => {
                let mut literal = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(decoded) = unescape(&mut chars) {
                                literal.push(decoded);
                            }
                        }
                        c => literal.push(c),
                    }
                }
                out.push(literal);
            }
            _ => {}
        }
    }
    out
}

/// Decodes the escape after a backslash, as llama.cpp's GBNF parser does.
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    let c = chars.next()?;
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
        let mut v = 0_u32;
        for _ in 0..n {
            v = v * 16 + chars.next()?.to_digit(16)?;
        }
        char::from_u32(v)
    };
    match c {
        'x' => hex(chars, 2),
        'u' => hex(chars, 4),
        'U' => hex(chars, 8),
        't' => Some('\t'),
        'r' => Some('\r'),
        'n' => Some('\n'),
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().copied().map(LlamaToken::new).collect()
    }

    #[test]
    fn lookup_continues_the_most_recent_match_of_the_longest_ngram() {
        // history: 1 2 3 9 | 1 2 3 7 | 5 1 2 3  -> suffix "1 2 3" last seen before "7"
        let h = toks(&[1, 2, 3, 9, 1, 2, 3, 7, 5, 1, 2, 3]);
        assert_eq!(prompt_lookup(&h, 3, 1, 2), toks(&[7, 5]));
    }

    #[test]
    fn lookup_falls_back_to_shorter_ngrams_and_may_return_nothing() {
        let h = toks(&[4, 8, 6, 4]);
        assert_eq!(prompt_lookup(&h, 3, 1, 3), toks(&[8, 6, 4]));
        assert!(prompt_lookup(&toks(&[1, 2, 3]), 3, 1, 2).is_empty());
        assert!(prompt_lookup(&toks(&[1, 1]), 3, 2, 2).is_empty());
    }

    #[test]
    fn literals_are_decoded_and_character_classes_skipped() {
        let g = r#"root ::= "{\"name\":" str ",\"age\":" num "}"  # a "comment"
str ::= "\"" [^"\\]* "\""
num ::= [0-9]+ | "true" | "\x41B""#;
        let l = SchemaLiterals::from_gbnf(g);
        assert_eq!(l.literals(), [",\"age\":", "AB", "true", "{\"name\":"]);
    }

    #[test]
    fn continuation_needs_a_unique_literal() {
        let l = SchemaLiterals::from_gbnf(r#"root ::= "{\"name\":" | "{\"nick\":" | "true""#);
        assert_eq!(l.continuation("x t"), Some("rue"));
        assert_eq!(l.continuation("{\"na"), Some("me\":"));
        // `{"n` starts both keys: ambiguous.
        assert_eq!(l.continuation("{\"n"), None);
        // A complete literal is not a proper prefix: nothing to draft.
        assert_eq!(l.continuation("true"), None);
        assert_eq!(l.continuation(""), None);
    }
}
