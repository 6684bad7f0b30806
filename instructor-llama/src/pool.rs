//! The loaded model and a small pool of contexts that remember their KV caches (and the last
//! batch context, `batch.rs`'s, with what each of its sequences holds).
//!
//! This module owns the model's lifetime, context creation, and KV-cache prefix reuse: a
//! generation leases the pooled context whose cached tokens share the longest prefix with its
//! prompt, drops the cache entries after that prefix, and evaluates only the rest. A retry
//! (same conversation + failed answer + errors) or a call sharing a system prompt therefore
//! skips most of its prompt.
//!
//! It is the only place in the project with `unsafe` code: a context borrows the model it was
//! made from, and keeping both in one struct is self-referential. See [`ContextPool::new_context`].

use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};

use instructor_core::LlmError;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::backend::{backend, engine_lock};
use crate::error::context_load;

/// Settings every pooled context is created with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContextSettings {
    pub(crate) n_ctx: u32,
    pub(crate) threads: usize,
    pub(crate) pool_size: usize,
    /// Keep cached prompt prefixes (off only to measure cold prompts).
    pub(crate) reuse: bool,
}

/// A context and the tokens whose keys and values its cache holds, position by position.
pub(crate) struct Slot {
    // 'static is a lie told to the borrow checker; see `ContextPool::new_context` for why it is
    // never observed. Slots never leave the crate and never move between pools.
    pub(crate) ctx: LlamaContext<'static>,
    pub(crate) cached: Vec<LlamaToken>,
    last_used: u64,
}

/// The model plus its idle contexts.
///
/// Field order is drop order: `idle` (the contexts) is declared before `model`, and `Drop` also
/// empties it explicitly, so no context outlives the model it points into.
pub(crate) struct ContextPool {
    idle: Mutex<Idle>,
    /// The last batch context (`batch.rs`), kept with what each sequence's cache holds, so the
    /// next batch skips both its creation and the prompt prefixes it already holds.
    idle_batch: Mutex<Option<BatchSlot>>,
    settings: ContextSettings,
    model: LlamaModel,
}

/// A batch context (`n_seq_max = sequences`) and the tokens each sequence's cache holds.
pub(crate) struct BatchSlot {
    // 'static: as in `Slot`.
    ctx: LlamaContext<'static>,
    sequences: u32,
    /// Per sequence id, the tokens its KV cache holds.
    pub(crate) cached: Vec<Vec<LlamaToken>>,
}

#[derive(Default)]
struct Idle {
    slots: Vec<Slot>,
    clock: u64,
}

impl ContextPool {
    pub(crate) fn new(model: LlamaModel, settings: ContextSettings) -> Self {
        Self {
            idle: Mutex::new(Idle::default()),
            idle_batch: Mutex::new(None),
            settings,
            model,
        }
    }

    pub(crate) fn model(&self) -> &LlamaModel {
        &self.model
    }

    pub(crate) fn settings(&self) -> ContextSettings {
        self.settings
    }

    /// Leases the idle context sharing the longest token prefix with `prompt` (a fresh one when
    /// none is idle). The caller still has to trim the cache; see [`Lease::reuse_prefix`].
    pub(crate) fn lease(&self, prompt: &[LlamaToken]) -> Result<Lease<'_>, LlmError> {
        let taken = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            let best = idle
                .slots
                .iter()
                .enumerate()
                .max_by_key(|(_, s)| (common_prefix(&s.cached, prompt), s.last_used))
                .map(|(i, _)| i);
            best.map(|i| idle.slots.swap_remove(i))
        };
        let slot = match taken {
            Some(slot) => slot,
            None => Slot {
                ctx: self.new_context(self.params(self.settings.n_ctx), self.settings.n_ctx)?,
                cached: Vec::new(),
                last_used: 0,
            },
        };
        Ok(Lease {
            pool: self,
            slot: Some(slot),
        })
    }

    fn give_back(&self, mut slot: Slot) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.clock += 1;
        slot.last_used = idle.clock;
        idle.slots.push(slot);
        if idle.slots.len() > self.settings.pool_size {
            // Evict the least recently used context (its memory is freed on drop).
            if let Some(oldest) = (0..idle.slots.len()).min_by_key(|&i| idle.slots[i].last_used) {
                idle.slots.swap_remove(oldest);
            }
        }
    }

    /// A context of at least `sequences` sequences of `n_ctx` tokens each, for one batch
    /// (`batch.rs`): the idle one when it holds enough sequences, else a new one. It comes back
    /// (with what its caches hold) when the lease is dropped.
    pub(crate) fn batch_lease(&self, sequences: u32) -> Result<BatchLease<'_>, LlmError> {
        let idle = self
            .idle_batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .filter(|b| b.sequences >= sequences);
        let slot = match idle {
            Some(slot) => slot,
            None => {
                let s = self.settings;
                let total = s.n_ctx.saturating_mul(sequences);
                let params = self.params(total).with_n_seq_max(sequences);
                BatchSlot {
                    ctx: self.new_context(params, total)?,
                    sequences,
                    cached: vec![Vec::new(); usize::try_from(sequences).unwrap_or(0)],
                }
            }
        };
        Ok(BatchLease {
            pool: self,
            slot: Some(slot),
        })
    }

    /// Every context's parameters: `n_ctx` tokens in all, our thread count, perf counters off.
    fn params(&self, n_ctx: u32) -> LlamaContextParams {
        let threads = i32::try_from(self.settings.threads).unwrap_or(i32::MAX);
        LlamaContextParams::default()
            // llama-cpp-2's defaults are 512 tokens, 4 threads, perf counters off: set every one.
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            // We time prompt and generation ourselves (`Usage`); llama.cpp's counters stay off.
            .with_no_perf(true)
    }

    /// Creates a context on the pooled model (`n_ctx` tokens in all, as `params` says).
    #[allow(unsafe_code)]
    fn new_context(
        &self,
        params: LlamaContextParams,
        n_ctx: u32,
    ) -> Result<LlamaContext<'static>, LlmError> {
        let ctx = {
            // Context creation mutates the model: never concurrently with another creation or
            // a decode (see `backend::engine_lock`).
            let _engine = engine_lock();
            self.model
                .new_context(backend()?, params)
                .map_err(|e| context_load(e, n_ctx))?
        };
        // SAFETY: `ctx` borrows `self.model`; we erase that borrow so the context can be stored
        // next to the model in this struct. It is sound because:
        // - `LlamaModel` is a handle to a heap object owned by llama.cpp; moving the handle (or
        //   the `Llama` that holds it) does not move the model, so the context's pointer stays
        //   valid for as long as `self.model` is not dropped;
        // - every context lives either in `self.idle` or `self.idle_batch`, or in a `Lease<'_>`
        //   or `BatchLease<'_>` that borrows `self`, so none can be used after `self` is gone,
        //   and `Drop for ContextPool` frees the idle ones before `self.model` (which field
        //   order guarantees as well);
        // - contexts never move to another pool: `Slot`, `BatchSlot` and the leases are private
        //   to this crate, and a lease only hands out a borrow of its context.
        Ok(unsafe { std::mem::transmute::<LlamaContext<'_>, LlamaContext<'static>>(ctx) })
    }
}

impl Drop for ContextPool {
    fn drop(&mut self) {
        // Contexts first, then (by field order) the model.
        self.idle
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .slots
            .clear();
        *self
            .idle_batch
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// The batch context on loan to one batch; it goes back to the pool when dropped, with the
/// tokens its sequences' caches hold ([`BatchLease::cached`], kept up to date by `batch.rs`).
pub(crate) struct BatchLease<'pool> {
    pool: &'pool ContextPool,
    slot: Option<BatchSlot>,
}

impl BatchLease<'_> {
    /// The context. (Only ever lent out: it must not outlive the lease, see
    /// `ContextPool::new_context`.)
    pub(crate) fn ctx(&mut self) -> &mut LlamaContext<'static> {
        &mut self.slot_mut().ctx
    }

    /// What each sequence's cache holds, by sequence id.
    pub(crate) fn cached(&mut self) -> &mut Vec<Vec<LlamaToken>> {
        &mut self.slot_mut().cached
    }

    fn slot_mut(&mut self) -> &mut BatchSlot {
        // The slot is only taken out in `drop`.
        self.slot
            .get_or_insert_with(|| unreachable!("batch lease used after drop"))
    }
}

impl Drop for BatchLease<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            *self
                .pool
                .idle_batch
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(slot);
        }
    }
}

/// A context on loan to one generation; it goes back to the pool when dropped.
pub(crate) struct Lease<'pool> {
    pool: &'pool ContextPool,
    slot: Option<Slot>,
}

impl Lease<'_> {
    /// The leased context and its cached tokens.
    pub(crate) fn slot(&mut self) -> &mut Slot {
        // The slot is only taken out in `drop`.
        self.slot
            .get_or_insert_with(|| unreachable!("lease used after drop"))
    }

    /// Keeps the longest cached prefix of `prompt` (at most `prompt.len() - 1` tokens, so at
    /// least one token is evaluated and yields logits) and drops the rest of the cache.
    /// Returns how many prompt tokens are reused.
    pub(crate) fn reuse_prefix(&mut self, prompt: &[LlamaToken]) -> usize {
        let reuse = self.pool.settings.reuse;
        let slot = self.slot();
        let shared = if reuse {
            common_prefix(&slot.cached, prompt)
        } else {
            0
        };
        let keep = shared.min(prompt.len().saturating_sub(1));
        let removed = u32::try_from(keep)
            .ok()
            .and_then(|p0| slot.ctx.clear_kv_cache_seq(Some(0), Some(p0), None).ok())
            .unwrap_or(false);
        if removed {
            slot.cached.truncate(keep);
            keep
        } else {
            // A cache that cannot drop a tail (recurrent models) is cleared and refilled.
            slot.ctx.clear_kv_cache();
            slot.cached.clear();
            0
        }
    }

    /// Drops the cache entries from position `from` on (speculative rollback).
    pub(crate) fn truncate(&mut self, from: usize) -> Result<(), LlmError> {
        let slot = self.slot();
        let ok = u32::try_from(from)
            .ok()
            .and_then(|p0| slot.ctx.clear_kv_cache_seq(Some(0), Some(p0), None).ok())
            .unwrap_or(false);
        if ok {
            slot.cached.truncate(from);
            Ok(())
        } else {
            self.forget();
            Err(LlmError::backend(
                "this model's KV cache cannot roll back rejected draft tokens; build the Llama \
                 with prompt_lookup(false) and schema_drafts(false)",
            ))
        }
    }

    /// Marks the cache as unknown (after a failed decode), so no later generation reuses it.
    pub(crate) fn forget(&mut self) {
        let slot = self.slot();
        slot.ctx.clear_kv_cache();
        slot.cached.clear();
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.pool.give_back(slot);
        }
    }
}

/// Length of the common prefix of two token sequences.
pub(crate) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_counts_equal_leading_tokens() {
        let t = |v: &[i32]| v.iter().copied().map(LlamaToken::new).collect::<Vec<_>>();
        assert_eq!(common_prefix(&t(&[1, 2, 3]), &t(&[1, 2, 4])), 2);
        assert_eq!(common_prefix(&t(&[]), &t(&[1])), 0);
        assert_eq!(common_prefix(&t(&[1, 2]), &t(&[1, 2, 3])), 2);
    }
}
