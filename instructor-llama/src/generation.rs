//! One generation: prompt evaluation with KV reuse, then the decode loop with speculative
//! verification, streamed as UTF-8 chunks.
//!
//! This module owns the order of operations per step and the bookkeeping that must stay
//! consistent across them (KV cache contents, grammar state, token budget, usage figures).
//! Token choice is `sampler.rs`'s, drafts are `speculative.rs`'s, contexts are `pool.rs`'s.
//!
//! # One step
//!
//! The last emitted token is not yet in the KV cache. A step decodes it together with the
//! drafts (`[last, d0, …, dk-1]`, logits for every position) in one batch, then walks the
//! positions: the token chosen at position `i` (through the grammar) is emitted; if it equals
//! `di` the next position's logits are valid too and the walk continues, otherwise it stops.
//! The cache entries of rejected drafts are removed. Every emitted token is chosen from logits
//! of exactly the prefix it follows, so under greedy decoding the output is the one
//! non-speculative decoding gives (up to the batch's floating-point rounding; see the tests).
//!
//! # Cutting a loop
//!
//! The repetition guard (`repetition.rs`) sees every emitted token's text. When it reports a
//! loop, the step stops walking its drafts and the generation goes back to the last token
//! boundary at or before the cut: the emitted tokens after it are dropped, the KV cache is
//! truncated to the tokens kept, and the grammar is rebuilt and advanced over them. The bytes
//! between that boundary and the cut, and a closing bracket when the guard closes a list, are
//! then emitted as forced tokens (checked against the grammar first; a cut the grammar would
//! not allow is declined and nothing changes). Tokens not yet decoded are fed with the next
//! step's batch. The consumer is told with [`Chunk::Rewind`] when it already holds text past the
//! cut.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Instant;

use instructor_core::{Chunk, FinishReason, LlmError, LoopCut, TokenStream, Usage};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::backend::engine_lock;
use crate::error::decode;
use crate::pool::Lease;
use crate::prompt::AnswerMemory;
use crate::repetition::{Cut, Detector, Steer};
use crate::sampler::{allowed_prefix, TokenChooser};
use crate::speculative::{prompt_lookup, DraftSettings, SchemaLiterals};
use crate::utf8::Utf8Buffer;

/// A generation in progress; implements [`TokenStream`].
pub(crate) struct Generation<'a> {
    model: &'a LlamaModel,
    answers: &'a AnswerMemory,
    lease: Lease<'a>,
    chooser: TokenChooser,
    drafts: DraftSettings,
    literals: Option<SchemaLiterals>,
    batch: LlamaBatch<'static>,
    batch_capacity: usize,
    /// Prompt tokens followed by emitted tokens (the prompt-lookup history).
    history: Vec<LlamaToken>,
    prompt_len: usize,
    /// Emitted tokens so far, EOG excluded.
    emitted: usize,
    max_tokens: usize,
    /// Text emitted so far (for schema drafts).
    text: String,
    /// Batch index of the logits for the next choice, when they are already computed (the
    /// prompt's last token before the first step).
    ready_logits: Option<i32>,
    utf8: Utf8Buffer,
    chunks: VecDeque<Chunk>,
    /// Bytes of `text` the consumer holds (chunks handed out).
    handed: usize,
    /// Per emitted token: `text`'s length after it, and whether no partial character was
    /// pending then (only such boundaries can be cut back to).
    token_ends: Vec<(usize, bool)>,
    finish: Option<FinishReason>,
    usage: Usage,
    /// (proposed, accepted) draft tokens per [`DraftSource`], for the debug log.
    draft_stats: [(usize, usize); 2],
    guard: Option<Guard<'a>>,
    /// Whether the answer's tokens have been remembered for a retry (once, however it ends).
    ended: bool,
}

/// The repetition guard's state in one generation.
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

/// Where a step's drafts came from.
#[derive(Debug, Clone, Copy)]
enum DraftSource {
    Schema = 0,
    PromptLookup = 1,
    None = 2,
}

impl<'a> Generation<'a> {
    /// Evaluates the prompt (reusing the leased context's cached prefix) and returns the
    /// generation, ready for its first token.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        model: &'a LlamaModel,
        answers: &'a AnswerMemory,
        mut lease: Lease<'a>,
        prompt: Vec<LlamaToken>,
        chooser: TokenChooser,
        drafts: DraftSettings,
        literals: Option<SchemaLiterals>,
        max_tokens: u32,
        guard: Option<Guard<'a>>,
    ) -> Result<Self, LlmError> {
        let n_batch = usize::try_from(lease.slot().ctx.n_batch())
            .unwrap_or(512)
            .max(1);
        let batch_len = n_batch.max(drafts.draft_len.max(drafts.schema_draft_max) + 1);
        let max_tokens = usize::try_from(max_tokens).unwrap_or(usize::MAX);
        let mut generation = Self {
            model,
            answers,
            lease,
            chooser,
            drafts,
            literals,
            batch: LlamaBatch::new(batch_len, 1),
            batch_capacity: batch_len,
            prompt_len: prompt.len(),
            history: prompt,
            emitted: 0,
            max_tokens,
            text: String::new(),
            ready_logits: None,
            utf8: Utf8Buffer::default(),
            chunks: VecDeque::new(),
            handed: 0,
            token_ends: Vec::new(),
            finish: None,
            usage: Usage::default(),
            draft_stats: [(0, 0); 2],
            guard,
            ended: false,
        };
        generation.usage.prompt_tokens = generation.prompt_len as u64;
        if max_tokens == 0 {
            generation.finish = Some(FinishReason::Length);
            return Ok(generation);
        }
        let started = Instant::now();
        generation.evaluate_prompt(n_batch)?;
        generation.usage.prompt_time = started.elapsed();
        Ok(generation)
    }

    fn evaluate_prompt(&mut self, n_batch: usize) -> Result<(), LlmError> {
        let reused = self.lease.reuse_prefix(&self.history);
        let rest = self.history[reused..].to_vec();
        self.usage.prompt_tokens_evaluated = rest.len() as u64;
        let mut pos = reused;
        for chunk in rest.chunks(n_batch) {
            self.batch.clear();
            for (j, &token) in chunk.iter().enumerate() {
                let last = j + 1 == chunk.len();
                self.batch
                    .add(token, position(pos + j)?, &[0], last)
                    .map_err(|e| LlmError::backend("could not fill a batch").caused_by(e))?;
            }
            self.decode_batch(chunk)?;
            pos += chunk.len();
            self.ready_logits = Some(position(chunk.len() - 1)?);
        }
        Ok(())
    }

    /// Decodes `self.batch` (holding `tokens`) and records them as cached.
    fn decode_batch(&mut self, tokens: &[LlamaToken]) -> Result<(), LlmError> {
        let result = {
            let _engine = engine_lock();
            self.lease.slot().ctx.decode(&mut self.batch)
        };
        match result {
            Ok(()) => {
                self.lease.slot().cached.extend_from_slice(tokens);
                Ok(())
            }
            Err(e) => {
                self.lease.forget();
                Err(decode(e))
            }
        }
    }

    /// Runs one step: emits at least one token (or ends the generation).
    fn step(&mut self) -> Result<(), LlmError> {
        if let Some(index) = self.ready_logits.take() {
            let token = self
                .chooser
                .choose(self.lease.slot().ctx.get_logits_ith(index))?;
            self.emit(token);
            return self.cut_if_looping();
        }
        // Tokens emitted but not yet in the KV cache: normally the last one, more after a cut.
        let base = self.lease.slot().cached.len();
        let pending = self.history.get(base..).unwrap_or_default().to_vec();
        if pending.is_empty() {
            return Err(LlmError::backend("nothing to continue from"));
        }
        // Every draft position must leave room for the token chosen after it within max_tokens.
        let budget = self
            .max_tokens
            .saturating_sub(self.emitted)
            .saturating_sub(1)
            .min(self.batch_room().saturating_sub(pending.len()));
        let (source, drafts) = self.propose(budget);

        self.batch.clear();
        let mut fed = pending;
        let first_logits = fed.len() - 1;
        fed.extend_from_slice(&drafts);
        for (j, &token) in fed.iter().enumerate() {
            self.batch
                .add(token, position(base + j)?, &[0], j >= first_logits)
                .map_err(|e| LlmError::backend("could not fill a batch").caused_by(e))?;
        }
        self.decode_batch(&fed)?;

        let mut confirmed = 0;
        for i in 0..=drafts.len() {
            let logits = self
                .lease
                .slot()
                .ctx
                .get_logits_ith(position(first_logits + i)?);
            let steer = self
                .guard
                .as_mut()
                .and_then(|g| Some((g.avoid.take()?, g.first_bytes)));
            let token = match steer {
                Some((byte, table)) => {
                    let model = self.model;
                    let table = table.get_or_init(|| first_bytes(model));
                    self.chooser.choose_avoiding(logits, byte, table)?
                }
                None => self.chooser.choose(logits)?,
            };
            let matches = drafts.get(i) == Some(&token);
            if matches {
                confirmed += 1;
            }
            self.emit(token);
            let looping = self.guard.as_ref().is_some_and(|g| g.pending.is_some());
            if !matches || self.finish.is_some() || looping {
                break;
            }
        }
        self.usage.draft_tokens += drafts.len() as u64;
        self.usage.draft_tokens_accepted += confirmed as u64;
        if let Some(stats) = self.draft_stats.get_mut(source as usize) {
            stats.0 += drafts.len();
            stats.1 += confirmed;
        }
        if confirmed < drafts.len() {
            self.lease.truncate(base + first_logits + 1 + confirmed)?;
        }
        self.cut_if_looping()
    }

    /// Tokens one batch holds.
    fn batch_room(&self) -> usize {
        self.batch_capacity
    }

    /// Applies the cut the guard asked for in this step, if any.
    fn cut_if_looping(&mut self) -> Result<(), LlmError> {
        let Some(cut) = self.guard.as_mut().and_then(|g| g.pending.take()) else {
            return Ok(());
        };
        self.cut(cut)
    }

    /// Goes back to the last clean token boundary at or before `cut.keep` and writes what the
    /// guard steers to (see the module docs). Declines, changing nothing, when the grammar does
    /// not allow the result or the token budget cannot hold it.
    fn cut(&mut self, cut: Cut) -> Result<(), LlmError> {
        let Some(guard) = self.guard.as_mut() else {
            return Ok(());
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
            return Ok(());
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
        let cached = self.lease.slot().cached.len();
        let keep_kv = cached
            .min(self.prompt_len + kept)
            .min(self.prompt_len + kept + forced.len() - 1);
        self.lease.truncate(keep_kv)?;
        self.ready_logits = None;

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
            self.finish = Some(if self.chooser.only_end_allowed(self.model) {
                FinishReason::Stop
            } else {
                FinishReason::Length
            });
        }
        // Forced text cannot make a loop of its own: it was there before.
        if let Some(guard) = self.guard.as_mut() {
            guard.pending = None;
        }
        Ok(())
    }

    /// Drafts for the next step, at most `budget` tokens, cut at the first token the grammar
    /// rejects (it could never be accepted). The schema literal comes first when one applies:
    /// the grammar forces it; prompt lookup otherwise.
    fn propose(&self, budget: usize) -> (DraftSource, Vec<LlamaToken>) {
        let d = &self.drafts;
        if budget == 0 {
            return (DraftSource::None, Vec::new());
        }
        if d.schema_drafts {
            if let Some(rest) = self
                .literals
                .as_ref()
                .and_then(|l| l.continuation(&self.text))
            {
                let mut tokens = self.model.vocab().tokenize(rest.as_bytes(), false, false);
                tokens.truncate(budget.min(d.schema_draft_max));
                tokens.truncate(self.chooser.allowed_prefix(&tokens, self.model));
                if !tokens.is_empty() {
                    return (DraftSource::Schema, tokens);
                }
            }
        }
        if d.prompt_lookup {
            let mut tokens = prompt_lookup(
                &self.history,
                d.ngram_max,
                d.ngram_min,
                budget.min(d.draft_len),
            );
            tokens.truncate(self.chooser.allowed_prefix(&tokens, self.model));
            return (DraftSource::PromptLookup, tokens);
        }
        (DraftSource::None, Vec::new())
    }

    /// Emits a chosen token: ends the generation on end-of-generation, otherwise advances the
    /// grammar, records the token and queues its text.
    fn emit(&mut self, token: LlamaToken) {
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
            // At the budget, a grammar that allows nothing but the end means the answer is
            // complete: that is a normal stop, not a truncation.
            self.finish = Some(if self.chooser.only_end_allowed(self.model) {
                FinishReason::Stop
            } else {
                FinishReason::Length
            });
        }
    }

    /// Flushes the last bytes and remembers the answer's tokens for a retry's prompt. Runs once,
    /// when the generation finishes or, if the consumer stops pulling first (it has the whole
    /// value), when the stream is dropped.
    fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        let [schema, lookup] = self.draft_stats;
        tracing::debug!(
            tokens = self.emitted,
            full_vocabulary_masks = self.chooser.full_masks,
            schema_drafts = ?schema,
            prompt_lookup_drafts = ?lookup,
            "generation finished (drafts as (proposed, accepted))"
        );
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
            self.answers.remember(self.text.clone(), tokens);
        }
    }
}

impl Drop for Generation<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

impl TokenStream for Generation<'_> {
    fn next_chunk(&mut self) -> Option<Result<Chunk, LlmError>> {
        loop {
            if let Some(chunk) = self.chunks.pop_front() {
                match &chunk {
                    Chunk::Text(text) => self.handed += text.len(),
                    Chunk::Rewind(n) => self.handed = *n,
                }
                return Some(Ok(chunk));
            }
            if self.finish.is_some() {
                return None;
            }
            let started = Instant::now();
            let result = self.step();
            self.usage.generation_time += started.elapsed();
            if let Err(e) = result {
                self.finish = Some(FinishReason::Stop);
                self.chunks.clear();
                return Some(Err(e));
            }
            if self.finish.is_some() {
                self.end();
            }
        }
    }

    fn finish(&self) -> (FinishReason, Usage) {
        (self.finish.unwrap_or(FinishReason::Length), self.usage)
    }

    fn loops_cut(&self) -> &[LoopCut] {
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

/// A token position as llama.cpp's `llama_pos`.
fn position(p: usize) -> Result<i32, LlmError> {
    i32::try_from(p)
        .map_err(|_| LlmError::backend(format!("position {p} exceeds llama.cpp's range")))
}
