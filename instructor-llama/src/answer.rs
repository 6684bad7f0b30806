//! One answer being written: the tokens chosen so far, their text and chunks, the grammar and
//! budget, and the repetition guard's cuts.
//!
//! This module owns everything about a sequence's output that does not depend on how it is
//! decoded, so a lone generation (`generation.rs`, with drafts) and a sequence of a batch
//! (`batch.rs`) share it. It never decodes and never touches a KV cache: a cut says where the
//! caller's cache must be truncated, and the caller does it.
//!
//! # Cutting a loop
//!
//! The repetition guard (`repetition.rs`) sees every emitted token's text. When it reports a
//! loop, the caller stops walking the step's drafts and the answer goes back to the last token
//! boundary at or before the cut: the emitted tokens after it are dropped, the KV cache is
//! truncated to the tokens kept, and the grammar is rebuilt and advanced over them. The bytes
//! between that boundary and the cut, and a closing bracket when the guard closes a list, are
//! then emitted as forced tokens (checked against the grammar first; a cut the grammar would
//! not allow is declined and nothing changes). Tokens not yet decoded are fed with the next
//! step's batch. The consumer is told with [`Chunk::Rewind`] when it already holds text past the
//! cut.

use std::collections::VecDeque;
use std::sync::OnceLock;

use instructor_core::{Chunk, FinishReason, LlmError, LoopCut, Usage};
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::prompt::AnswerMemory;
use crate::repetition::{Cut, Detector, Steer};
use crate::sampler::{allowed_prefix, TokenChooser};
use crate::utf8::Utf8Buffer;

/// The repetition guard's state in one answer.
pub(crate) struct Guard<'a> {
    detector: Detector,
    /// The request's grammar, to rebuild its state after a cut.
    gbnf: String,
    /// Each token's first byte (for steering away from a cycle), computed once per model, on
    /// the first steer.
    first_bytes: &'a OnceLock<Vec<u8>>,
    /// A loop found by the last emitted token, to cut after the step.
    pending: Option<Cut>,
    /// The byte the next token must not start with.
    avoid: Option<u8>,
    cuts: Vec<LoopCut>,
}

impl<'a> Guard<'a> {
    pub(crate) fn new(detector: Detector, gbnf: &str, first_bytes: &'a OnceLock<Vec<u8>>) -> Self {
        Self {
            detector,
            gbnf: gbnf.to_owned(),
            first_bytes,
            pending: None,
            avoid: None,
            cuts: Vec::new(),
        }
    }
}

/// An answer in progress (see the module docs).
pub(crate) struct Answer<'a> {
    pub(crate) model: &'a LlamaModel,
    pub(crate) chooser: TokenChooser,
    guard: Option<Guard<'a>>,
    /// Prompt tokens followed by emitted tokens (the prompt-lookup history).
    pub(crate) history: Vec<LlamaToken>,
    pub(crate) prompt_len: usize,
    /// Emitted tokens so far, EOG excluded.
    pub(crate) emitted: usize,
    pub(crate) max_tokens: usize,
    /// Text emitted so far.
    pub(crate) text: String,
    utf8: Utf8Buffer,
    chunks: VecDeque<Chunk>,
    /// Bytes of `text` the consumer holds (chunks handed out).
    handed: usize,
    /// Per emitted token: `text`'s length after it, and whether no partial character was
    /// pending then (only such boundaries can be cut back to).
    token_ends: Vec<(usize, bool)>,
    pub(crate) finish: Option<FinishReason>,
    pub(crate) usage: Usage,
}

impl<'a> Answer<'a> {
    /// An answer to `prompt`, not yet started.
    pub(crate) fn new(
        model: &'a LlamaModel,
        prompt: Vec<LlamaToken>,
        chooser: TokenChooser,
        max_tokens: u32,
        guard: Option<Guard<'a>>,
    ) -> Self {
        let usage = Usage::default().prompt_tokens(prompt.len() as u64);
        let max_tokens = usize::try_from(max_tokens).unwrap_or(usize::MAX);
        Self {
            model,
            chooser,
            guard,
            prompt_len: prompt.len(),
            history: prompt,
            emitted: 0,
            max_tokens,
            text: String::new(),
            utf8: Utf8Buffer::default(),
            chunks: VecDeque::new(),
            handed: 0,
            token_ends: Vec::new(),
            finish: (max_tokens == 0).then_some(FinishReason::Length),
            usage,
        }
    }

    /// Chooses the token that follows `logits`, steering away from a cut cycle's next copy
    /// when the guard asked for it. Not yet emitted: call [`Answer::emit`].
    pub(crate) fn choose(&mut self, logits: &[f32]) -> Result<LlamaToken, LlmError> {
        let steer = self
            .guard
            .as_mut()
            .and_then(|g| Some((g.avoid.take()?, g.first_bytes)));
        match steer {
            Some((byte, table)) => {
                let model = self.model;
                let table = table.get_or_init(|| first_bytes(model));
                self.chooser.choose_avoiding(logits, byte, table)
            }
            None => self.chooser.choose(logits),
        }
    }

    /// True when the last emitted token completed a loop the guard wants cut.
    pub(crate) fn looping(&self) -> bool {
        self.guard.as_ref().is_some_and(|g| g.pending.is_some())
    }

    /// Emitted tokens not yet in a KV cache that holds `cached` tokens of the history.
    pub(crate) fn pending(&self, cached: usize) -> &[LlamaToken] {
        self.history.get(cached..).unwrap_or_default()
    }

    /// Emits a chosen token: ends the answer on end-of-generation, otherwise advances the
    /// grammar, records the token and queues its text.
    pub(crate) fn emit(&mut self, token: LlamaToken) {
        let vocab = self.model.vocab();
        if vocab.is_eog(token) {
            // Never fed to the grammar: it allows end-of-generation only once complete and has
            // nothing to advance.
            self.finish = Some(FinishReason::Stop);
            return;
        }
        self.chooser.accept(token);
        self.history.push(token);
        self.emitted += 1;
        self.usage.completion_tokens += 1;
        let piece = vocab.token_to_piece(token, false, None);
        let text = self.utf8.push(&piece);
        if !text.is_empty() {
            self.text.push_str(&text);
            if let Some(guard) = self.guard.as_mut() {
                if let Some(cut) = guard.detector.push(&text) {
                    guard.pending.get_or_insert(cut);
                }
            }
            self.chunks.push_back(Chunk::Text(text));
        }
        self.token_ends
            .push((self.text.len(), self.utf8.is_empty()));
        if self.emitted >= self.max_tokens {
            self.finish_at_budget();
        }
    }

    /// At the budget, a grammar that allows nothing but the end means the answer is complete:
    /// that is a normal stop, not a truncation.
    fn finish_at_budget(&mut self) {
        self.finish = Some(if self.chooser.only_end_allowed(self.model) {
            FinishReason::Stop
        } else {
            FinishReason::Length
        });
    }

    /// Applies the cut the guard asked for in this step, if any. Returns the number of history
    /// tokens the caller's KV cache (holding `cached` of them) must be truncated to.
    pub(crate) fn cut_if_looping(&mut self, cached: usize) -> Result<Option<usize>, LlmError> {
        let Some(cut) = self.guard.as_mut().and_then(|g| g.pending.take()) else {
            return Ok(None);
        };
        self.cut(cut, cached)
    }

    /// Goes back to the last clean token boundary at or before `cut.keep` and writes what the
    /// guard steers to (see the module docs). Declines, changing nothing, when the grammar does
    /// not allow the result or the token budget cannot hold it.
    fn cut(&mut self, cut: Cut, cached: usize) -> Result<Option<usize>, LlmError> {
        let Some(guard) = self.guard.as_mut() else {
            return Ok(None);
        };
        let kept = self
            .token_ends
            .iter()
            .rposition(|&(end, clean)| end <= cut.keep && clean)
            .map_or(0, |i| i + 1);
        let boundary = kept.checked_sub(1).map_or(0, |i| self.token_ends[i].0);
        let mut forced_text = self
            .text
            .get(boundary..cut.keep)
            .unwrap_or_default()
            .to_owned();
        if let Steer::Close(byte) = cut.steer {
            forced_text.push(char::from(byte));
        }
        let forced = if forced_text.is_empty() {
            Vec::new()
        } else {
            self.model
                .vocab()
                .tokenize(forced_text.as_bytes(), false, false)
        };
        let kept_tokens = &self.history[self.prompt_len..self.prompt_len + kept];
        let grammar = self
            .chooser
            .grammar_after(self.model, &guard.gbnf, kept_tokens)?;
        let allowed = grammar
            .as_ref()
            .is_none_or(|g| allowed_prefix(g, &forced, self.model) == forced.len());
        if !allowed || self.emitted + forced.len() > self.max_tokens {
            tracing::debug!(kind = %cut.kind, path = %cut.path, "repetition guard: cut declined");
            guard.detector.decline(&cut);
            return Ok(None);
        }

        let dropped_tokens = (self.token_ends.len() - kept) as u64;
        let dropped = self.text.get(boundary..).unwrap_or_default().to_owned();
        self.history.truncate(self.prompt_len + kept);
        self.token_ends.truncate(kept);
        self.text.truncate(boundary);
        self.utf8 = Utf8Buffer::default();
        self.chunks.clear();
        if self.handed > boundary {
            self.chunks.push_back(Chunk::Rewind(boundary));
        } else if self.handed < boundary {
            let unsent = self.text.get(self.handed..).unwrap_or_default().to_owned();
            self.chunks.push_back(Chunk::Text(unsent));
        }
        self.chooser.set_grammar(grammar);
        guard.detector.reset_to(&self.text);
        guard.avoid = match cut.steer {
            Steer::Avoid(byte) => Some(byte),
            Steer::Close(_) => None,
        };
        // The KV cache keeps the tokens still there, less the last: a step decodes the token it
        // continues from.
        let keep_kv = cached
            .min(self.prompt_len + kept)
            .min(self.prompt_len + kept + forced.len() - 1);

        tracing::debug!(
            kind = %cut.kind,
            path = %cut.path,
            tokens_dropped = dropped_tokens,
            dropped = %dropped,
            forced = %forced_text,
            "repetition guard: loop cut"
        );
        self.usage.loops_cut += 1;
        self.usage.tokens_dropped += dropped_tokens;
        guard.cuts.push(loop_cut(cut, dropped_tokens, dropped));
        self.finish = None;
        for token in forced {
            self.emit(token);
        }
        if self.finish.is_none() && self.emitted >= self.max_tokens {
            self.finish_at_budget();
        }
        // Forced text cannot make a loop of its own: it was there before.
        if let Some(guard) = self.guard.as_mut() {
            guard.pending = None;
        }
        Ok(Some(keep_kv))
    }

    /// The next chunk for the consumer, if one is queued.
    pub(crate) fn pop_chunk(&mut self) -> Option<Chunk> {
        let chunk = self.chunks.pop_front()?;
        match &chunk {
            Chunk::Text(text) => self.handed += text.len(),
            Chunk::Rewind(n) => self.handed = *n,
        }
        Some(chunk)
    }

    /// Drops queued chunks (after a failed step: nothing more is handed out).
    pub(crate) fn clear_chunks(&mut self) {
        self.chunks.clear();
    }

    /// Flushes the last bytes and remembers the answer's tokens in `answers` for a retry's
    /// prompt (only when they decode exactly to the text).
    pub(crate) fn end(&mut self, answers: &AnswerMemory) {
        let rest = self.utf8.finish();
        if !rest.is_empty() {
            self.text.push_str(&rest);
            self.chunks.push_back(Chunk::Text(rest));
        }
        let tokens = self.history[self.prompt_len..].to_vec();
        let vocab = self.model.vocab();
        let bytes: Vec<u8> = tokens
            .iter()
            .flat_map(|&t| vocab.token_to_piece(t, false, None))
            .collect();
        // Only an exact round trip may be spliced back (not text with replaced bytes).
        if bytes == self.text.as_bytes() {
            answers.remember(self.text.clone(), tokens);
        }
    }

    /// The loops cut out of this answer so far.
    pub(crate) fn loops_cut(&self) -> &[LoopCut] {
        self.guard.as_ref().map_or(&[], |g| &g.cuts)
    }
}

/// The first byte of every token's text (0 for tokens with no text, such as control tokens; a
/// NUL never appears in JSON text, so it is never avoided).
fn first_bytes(model: &LlamaModel) -> Vec<u8> {
    let vocab = model.vocab();
    (0..vocab.n_tokens())
        .map(|id| {
            vocab
                .token_to_piece(LlamaToken::new(id), false, None)
                .first()
                .copied()
                .unwrap_or(0)
        })
        .collect()
}

fn loop_cut(cut: Cut, tokens_dropped: u64, dropped: String) -> LoopCut {
    LoopCut::new(cut.kind, cut.path, tokens_dropped, dropped)
}
