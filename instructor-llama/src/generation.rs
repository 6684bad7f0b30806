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

use std::collections::VecDeque;
use std::time::Instant;

use instructor_core::{FinishReason, LlmError, TokenStream, Usage};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::backend::engine_lock;
use crate::error::decode;
use crate::pool::Lease;
use crate::prompt::AnswerMemory;
use crate::sampler::TokenChooser;
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
    chunks: VecDeque<String>,
    finish: Option<FinishReason>,
    usage: Usage,
    /// (proposed, accepted) draft tokens per [`DraftSource`], for the debug log.
    draft_stats: [(usize, usize); 2],
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
            prompt_len: prompt.len(),
            history: prompt,
            emitted: 0,
            max_tokens,
            text: String::new(),
            ready_logits: None,
            utf8: Utf8Buffer::default(),
            chunks: VecDeque::new(),
            finish: None,
            usage: Usage::default(),
            draft_stats: [(0, 0); 2],
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
                    .map_err(|e| LlmError::Backend(format!("could not fill a batch: {e}")))?;
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
                Err(decode(&e))
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
            return Ok(());
        }
        let Some(&last) = self.history.last() else {
            return Err(LlmError::Backend("nothing to continue from".into()));
        };
        let base = self.lease.slot().cached.len();
        // Every draft position must leave room for the token chosen after it within max_tokens.
        let budget = self
            .max_tokens
            .saturating_sub(self.emitted)
            .saturating_sub(1);
        let (source, drafts) = self.propose(budget);

        self.batch.clear();
        let mut fed = Vec::with_capacity(drafts.len() + 1);
        fed.push(last);
        fed.extend_from_slice(&drafts);
        for (j, &token) in fed.iter().enumerate() {
            self.batch
                .add(token, position(base + j)?, &[0], true)
                .map_err(|e| LlmError::Backend(format!("could not fill a batch: {e}")))?;
        }
        self.decode_batch(&fed)?;

        let mut confirmed = 0;
        for i in 0..=drafts.len() {
            let token = self
                .chooser
                .choose(self.lease.slot().ctx.get_logits_ith(position(i)?))?;
            let matches = drafts.get(i) == Some(&token);
            if matches {
                confirmed += 1;
            }
            self.emit(token);
            if !matches || self.finish.is_some() {
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
            self.lease.truncate(base + 1 + confirmed)?;
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
            self.chunks.push_back(text);
        }
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

    /// Flushes the last bytes and remembers the answer's tokens for a retry's prompt.
    fn end(&mut self) {
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
            self.chunks.push_back(rest);
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

impl TokenStream for Generation<'_> {
    fn next_chunk(&mut self) -> Option<Result<String, LlmError>> {
        loop {
            if let Some(chunk) = self.chunks.pop_front() {
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
}

/// A token position as llama.cpp's `llama_pos`.
fn position(p: usize) -> Result<i32, LlmError> {
    i32::try_from(p)
        .map_err(|_| LlmError::Backend(format!("position {p} exceeds llama.cpp's range")))
}
