//! Choosing the next token from the model's logits, under an optional GBNF grammar.
//!
//! This module owns token choice only: greedy or temperature/top-p sampling, the grammar check
//! and the random number generator. It never decodes and never touches the KV cache; the
//! generation loop hands it logits and tells it which tokens were emitted.
//!
//! # Grammar-first
//!
//! Masking the whole vocabulary (49 152 tokens for SmolLM2) with llama.cpp's GBNF sampler costs
//! ~5–8 ms per token, as much as the decode itself. Almost always the model's own choice already
//! fits the grammar, so the chooser first picks a token from the unconstrained distribution and
//! asks the grammar about that one token (~60 µs). Only when the grammar rejects it is the full
//! vocabulary masked and the choice made again among the allowed tokens. Both steps are exact:
//!
//! - greedy: the argmax of the allowed tokens is the global argmax whenever the global argmax is
//!   allowed, so the result is identical to masking first ([`ConstrainMode::FullVocab`]);
//! - sampling: drawing `y ~ p` and, when `y` is rejected, drawing again from `p` restricted to
//!   the allowed set `A` gives `P(y) = p(y) + (1 - p(A)) p(y) / p(A) = p(y) / p(A)`, which is
//!   the constrained distribution (exact rejection sampling).
//!
//! # Where top-p applies
//!
//! Top-p (nucleus) truncation is applied to the model's temperature-scaled distribution *before*
//! the grammar: the constrained distribution is the nucleus restricted to the allowed tokens,
//! renormalised. If no token of the nucleus is allowed, the choice falls back to the whole
//! allowed set (renormalised, no top-p), so a generation can always continue.

use instructor_core::{LlmError, Sampling};
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

use crate::error::grammar_error;

/// How a grammar constrains each token.
///
/// Both modes give the same distribution (and, under greedy decoding, the same tokens);
/// they differ only in cost. The naive mode exists to measure the difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConstrainMode {
    /// Check only the chosen token; mask the full vocabulary only when it is rejected.
    #[default]
    GrammarFirst,
    /// Mask the full vocabulary before every choice (the textbook method, ~80× slower per token).
    FullVocab,
}

/// Candidates checked in one grammar call when the greedy choice is rejected, before falling
/// back to masking the whole vocabulary (cost grows ~0.15 µs per candidate on top of a
/// ~60 µs call, against ~5–8 ms for 49 152).
const TOP_CHECKED: usize = 256;

/// Draws tried by rejection sampling before the full-vocabulary mask.
const REJECTION_DRAWS: usize = 8;

/// Picks tokens for one generation.
pub(crate) struct TokenChooser {
    grammar: Option<LlamaSampler>,
    mode: ConstrainMode,
    sampling: Sampling,
    rng: SplitMix64,
    /// Reused full-vocabulary array for grammar masks (one allocation per generation).
    scratch: LlamaTokenDataArray,
    /// Reused probabilities, indexed by token id.
    probs: Vec<f32>,
    /// Reused token ids sorted by probability, for top-p.
    order: Vec<u32>,
    /// How many times the grammar rejected the first choice (full-vocabulary masks done).
    pub(crate) full_masks: u64,
}

impl TokenChooser {
    /// A chooser for `sampling`, constrained by `grammar` (GBNF, root rule `root`) when given.
    pub(crate) fn new(
        model: &LlamaModel,
        grammar: Option<&str>,
        sampling: Sampling,
        mode: ConstrainMode,
        base_seed: u32,
    ) -> Result<Self, LlmError> {
        let grammar = match grammar {
            Some(text) => {
                Some(LlamaSampler::grammar(model, text, "root").map_err(|e| grammar_error(&e))?)
            }
            None => None,
        };
        Ok(Self {
            grammar,
            mode,
            sampling,
            rng: SplitMix64::new((u64::from(base_seed) << 32) | u64::from(sampling.seed)),
            scratch: LlamaTokenDataArray::new(Vec::new(), false),
            probs: Vec::new(),
            order: Vec::new(),
            full_masks: 0,
        })
    }

    /// Chooses the next token from `logits` (one per vocabulary entry).
    ///
    /// The returned token may be an end-of-generation token; the grammar allows those only once
    /// its root rule is complete. The grammar state is not advanced: call [`Self::accept`].
    pub(crate) fn choose(&mut self, logits: &[f32]) -> Result<LlamaToken, LlmError> {
        if self.sampling.is_greedy() {
            self.choose_greedy(logits)
        } else {
            self.choose_sampled(logits)
        }
    }

    /// Advances the grammar over an emitted (non end-of-generation) token.
    ///
    /// Only tokens returned by [`Self::choose`] may be accepted: without llama-cpp-2's `common`
    /// feature, accepting a token the grammar rejects aborts the process inside llama.cpp.
    pub(crate) fn accept(&mut self, token: LlamaToken) {
        if let Some(grammar) = &mut self.grammar {
            grammar.accept(token);
        }
    }

    /// True when the grammar allows nothing but end-of-generation: the answer is complete.
    pub(crate) fn only_end_allowed(&mut self, model: &LlamaModel) -> bool {
        let Some(grammar) = &mut self.grammar else {
            return false;
        };
        let vocab = model.vocab();
        fill(&mut self.scratch, (0..vocab.n_tokens()).map(|_| 0.0));
        grammar.apply(&mut self.scratch);
        let mut any = false;
        for d in &self.scratch.data {
            if d.logit().is_finite() {
                if !vocab.is_eog(d.id()) {
                    return false;
                }
                any = true;
            }
        }
        any
    }

    fn choose_greedy(&mut self, logits: &[f32]) -> Result<LlamaToken, LlmError> {
        if self.grammar.is_none() {
            return argmax(logits.iter().copied()).ok_or_else(no_logits);
        }
        if self.mode == ConstrainMode::GrammarFirst {
            let first = argmax(logits.iter().copied()).ok_or_else(no_logits)?;
            if self.allows(first) {
                return Ok(first);
            }
            if let Some(best) = self.best_of_top(logits) {
                return Ok(best);
            }
        }
        self.mask(logits);
        argmax(self.scratch.data.iter().map(LlamaTokenData::logit)).ok_or_else(dead_end)
    }

    fn choose_sampled(&mut self, logits: &[f32]) -> Result<LlamaToken, LlmError> {
        self.distribution(logits);
        if self.grammar.is_some() && self.mode == ConstrainMode::FullVocab {
            return self.resample_allowed(logits);
        }
        // Plain rejection sampling first: each rejected draw costs one cheap check, and the
        // accepted draw has exactly the constrained distribution. Only a grammar that rejects
        // most of the probability mass reaches the full-vocabulary mask.
        for _ in 0..REJECTION_DRAWS {
            let u = self.rng.next_f64();
            let token = draw(&self.probs, u).ok_or_else(no_logits)?;
            if self.grammar.is_none() || self.allows(token) {
                return Ok(token);
            }
        }
        self.resample_allowed(logits)
    }

    /// Draws from the nucleus restricted to the grammar's allowed tokens (falling back to all
    /// allowed tokens when the nucleus holds none). Expects `self.probs` to be filled.
    fn resample_allowed(&mut self, logits: &[f32]) -> Result<LlamaToken, LlmError> {
        self.mask(logits);
        let allowed = |i: usize, data: &[LlamaTokenData]| data[i].logit().is_finite();
        let mut restricted: Vec<f32> = self
            .probs
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                if allowed(i, &self.scratch.data) {
                    p
                } else {
                    0.0
                }
            })
            .collect();
        if restricted.iter().all(|&p| p <= 0.0) {
            // The grammar forces a token outside the nucleus: ignore top-p for this step.
            let t = self.sampling.temperature;
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for (i, p) in restricted.iter_mut().enumerate() {
                if allowed(i, &self.scratch.data) {
                    *p = ((logits[i] - max) / t).exp();
                }
            }
        }
        let u = self.rng.next_f64();
        draw(&restricted, u).ok_or_else(dead_end)
    }

    /// Fills `self.probs` with the temperature-scaled, top-p-truncated distribution (not
    /// normalised: `draw` normalises).
    fn distribution(&mut self, logits: &[f32]) {
        let t = self.sampling.temperature;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        self.probs.clear();
        self.probs
            .extend(logits.iter().map(|&l| ((l - max) / t).exp()));
        let top_p = self.sampling.top_p;
        if top_p < 1.0 {
            let total: f64 = self.probs.iter().map(|&p| f64::from(p)).sum();
            self.order.clear();
            self.order.extend(0..self.probs.len() as u32);
            let probs = &self.probs;
            self.order
                .sort_unstable_by(|&a, &b| probs[b as usize].total_cmp(&probs[a as usize]));
            let mut cumulative = 0.0;
            let mut keep = self.order.len();
            for (rank, &i) in self.order.iter().enumerate() {
                cumulative += f64::from(self.probs[i as usize]) / total;
                if cumulative >= f64::from(top_p) {
                    keep = rank + 1;
                    break;
                }
            }
            for &i in &self.order[keep..] {
                self.probs[i as usize] = 0.0;
            }
        }
    }

    /// The highest-logit allowed token among the [`TOP_CHECKED`] most likely, asked of the
    /// grammar in one call; `None` when none of them is allowed.
    ///
    /// Exact for greedy decoding: candidates are ranked by (logit descending, id ascending),
    /// the same total order `argmax` uses, so the best allowed candidate in the top set is the
    /// best allowed token of the whole vocabulary whenever the top set holds any.
    fn best_of_top(&mut self, logits: &[f32]) -> Option<LlamaToken> {
        let grammar = self.grammar.as_mut()?;
        let rank = |a: &(f32, i32), b: &(f32, i32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let mut top: Vec<(f32, i32)> = (0_i32..)
            .zip(logits.iter().copied())
            .filter(|(_, l)| l.is_finite())
            .map(|(i, l)| (l, i))
            .collect();
        if top.len() > TOP_CHECKED {
            top.select_nth_unstable_by(TOP_CHECKED - 1, rank);
            top.truncate(TOP_CHECKED);
        }
        top.sort_unstable_by(rank);
        let mut candidates = LlamaTokenDataArray::new(
            top.iter()
                .map(|&(l, i)| LlamaTokenData::new(LlamaToken::new(i), l, 0.0))
                .collect(),
            false,
        );
        grammar.apply(&mut candidates);
        candidates
            .data
            .iter()
            .find(|d| d.logit().is_finite())
            .map(LlamaTokenData::id)
    }

    /// How many leading tokens of `draft` the grammar allows in sequence (a draft the grammar
    /// rejects cannot be accepted, so decoding it would be wasted work). Stops after an
    /// end-of-generation token.
    pub(crate) fn allowed_prefix(&self, draft: &[LlamaToken], model: &LlamaModel) -> usize {
        match &self.grammar {
            Some(grammar) => allowed_prefix(grammar, draft, model),
            None => draft.len(),
        }
    }

    /// The grammar this chooser started with, advanced over `tokens` (tokens it accepted before,
    /// in order): the state to go back to when the repetition guard cuts the output. `None`
    /// without a grammar.
    pub(crate) fn grammar_after(
        &self,
        model: &LlamaModel,
        gbnf: &str,
        tokens: &[LlamaToken],
    ) -> Result<Option<LlamaSampler>, LlmError> {
        if self.grammar.is_none() {
            return Ok(None);
        }
        let mut grammar =
            LlamaSampler::grammar(model, gbnf, "root").map_err(|e| grammar_error(&e))?;
        for &token in tokens {
            grammar.accept(token);
        }
        Ok(Some(grammar))
    }

    /// Replaces the grammar state (see [`Self::grammar_after`]).
    pub(crate) fn set_grammar(&mut self, grammar: Option<LlamaSampler>) {
        self.grammar = grammar;
    }

    /// Like [`Self::choose`], among the tokens whose text does not start with `avoid`
    /// (`first_bytes[id]` is each token's first byte): the repetition guard's steer away from
    /// another copy of a cycle. Falls back to the plain choice when the grammar allows nothing
    /// else.
    pub(crate) fn choose_avoiding(
        &mut self,
        logits: &[f32],
        avoid: u8,
        first_bytes: &[u8],
    ) -> Result<LlamaToken, LlmError> {
        self.mask(logits);
        for d in &mut self.scratch.data {
            let id = usize::try_from(d.id().0).unwrap_or(usize::MAX);
            if first_bytes.get(id) == Some(&avoid) {
                d.set_logit(f32::NEG_INFINITY);
            }
        }
        let allowed: Vec<bool> = self
            .scratch
            .data
            .iter()
            .map(|d| d.logit().is_finite())
            .collect();
        if !allowed.iter().any(|&a| a) {
            return self.choose(logits);
        }
        if self.sampling.is_greedy() {
            return argmax(self.scratch.data.iter().map(LlamaTokenData::logit))
                .ok_or_else(dead_end);
        }
        self.distribution(logits);
        for (p, ok) in self.probs.iter_mut().zip(&allowed) {
            if !ok {
                *p = 0.0;
            }
        }
        if self.probs.iter().all(|&p| p <= 0.0) {
            // The nucleus holds no allowed token: fall back to the allowed set without top-p.
            let t = self.sampling.temperature;
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for (i, p) in self.probs.iter_mut().enumerate() {
                if allowed[i] {
                    *p = ((logits[i] - max) / t).exp();
                }
            }
        }
        let u = self.rng.next_f64();
        draw(&self.probs, u).ok_or_else(dead_end)
    }
}

/// How many leading tokens of `draft` `grammar` allows in sequence, without advancing it.
pub(crate) fn allowed_prefix(
    grammar: &LlamaSampler,
    draft: &[LlamaToken],
    model: &LlamaModel,
) -> usize {
    {
        let vocab = model.vocab();
        // A copy: the real grammar only ever advances over emitted tokens.
        let mut grammar = grammar.clone();
        for (i, &token) in draft.iter().enumerate() {
            let mut one =
                LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 0.0, 0.0)], false);
            grammar.apply(&mut one);
            if !one.data[0].logit().is_finite() {
                return i;
            }
            if vocab.is_eog(token) {
                return i + 1;
            }
            grammar.accept(token);
        }
        draft.len()
    }
}

impl TokenChooser {
    /// Asks the grammar about one token: the cheap check.
    fn allows(&mut self, token: LlamaToken) -> bool {
        let Some(grammar) = &mut self.grammar else {
            return true;
        };
        let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 0.0, 0.0)], false);
        grammar.apply(&mut one);
        one.data[0].logit().is_finite()
    }

    /// Masks the full vocabulary: afterwards `self.scratch.data[i]` is token `i` with its logit,
    /// or `-inf` where the grammar rejects it.
    fn mask(&mut self, logits: &[f32]) {
        self.full_masks += 1;
        fill(&mut self.scratch, logits.iter().copied());
        if let Some(grammar) = &mut self.grammar {
            grammar.apply(&mut self.scratch);
        }
    }
}

fn fill(array: &mut LlamaTokenDataArray, logits: impl Iterator<Item = f32>) {
    array.data.clear();
    array.data.extend(
        (0_i32..)
            .zip(logits)
            .map(|(i, l)| LlamaTokenData::new(LlamaToken::new(i), l, 0.0)),
    );
    array.sorted = false;
    array.selected = None;
}

/// The first index of the largest finite value (ties go to the lowest token id, so the
/// grammar-first and full-vocabulary paths agree).
fn argmax(values: impl Iterator<Item = f32>) -> Option<LlamaToken> {
    let mut best: Option<(usize, f32)> = None;
    for (i, v) in values.enumerate() {
        if v.is_finite() && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.and_then(|(i, _)| i32::try_from(i).ok())
        .map(LlamaToken::new)
}

/// Draws an index with probability proportional to `weights[i]`, `u` uniform in `[0, 1)`.
fn draw(weights: &[f32], u: f64) -> Option<LlamaToken> {
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    let target = u * total;
    let mut cumulative = 0.0;
    let mut last_positive = None;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            cumulative += f64::from(w);
            last_positive = Some(i);
            if cumulative > target {
                break;
            }
        }
    }
    // Rounding can leave `target` just above the final sum: the last positive weight wins.
    last_positive
        .and_then(|i| i32::try_from(i).ok())
        .map(LlamaToken::new)
}

fn no_logits() -> LlmError {
    LlmError::backend("the model produced no usable logits (all NaN or -inf)")
}

fn dead_end() -> LlmError {
    LlmError::Grammar(
        "the grammar allows no token of the vocabulary at this point (a dead end: check that \
         every literal and character class can be written with the model's tokens)"
            .into(),
    )
}

/// A small, fast, seedable generator (SplitMix64); sampling needs reproducibility, not
/// cryptographic strength, and no dependency for it.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_prefers_the_lowest_id_on_ties_and_skips_masked() {
        let t = argmax([1.0, 3.0, 3.0, f32::NEG_INFINITY].into_iter());
        assert_eq!(t, Some(LlamaToken::new(1)));
        assert_eq!(argmax([f32::NEG_INFINITY; 3].into_iter()), None);
    }

    #[test]
    fn draw_follows_the_weights() {
        let w = [0.0, 1.0, 0.0, 3.0];
        assert_eq!(draw(&w, 0.0), Some(LlamaToken::new(1)));
        assert_eq!(draw(&w, 0.24), Some(LlamaToken::new(1)));
        assert_eq!(draw(&w, 0.26), Some(LlamaToken::new(3)));
        assert_eq!(draw(&w, 0.999_999), Some(LlamaToken::new(3)));
        assert_eq!(draw(&[0.0, 0.0], 0.5), None);
    }

    #[test]
    fn splitmix_is_reproducible_and_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..1000 {
            let x = a.next_f64();
            assert_eq!(x, b.next_f64());
            assert!((0.0..1.0).contains(&x));
        }
    }
}
