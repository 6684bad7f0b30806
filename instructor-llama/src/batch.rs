//! Many answers in one context: continuous batching of sequences, each step decoding the next
//! token of every live sequence in one `llama_decode` call.
//!
//! This module owns the batch context's sequences: which KV range (llama.cpp sequence id) holds
//! which answer, what each holds, and the order of operations per step. Each sequence's output
//! (grammar, budget, repetition guard, chunks) is an [`Answer`], the same a lone generation
//! writes (`answer.rs`); token choice is `sampler.rs`'s.
//!
//! # One step
//!
//! Every live sequence contributes the tokens it has not yet evaluated: the last emitted token
//! for a sequence that is generating, its prompt (in chunks) for one that has just entered.
//! Generating sequences go first, so a newcomer's long prompt never delays their next token;
//! prompts fill what is left of `n_batch`. One decode evaluates them all; each sequence whose
//! last pending token was in the batch then chooses and emits its next token from its own
//! logits. A sequence that ends leaves its slot; the next document's prompt enters in the next
//! step, alongside the decode tokens of the others.
//!
//! Each sequence has its own KV stream (llama.cpp's `kv_unified` off), and llama.cpp splits a
//! batch into runs of consecutive sequence ids with the same number of tokens each; the batch is
//! therefore filled in slot order with equal draft widths (a newcomer's prompt chunk still
//! becomes a run of its own, in the same `llama_decode`). A unified cache would make prefix
//! copies free and lift the equal-width rule, but every token then attends over every
//! sequence's cells: measured on 2 CPU cores (`throughput`, 120 documents, 8 sequences, before
//! the batch context was pooled), 3.96 documents/s unified against 4.30 with separate streams,
//! so the streams stay separate.
//!
//! # Shared prompt prefixes
//!
//! Documents extracted into the same type share the whole system prompt. A document entering
//! a slot reuses the longest prefix any slot's cache holds: its own slot's (trimmed with
//! `seq_rm`) or another's (copied with `seq_cp`, then trimmed). When the best prefix is still
//! being evaluated by another newcomer (the first step of a run, when every slot fills at
//! once), the document waits for it instead of evaluating the same tokens in parallel: the
//! prefix is evaluated once and copied to each sequence.
//!
//! # Exactness
//!
//! Each sequence's logits depend only on its own tokens (sequences never attend to each other),
//! so under greedy decoding a sequence's answer is the one a lone generation gives, up to the
//! floating-point rounding of a differently shaped batch (`tests/batch_real.rs` measures it).
//!
//! # Drafts
//!
//! A generating sequence also feeds its drafts (schema literals, prompt lookup; see
//! `speculative.rs`) after its pending token, with logits at every position, and walks them as
//! a lone generation does: each position's token is chosen through the grammar, the walk stops
//! at the first mismatch, and the rejected drafts' cache entries are dropped. On a CPU that is
//! already compute-bound at a few sequences, drafts are what lets a step emit more tokens than
//! it has sequences.

use std::time::{Duration, Instant};

use instructor_core::{Batch, BatchEvent, Ended, FinishReason, LlmError, Request};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use crate::answer::Answer;
use crate::backend::engine_lock;
use crate::error::decode;
use crate::generation::position;
use crate::model::Llama;
use crate::pool::{common_prefix, BatchLease};
use crate::speculative::{propose, DraftSettings, SchemaLiterals};

/// A shared prefix shorter than this is evaluated again rather than waited for.
const MIN_SHARED_WAIT: usize = 16;

/// Pending plus draft tokens the generating sequences feed per step, together: each gets
/// `16 / n - 1` drafts (none from 8 sequences on). On a 2-core CPU a step is compute-bound from
/// about 8 tokens on, so drafts help a few sequences and only cost many; measured with
/// `bench/src/bin/throughput.rs`.
const DRAFT_TOKENS_PER_STEP: usize = 16;

/// The sequences of one batch context; implements [`Batch`].
pub(crate) struct Sequences<'a> {
    llama: &'a Llama,
    /// The pooled batch context (`pool.rs`), and what each sequence's cache holds.
    lease: BatchLease<'a>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    slots: Vec<Slot<'a>>,
    stats: Stats,
}

/// What the batch's decodes cost, for the debug log.
#[derive(Default)]
struct Stats {
    decode: Duration,
    decodes: usize,
    tokens: usize,
}

impl Drop for Sequences<'_> {
    fn drop(&mut self) {
        // The context goes back to the pool with what its caches hold (`cached` follows every
        // change to a sequence's cache), so the next batch reuses those prefixes.
        let held = self.lease.cached();
        for (seq, slot) in self.slots.iter_mut().enumerate() {
            if let Some(tokens) = held.get_mut(seq) {
                *tokens = std::mem::take(&mut slot.cached);
            }
        }
        let s = &self.stats;
        tracing::debug!(
            sequences = self.slots.len(),
            decodes = s.decodes,
            tokens = s.tokens,
            decode_time = ?s.decode,
            "batch finished"
        );
    }
}

/// One llama.cpp sequence: the tokens its KV range holds, and the answer using it, if any.
#[derive(Default)]
struct Slot<'a> {
    /// Tokens in this sequence's KV cache, position by position (kept after an answer ends,
    /// for the next document's prefix).
    cached: Vec<LlamaToken>,
    live: Option<Live<'a>>,
}

/// What one step fed of a sequence: its tokens, and the batch index of the logits for its
/// next choice (when its last pending token was among them).
struct Fed {
    seq: usize,
    tokens: Vec<LlamaToken>,
    logits: Option<i32>,
    /// Draft tokens fed after the pending ones (logits for each).
    drafts: Vec<LlamaToken>,
}

struct Live<'a> {
    out: Answer<'a>,
    /// Waiting for slot `.0` to have evaluated `.1` tokens of this prompt, to copy them.
    wait: Option<(usize, usize)>,
    /// Whether the prompt's last token has been evaluated (generation has begun).
    generating: bool,
    drafts: DraftSettings,
    literals: Option<SchemaLiterals>,
}

impl<'a> Sequences<'a> {
    pub(crate) fn new(llama: &'a Llama, sequences: usize) -> Result<Self, LlmError> {
        let sequences = sequences.clamp(1, 256);
        let n = u32::try_from(sequences).unwrap_or(256);
        let mut lease = llama.pool().batch_lease(n)?;
        let n_batch = usize::try_from(lease.ctx().n_batch())
            .unwrap_or(512)
            .max(sequences);
        // What the pooled context's caches still hold from the last batch: prompt prefixes to
        // reuse (the same type's system prompt, a document seen before).
        let held = lease.cached();
        let slots = (0..sequences)
            .map(|seq| Slot {
                cached: held.get_mut(seq).map(std::mem::take).unwrap_or_default(),
                live: None,
            })
            .collect();
        Ok(Self {
            llama,
            lease,
            batch: LlamaBatch::new(n_batch, 1),
            n_batch,
            slots,
            stats: Default::default(),
        })
    }

    /// Prepares slot `seq`'s cache for `prompt`: keeps or copies the longest shared prefix, or
    /// arranges to wait for one being evaluated. Returns the wait, if any.
    fn place(&mut self, seq: usize, prompt: &[LlamaToken]) -> Option<(usize, usize)> {
        let limit = prompt.len().saturating_sub(1);
        let own = common_prefix(&self.slots[seq].cached, prompt).min(limit);
        let mut best = (seq, own);
        let mut wait = None;
        for (t, slot) in self.slots.iter().enumerate() {
            if t == seq {
                continue;
            }
            let cached = common_prefix(&slot.cached, prompt).min(limit);
            if cached > best.1 {
                best = (t, cached);
            }
            // A prompt still being evaluated (by a newcomer that is not waiting itself).
            if let Some(live) = slot.live.as_ref().filter(|l| l.wait.is_none()) {
                let coming =
                    common_prefix(&live.out.history[..live.out.prompt_len], prompt).min(limit);
                if coming >= MIN_SHARED_WAIT
                    && coming > best.1
                    && wait.is_none_or(|(_, n)| coming > n)
                {
                    wait = Some((t, coming));
                }
            }
        }
        let wait = wait.filter(|&(_, n)| n > best.1);
        self.take_prefix(seq, best.0, best.1);
        wait
    }

    /// Makes slot `seq` hold the first `keep` tokens slot `from` holds (itself included).
    fn take_prefix(&mut self, seq: usize, from: usize, keep: usize) {
        let s = seq_id(seq);
        if from != seq && keep > 0 {
            let _ = self.lease.ctx().clear_kv_cache_seq(Some(s), None, None);
            // Sequences live in separate KV streams: llama.cpp copies whole streams only, so
            // copy everything and trim the tail.
            let _ = self
                .lease
                .ctx()
                .copy_kv_cache_seq(seq_i32(from), seq_i32(seq), None, None);
            let prefix = self.slots[from].cached[..keep].to_vec();
            self.slots[seq].cached = prefix;
        }
        let trimmed = u32::try_from(keep)
            .ok()
            .and_then(|p0| {
                self.lease
                    .ctx()
                    .clear_kv_cache_seq(Some(s), Some(p0), None)
                    .ok()
            })
            .unwrap_or(false);
        if trimmed {
            self.slots[seq].cached.truncate(keep);
        } else {
            let _ = self.lease.ctx().clear_kv_cache_seq(Some(s), None, None);
            self.slots[seq].cached.clear();
        }
    }

    /// Copies the prefixes waiting sequences were waiting for, once they are evaluated (or
    /// gives up waiting when the source no longer holds them).
    fn resolve_waits(&mut self) {
        for seq in 0..self.slots.len() {
            let Some((from, n)) = self.slots[seq].live.as_ref().and_then(|l| l.wait) else {
                continue;
            };
            let source = &self.slots[from];
            let prompt = self.slots[seq]
                .live
                .as_ref()
                .map(|l| l.out.history[..n].to_vec())
                .unwrap_or_default();
            let held = common_prefix(&source.cached, &prompt);
            let still_coming = source
                .live
                .as_ref()
                .is_some_and(|l| !l.generating && common_prefix(&l.out.history, &prompt) >= n);
            if held >= n || !still_coming {
                if held > self.slots[seq].cached.len() {
                    self.take_prefix(seq, from, held);
                }
                let slot = &mut self.slots[seq];
                if let Some(live) = slot.live.as_mut() {
                    live.wait = None;
                    let evaluated = live.out.prompt_len - slot.cached.len();
                    live.out.usage.prompt_tokens_evaluated = evaluated as u64;
                }
            }
        }
    }

    /// Fills the batch, in slot order (llama.cpp splits a batch of separate KV streams into
    /// runs of consecutive sequence ids). Generating sequences are served first: prompt chunks
    /// get what is left of `n_batch`. Returns what each sequence was fed.
    fn fill(&mut self) -> Result<Vec<Fed>, LlmError> {
        self.batch.clear();
        // Pass 1: each generating sequence's pending tokens and drafts.
        let mut plans: Vec<Option<(Vec<LlamaToken>, Vec<LlamaToken>)>> = Vec::new();
        let mut generating = 0;
        let mut longest = 0;
        for slot in &self.slots {
            let plan = slot
                .live
                .as_ref()
                .filter(|l| l.wait.is_none() && l.generating)
                .map(|live| {
                    let pending = live.out.pending(slot.cached.len()).to_vec();
                    let budget = live
                        .out
                        .max_tokens
                        .saturating_sub(live.out.emitted)
                        .saturating_sub(1);
                    let drafts = propose(&live.out, &live.drafts, live.literals.as_ref(), budget);
                    (pending, drafts.1)
                });
            if let Some((_, drafts)) = &plan {
                generating += 1;
                longest = longest.max(drafts.len());
            }
            plans.push(plan);
        }
        // Every generating sequence feeds the same number of drafts (padded or cut), so one
        // step is one run of equal-length sequences for llama.cpp's split.
        let width = (DRAFT_TOKENS_PER_STEP / generating.max(1))
            .saturating_sub(1)
            .min(longest);
        let mut room = self.n_batch;
        for (seq, plan) in plans.iter_mut().enumerate() {
            let Some((pending, drafts)) = plan else {
                continue;
            };
            let budget = self.slots[seq].live.as_ref().map_or(0, |l| {
                l.out
                    .max_tokens
                    .saturating_sub(l.out.emitted)
                    .saturating_sub(1)
            });
            drafts.truncate(width);
            let filler = drafts.last().or(pending.last()).copied();
            while drafts.len() < width.min(budget) {
                let Some(token) = filler else { break };
                drafts.push(token);
            }
            room = room.saturating_sub(pending.len() + drafts.len());
        }
        // Pass 2: the batch, in slot order.
        let mut fed = Vec::new();
        for (seq, plan) in plans.into_iter().enumerate() {
            let slot = &self.slots[seq];
            let base = slot.cached.len();
            let (tokens, drafts, last) = match plan {
                Some((pending, drafts)) => (pending, drafts, true),
                None => {
                    let Some(live) = slot.live.as_ref().filter(|l| l.wait.is_none()) else {
                        continue;
                    };
                    let pending = live.out.pending(base);
                    let take = pending.len().min(room);
                    room -= take;
                    (pending[..take].to_vec(), Vec::new(), take == pending.len())
                }
            };
            if tokens.is_empty() {
                continue;
            }
            let first_logits = tokens.len() - 1;
            let mut all = tokens;
            all.extend_from_slice(&drafts);
            let mut logits = None;
            for (j, &token) in all.iter().enumerate() {
                let want = last && j >= first_logits;
                if want && logits.is_none() {
                    logits = Some(self.batch.n_tokens());
                }
                self.batch
                    .add(token, position(base + j)?, &[seq_i32(seq)], want)
                    .map_err(|e| LlmError::backend(format!("could not fill a batch: {e}")))?;
            }
            fed.push(Fed {
                seq,
                tokens: all,
                logits,
                drafts,
            });
        }
        Ok(fed)
    }

    /// Ends slot `seq`'s answer: flushes it, remembers it for a retry, frees the slot.
    fn end(&mut self, seq: usize, events: &mut Vec<BatchEvent>) {
        let Some(mut live) = self.slots[seq].live.take() else {
            return;
        };
        live.out.end(self.llama.answers());
        while let Some(chunk) = live.out.pop_chunk() {
            events.push(BatchEvent::Chunk { seq, chunk });
        }
        events.push(BatchEvent::Ended {
            seq,
            result: Ok(ended(&live.out)),
        });
    }

    /// Fails every sequence in `seqs` (a decode that failed), clearing their caches.
    fn fail(&mut self, seqs: &[usize], error: &LlmError, events: &mut Vec<BatchEvent>) {
        for &seq in seqs {
            let _ = self
                .lease
                .ctx()
                .clear_kv_cache_seq(Some(seq_id(seq)), None, None);
            self.slots[seq].cached.clear();
            if self.slots[seq].live.take().is_some() {
                events.push(BatchEvent::Ended {
                    seq,
                    result: Err(LlmError::backend(error.to_string())),
                });
            }
        }
    }

    /// Chooses and emits slot `seq`'s next tokens from the logits at batch index `index` on:
    /// one per position while the drafts fed after it match (as a lone generation's step
    /// does), then drops the rejected drafts' cache entries and applies a loop cut if the guard
    /// asked for one.
    fn advance(&mut self, seq: usize, index: i32, drafts: &[LlamaToken]) -> Result<(), LlmError> {
        let slot = &mut self.slots[seq];
        let Some(live) = slot.live.as_mut() else {
            return Ok(());
        };
        live.generating = true;
        let mut confirmed = 0;
        for i in 0..=drafts.len() {
            let at = index + i32::try_from(i).unwrap_or(i32::MAX);
            let token = live.out.choose(self.lease.ctx().get_logits_ith(at))?;
            let matches = drafts.get(i) == Some(&token);
            if matches {
                confirmed += 1;
            }
            live.out.emit(token);
            if !matches || live.out.finish.is_some() || live.out.looping() {
                break;
            }
        }
        live.out.usage.draft_tokens += drafts.len() as u64;
        live.out.usage.draft_tokens_accepted += confirmed as u64;
        let mut keep = None;
        if confirmed < drafts.len() {
            keep = Some(slot.cached.len() - (drafts.len() - confirmed));
        }
        if let Some(k) = keep {
            trim(self.lease.ctx(), seq, k)?;
            slot.cached.truncate(k);
        }
        if let Some(k) = live.out.cut_if_looping(slot.cached.len())? {
            trim(self.lease.ctx(), seq, k)?;
            slot.cached.truncate(k);
        }
        Ok(())
    }
}

/// Drops sequence `seq`'s cache entries from position `from` on.
fn trim(ctx: &mut LlamaContext<'_>, seq: usize, from: usize) -> Result<(), LlmError> {
    let trimmed = u32::try_from(from)
        .ok()
        .and_then(|p0| {
            ctx.clear_kv_cache_seq(Some(seq_id(seq)), Some(p0), None)
                .ok()
        })
        .unwrap_or(false);
    if trimmed {
        Ok(())
    } else {
        Err(LlmError::backend(
            "this model's KV cache cannot drop tokens from a sequence; build the Llama with \
             prompt_lookup(false), schema_drafts(false) and RepetitionGuard::off()",
        ))
    }
}

impl Batch for Sequences<'_> {
    fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn submit(&mut self, seq: usize, request: &Request<'_>) -> Result<(), LlmError> {
        if self.slots.get(seq).is_none_or(|s| s.live.is_some()) {
            return Err(LlmError::backend(format!(
                "sequence slot {seq} is not free"
            )));
        }
        let mut out = self.llama.answer_for(request)?;
        let (drafts, literals) = self.llama.drafts_for(request);
        let wait = if out.finish.is_some() {
            None
        } else {
            self.place(seq, &out.history)
        };
        let reused = self.slots[seq].cached.len();
        out.usage.prompt_tokens_evaluated = (out.prompt_len - reused) as u64;
        self.slots[seq].live = Some(Live {
            out,
            wait,
            generating: false,
            drafts,
            literals,
        });
        Ok(())
    }

    fn step(&mut self) -> Vec<BatchEvent> {
        let mut events = Vec::new();
        // An answer with nothing to generate (a zero budget) ends at once.
        for seq in 0..self.slots.len() {
            if self.slots[seq]
                .live
                .as_ref()
                .is_some_and(|l| l.out.finish.is_some())
            {
                self.end(seq, &mut events);
            }
        }
        self.resolve_waits();
        let started = Instant::now();
        let fed = match self.fill() {
            Ok(fed) => fed,
            Err(e) => {
                let live: Vec<usize> = (0..self.slots.len()).collect();
                self.fail(&live, &e, &mut events);
                return events;
            }
        };
        if fed.is_empty() {
            return events;
        }
        let decoding = Instant::now();
        let result = {
            let _engine = engine_lock();
            self.lease.ctx().decode(&mut self.batch)
        };
        self.stats.decode += decoding.elapsed();
        self.stats.decodes += 1;
        self.stats.tokens += usize::try_from(self.batch.n_tokens()).unwrap_or(0);
        if let Err(e) = result {
            let seqs: Vec<usize> = fed.iter().map(|f| f.seq).collect();
            self.fail(&seqs, &decode(e), &mut events);
            return events;
        }
        let elapsed = started.elapsed();
        for Fed {
            seq,
            tokens,
            logits,
            drafts,
        } in fed
        {
            self.slots[seq].cached.extend_from_slice(&tokens);
            if let Some(live) = self.slots[seq].live.as_mut() {
                if live.generating {
                    live.out.usage.generation_time += elapsed;
                } else {
                    live.out.usage.prompt_time += elapsed;
                }
            }
            let Some(index) = logits else { continue };
            if let Err(e) = self.advance(seq, index, &drafts) {
                self.fail(&[seq], &e, &mut events);
                continue;
            }
            let Some(live) = self.slots[seq].live.as_mut() else {
                continue;
            };
            while let Some(chunk) = live.out.pop_chunk() {
                events.push(BatchEvent::Chunk { seq, chunk });
            }
            if live.out.finish.is_some() {
                self.end(seq, &mut events);
            }
        }
        events
    }

    fn cancel(&mut self, seq: usize) -> Option<Ended> {
        let mut live = self.slots.get_mut(seq)?.live.take()?;
        live.out.end(self.llama.answers());
        Some(ended(&live.out))
    }
}

fn ended(out: &Answer<'_>) -> Ended {
    Ended::new(
        out.finish.unwrap_or(FinishReason::Length),
        out.usage,
        out.loops_cut().to_vec(),
    )
}

/// A slot's llama.cpp sequence id (slots are at most 256, llama.cpp's limit).
fn seq_id(seq: usize) -> u32 {
    u32::try_from(seq).unwrap_or(u32::MAX)
}

fn seq_i32(seq: usize) -> i32 {
    i32::try_from(seq).unwrap_or(i32::MAX)
}
