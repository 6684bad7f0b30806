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
//! Cutting a repetition loop is the answer's (`answer.rs`); this module only truncates the KV
//! cache where the cut says.

use std::time::Instant;

use instructor_core::{Chunk, FinishReason, LlmError, LoopCut, TokenStream, Usage};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use crate::answer::Answer;
use crate::backend::engine_lock;
use crate::error::decode;
use crate::pool::Lease;
use crate::prompt::AnswerMemory;
use crate::speculative::{propose, DraftSettings, SchemaLiterals};

/// A generation in progress; implements [`TokenStream`].
pub(crate) struct Generation<'a> {
    answers: &'a AnswerMemory,
    lease: Lease<'a>,
    out: Answer<'a>,
    drafts: DraftSettings,
    literals: Option<SchemaLiterals>,
    batch: LlamaBatch<'static>,
    batch_capacity: usize,
    /// Batch index of the logits for the next choice, when they are already computed (the
    /// prompt's last token before the first step).
    ready_logits: Option<i32>,
    /// (proposed, accepted) draft tokens per [`DraftSource`](crate::speculative::DraftSource),
    /// for the debug log.
    draft_stats: [(usize, usize); 2],
    /// Whether the answer's tokens have been remembered for a retry (once, however it ends).
    ended: bool,
}

impl<'a> Generation<'a> {
    /// Evaluates the prompt (reusing the leased context's cached prefix) and returns the
    /// generation, ready for its first token.
    pub(crate) fn start(
        answers: &'a AnswerMemory,
        mut lease: Lease<'a>,
        out: Answer<'a>,
        drafts: DraftSettings,
        literals: Option<SchemaLiterals>,
    ) -> Result<Self, LlmError> {
        let n_batch = usize::try_from(lease.slot().ctx.n_batch())
            .unwrap_or(512)
            .max(1);
        let batch_len = n_batch.max(drafts.draft_len.max(drafts.schema_draft_max) + 1);
        let mut generation = Self {
            answers,
            lease,
            out,
            drafts,
            literals,
            batch: LlamaBatch::new(batch_len, 1),
            batch_capacity: batch_len,
            ready_logits: None,
            draft_stats: [(0, 0); 2],
            ended: false,
        };
        if generation.out.finish.is_some() {
            return Ok(generation);
        }
        let started = Instant::now();
        generation.evaluate_prompt(n_batch)?;
        generation.out.usage.prompt_time = started.elapsed();
        Ok(generation)
    }

    fn evaluate_prompt(&mut self, n_batch: usize) -> Result<(), LlmError> {
        let reused = self.lease.reuse_prefix(&self.out.history);
        let rest = self.out.history[reused..].to_vec();
        self.out.usage.prompt_tokens_evaluated = rest.len() as u64;
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
                .out
                .choose(self.lease.slot().ctx.get_logits_ith(index))?;
            self.out.emit(token);
            return self.cut_if_looping();
        }
        // Tokens emitted but not yet in the KV cache: normally the last one, more after a cut.
        let base = self.lease.slot().cached.len();
        let pending = self.out.pending(base).to_vec();
        if pending.is_empty() {
            return Err(LlmError::backend("nothing to continue from"));
        }
        // Every draft position must leave room for the token chosen after it within max_tokens.
        let budget = self
            .out
            .max_tokens
            .saturating_sub(self.out.emitted)
            .saturating_sub(1)
            .min(self.batch_capacity.saturating_sub(pending.len()));
        let (source, drafts) = propose(&self.out, &self.drafts, self.literals.as_ref(), budget);

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
            let token = self.out.choose(logits)?;
            let matches = drafts.get(i) == Some(&token);
            if matches {
                confirmed += 1;
            }
            self.out.emit(token);
            if !matches || self.out.finish.is_some() || self.out.looping() {
                break;
            }
        }
        self.out.usage.draft_tokens += drafts.len() as u64;
        self.out.usage.draft_tokens_accepted += confirmed as u64;
        if let Some(stats) = self.draft_stats.get_mut(source as usize) {
            stats.0 += drafts.len();
            stats.1 += confirmed;
        }
        if confirmed < drafts.len() {
            self.lease.truncate(base + first_logits + 1 + confirmed)?;
        }
        self.cut_if_looping()
    }

    /// Applies the cut the guard asked for in this step, if any, truncating the KV cache to the
    /// tokens it keeps.
    fn cut_if_looping(&mut self) -> Result<(), LlmError> {
        let cached = self.lease.slot().cached.len();
        if let Some(keep) = self.out.cut_if_looping(cached)? {
            self.lease.truncate(keep)?;
            self.ready_logits = None;
        }
        Ok(())
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
            tokens = self.out.emitted,
            full_vocabulary_masks = self.out.chooser.full_masks,
            schema_drafts = ?schema,
            prompt_lookup_drafts = ?lookup,
            "generation finished (drafts as (proposed, accepted))"
        );
        self.out.end(self.answers);
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
            if let Some(chunk) = self.out.pop_chunk() {
                return Some(Ok(chunk));
            }
            if self.out.finish.is_some() {
                return None;
            }
            let started = Instant::now();
            let result = self.step();
            self.out.usage.generation_time += started.elapsed();
            if let Err(e) = result {
                self.out.finish = Some(FinishReason::Stop);
                self.out.clear_chunks();
                return Some(Err(e));
            }
            if self.out.finish.is_some() {
                self.end();
            }
        }
    }

    fn finish(&self) -> (FinishReason, Usage) {
        (
            self.out.finish.unwrap_or(FinishReason::Length),
            self.out.usage,
        )
    }

    fn loops_cut(&self) -> &[LoopCut] {
        self.out.loops_cut()
    }
}

/// A token position as llama.cpp's `llama_pos`.
pub(crate) fn position(p: usize) -> Result<i32, LlmError> {
    i32::try_from(p)
        .map_err(|_| LlmError::backend(format!("position {p} exceeds llama.cpp's range")))
}
