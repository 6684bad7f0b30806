//! The backend interface: what the extraction loop asks of a language model.
//!
//! This module owns the [`Llm`] trait and the plain data that crosses it (messages, sampling
//! settings, generation requests, usage figures). It must stay free of any backend's types:
//! the llama.cpp backend and an HTTP backend both implement it.

use std::time::Duration;

use crate::error::LlmError;

/// Who said a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person (or program) asking.
    User,
    /// The model's earlier answers.
    Assistant,
}

impl Role {
    /// The role's name as chat templates spell it (`"system"`, `"user"`, `"assistant"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One turn of a conversation.
///
/// ```
/// use instructor_core::Message;
/// let m = Message::user("Extract `Jason is 30 years old`");
/// assert_eq!(m.role.as_str(), "user");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// How the next token is chosen.
///
/// The default is greedy decoding (temperature 0), which is what extraction wants: the most
/// likely valid answer, reproducibly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0.0 means greedy (argmax). Higher values flatten the distribution.
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p`.
    /// 1.0 keeps all. Ignored when greedy.
    pub top_p: f32,
    /// Seed of the random sampler. Ignored when greedy.
    pub seed: u32,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

impl Sampling {
    /// True when the next token is always the most likely one.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

/// Everything a backend needs for one generation.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The conversation so far; the answer continues it as an assistant turn.
    pub messages: &'a [Message],
    /// A GBNF grammar (with a `root` rule) the output must match, for backends that run grammars.
    pub grammar: Option<&'a str>,
    /// The same constraint as a JSON Schema, for backends that take schemas.
    pub json_schema: Option<&'a serde_json::Value>,
    /// Upper bound on generated tokens; reaching it ends the generation with [`FinishReason::Length`].
    pub max_tokens: u32,
    /// Sampling settings.
    pub sampling: Sampling,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model (or the grammar) ended the answer.
    Stop,
    /// `max_tokens` was reached first; the text is cut.
    Length,
}

/// What one generation (or a whole extraction, summed) cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Prompt tokens actually evaluated; the rest were reused from a cache.
    pub prompt_tokens_evaluated: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Draft tokens proposed by speculative decoding.
    pub draft_tokens: u64,
    /// Draft tokens the model accepted.
    pub draft_tokens_accepted: u64,
    /// Time spent evaluating the prompt.
    pub prompt_time: Duration,
    /// Time spent generating.
    pub generation_time: Duration,
}

impl Usage {
    /// Adds another generation's figures to these.
    pub fn add(&mut self, other: &Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.prompt_tokens_evaluated += other.prompt_tokens_evaluated;
        self.completion_tokens += other.completion_tokens;
        self.draft_tokens += other.draft_tokens;
        self.draft_tokens_accepted += other.draft_tokens_accepted;
        self.prompt_time += other.prompt_time;
        self.generation_time += other.generation_time;
    }

    /// Generated tokens per second of generation time (0 when nothing was generated).
    pub fn tokens_per_second(&self) -> f64 {
        let secs = self.generation_time.as_secs_f64();
        if secs > 0.0 {
            self.completion_tokens as f64 / secs
        } else {
            0.0
        }
    }
}

/// A generation in progress, pulled chunk by chunk.
///
/// Backends produce text incrementally; the extraction loop pulls it to parse partial values
/// as they arrive. Dropping the stream early stops the generation.
pub trait TokenStream {
    /// The next piece of generated text, `None` once the generation has ended.
    fn next_chunk(&mut self) -> Option<Result<String, LlmError>>;
    /// Why the generation ended (meaningful once `next_chunk` returned `None`) and what it cost.
    fn finish(&self) -> (FinishReason, Usage);
}

/// A language model that can continue a conversation, optionally under a grammar.
///
/// Implementations must be usable from several threads at once (`Send + Sync`); each call to
/// [`Llm::generate`] is independent.
pub trait Llm: Send + Sync {
    /// Starts generating the assistant's answer to `request.messages`.
    fn generate<'a>(&'a self, request: &Request<'_>)
        -> Result<Box<dyn TokenStream + 'a>, LlmError>;

    /// Generates the whole answer at once. The default pulls [`Llm::generate`] to the end.
    fn complete(&self, request: &Request<'_>) -> Result<Completion, LlmError> {
        let mut stream = self.generate(request)?;
        let mut text = String::new();
        while let Some(chunk) = stream.next_chunk() {
            text.push_str(&chunk?);
        }
        let (finish, usage) = stream.finish();
        Ok(Completion {
            text,
            finish,
            usage,
        })
    }
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The generated text.
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
    /// What it cost.
    pub usage: Usage,
}
