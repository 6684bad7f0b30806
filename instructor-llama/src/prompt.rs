//! Prompt tokens: the rendered conversation, tokenised so message text stays text and the
//! model's own earlier answers keep the tokens it generated them with.
//!
//! This module owns the mapping from messages to prompt tokens and the memory of recent
//! answers that makes it stable. It does not decide which cached context is reused (`pool.rs`).
//!
//! # Why not just tokenise the text
//!
//! A retry re-sends the conversation plus the failed answer. The model wrote that answer token
//! by token under a grammar, often not in the tokeniser's canonical split (`{` `"` `name`
//! rather than `{"` `name`). Re-tokenising the text would diverge from the KV cache at the
//! answer's first token, so its whole answer would be evaluated again. Instead, an assistant
//! message whose text is exactly one of this model's recent answers is spliced in as the
//! tokens it was generated with. Everything else is tokenised canonically, except a message
//! whose text spells a control token (`<|im_end|>`): that content is tokenised on its own as
//! plain text, so a message cannot end its turn early. The result depends only on the
//! conversation and this `Llama`'s answer history, never on which context happens to be
//! cached, so outputs stay reproducible.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use instructor_core::{Message, Role};
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::chat_template::ResolvedTemplate;

/// How many recent answers are remembered (a retry loop needs one per attempt).
const ANSWERS_KEPT: usize = 32;

/// Recent answers and the exact tokens they were generated as.
#[derive(Debug, Default)]
pub(crate) struct AnswerMemory {
    answers: Mutex<VecDeque<(String, Vec<LlamaToken>)>>,
}

impl AnswerMemory {
    /// Remembers that `tokens` decode to `text` (the caller checks they do).
    pub(crate) fn remember(&self, text: String, tokens: Vec<LlamaToken>) {
        if text.is_empty() {
            return;
        }
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers.retain(|(t, _)| *t != text);
        answers.push_front((text, tokens));
        answers.truncate(ANSWERS_KEPT);
    }

    fn tokens_of(&self, text: &str) -> Option<Vec<LlamaToken>> {
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers
            .iter()
            .find(|(t, _)| t == text)
            .map(|(_, tokens)| tokens.clone())
    }
}

/// Renders `messages` with `template` and tokenises the result: canonically, with remembered
/// answers spliced in as generated and control-token text in messages kept as plain text.
pub(crate) fn prompt_tokens(
    model: &LlamaModel,
    template: &ResolvedTemplate,
    memory: &AnswerMemory,
    messages: &[Message],
) -> Vec<LlamaToken> {
    let text = template.render(model, messages);
    let vocab = model.vocab();
    let mut tokens = Vec::new();
    // Only the first piece of text gets the vocabulary's BOS.
    let mut add_special = true;
    // `cursor`: start of the text not yet tokenised; `search`: where the next message's
    // content can start.
    let mut cursor = 0;
    let mut search = 0;
    for m in messages {
        if m.content.is_empty() {
            continue;
        }
        // Messages appear in order; a template that rewrites a content (trims it, escapes it)
        // ends the segmenting and the rest is tokenised as one piece.
        let Some(found) = text[search..].find(&m.content) else {
            break;
        };
        let start = search + found;
        search = start + m.content.len();
        let answer = match m.role {
            Role::Assistant => memory.tokens_of(&m.content),
            _ => None,
        };
        let smuggles_control_tokens = || {
            let content = m.content.as_bytes();
            vocab.tokenize(content, false, true) != vocab.tokenize(content, false, false)
        };
        if answer.is_none() && !smuggles_control_tokens() {
            // Stays in the canonically tokenised span.
            continue;
        }
        // The template's own markup before it, with its special tokens (`<|im_start|>`) parsed.
        vocab.tokenize_into(
            &text.as_bytes()[cursor..start],
            &mut tokens,
            add_special,
            true,
        );
        add_special = false;
        match answer {
            Some(answer) => tokens.extend_from_slice(&answer),
            // Message text is only text: `<|im_end|>` typed by a user stays characters.
            None => vocab.tokenize_into(m.content.as_bytes(), &mut tokens, false, false),
        }
        cursor = search;
    }
    vocab.tokenize_into(&text.as_bytes()[cursor..], &mut tokens, add_special, true);
    if tokens.is_empty() {
        // Something must be evaluated to get logits; BOS is what the model saw at the start of
        // every training document.
        tokens.push(vocab.bos());
    }
    tokens
}
