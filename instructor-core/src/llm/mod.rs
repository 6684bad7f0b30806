//! The backend interface: what the extraction loop asks of a language model.
//!
//! This module owns the [`Llm`] trait and the plain data that crosses it (messages, sampling
//! settings, generation requests, usage figures, the backend's errors). It must stay free of any
//! backend's types: the llama.cpp backend and an HTTP backend both implement it.

use std::time::Duration;

use crate::batch::{Batch, OneAtATime};
use crate::partial::Seg;

mod error;

pub use error::{BoxError, LlmError};

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
///
/// ```
/// use instructor_core::Sampling;
/// let s = Sampling::default().temperature(0.7).top_p(0.9).seed(42);
/// assert!(!s.is_greedy());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
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
    /// Sets the temperature (0 is greedy).
    #[must_use]
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = temperature;
        self
    }

    /// Sets the nucleus threshold.
    #[must_use]
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.top_p = top_p;
        self
    }

    /// Sets the seed.
    #[must_use]
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = seed;
        self
    }

    /// True when the next token is always the most likely one.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

/// Everything a backend needs for one generation.
///
/// Built with [`Request::new`] and its setters (fields may be added, so the struct cannot be
/// written out); backends read the fields.
///
/// ```
/// use instructor_core::{Message, Request};
/// let messages = [Message::user("Name a colour.")];
/// let request = Request::new(&messages)
///     .grammar(r#"root ::= "red" | "blue""#)
///     .max_tokens(8);
/// assert_eq!(request.max_tokens, 8);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// Whether the list or map at a JSON path may repeat an earlier item byte for byte (the
    /// answer type's [`ResponseModel::repeats_allowed`](crate::ResponseModel::repeats_allowed)).
    /// Backends with a repetition guard cut such a repeat as a loop unless this says yes;
    /// `None` allows repeats nowhere.
    pub repeats_allowed: Option<fn(&[Seg<'_>]) -> bool>,
}

impl<'a> Request<'a> {
    /// A request to continue `messages`: no grammar or schema, 512 tokens, greedy decoding,
    /// repeats allowed nowhere.
    pub fn new(messages: &'a [Message]) -> Self {
        Self {
            messages,
            grammar: None,
            json_schema: None,
            max_tokens: 512,
            sampling: Sampling::default(),
            repeats_allowed: None,
        }
    }

    /// The GBNF grammar (root rule `root`) the output must match.
    #[must_use]
    pub fn grammar(mut self, gbnf: &'a str) -> Self {
        self.grammar = Some(gbnf);
        self
    }

    /// The JSON Schema of the output, for backends that take schemas.
    #[must_use]
    pub fn json_schema(mut self, schema: &'a serde_json::Value) -> Self {
        self.json_schema = Some(schema);
        self
    }

    /// Upper bound on generated tokens.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// Sampling settings.
    #[must_use]
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// Where the output may repeat list items (see the field).
    #[must_use]
    pub fn repeats_allowed(mut self, allowed: fn(&[Seg<'_>]) -> bool) -> Self {
        self.repeats_allowed = Some(allowed);
        self
    }
}

impl Request<'_> {
    /// A copy that owns its parts, for a backend that sends the request from another thread or
    /// task.
    pub fn to_owned_request(&self) -> OwnedRequest {
        OwnedRequest {
            messages: self.messages.to_vec(),
            grammar: self.grammar.map(str::to_owned),
            json_schema: self.json_schema.cloned(),
            max_tokens: self.max_tokens,
            sampling: self.sampling,
            repeats_allowed: self.repeats_allowed,
        }
    }
}

/// A [`Request`] that owns its parts ([`Request::to_owned_request`]); [`OwnedRequest::request`]
/// lends it out again.
#[derive(Debug, Clone)]
pub struct OwnedRequest {
    messages: Vec<Message>,
    grammar: Option<String>,
    json_schema: Option<serde_json::Value>,
    max_tokens: u32,
    sampling: Sampling,
    repeats_allowed: Option<fn(&[Seg<'_>]) -> bool>,
}

impl OwnedRequest {
    /// The request, borrowing from this copy.
    pub fn request(&self) -> Request<'_> {
        Request {
            messages: &self.messages,
            grammar: self.grammar.as_deref(),
            json_schema: self.json_schema.as_ref(),
            max_tokens: self.max_tokens,
            sampling: self.sampling,
            repeats_allowed: self.repeats_allowed,
        }
    }
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
///
/// Backends outside this crate fill it in with the setters:
///
/// ```
/// use instructor_core::Usage;
/// let u = Usage::default().prompt_tokens(10).prompt_tokens_evaluated(4).completion_tokens(3);
/// assert_eq!((u.prompt_tokens, u.completion_tokens), (10, 3));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
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
    /// Repetition loops the backend cut out of the output (see [`LoopCut`]).
    pub loops_cut: u64,
    /// Generated tokens that were dropped with those loops (counted in `completion_tokens` too:
    /// they were generated).
    pub tokens_dropped: u64,
}

impl Usage {
    /// Sets the tokens in the prompt.
    #[must_use]
    pub fn prompt_tokens(mut self, prompt_tokens: u64) -> Self {
        self.prompt_tokens = prompt_tokens;
        self
    }

    /// Sets the prompt tokens actually evaluated.
    #[must_use]
    pub fn prompt_tokens_evaluated(mut self, prompt_tokens_evaluated: u64) -> Self {
        self.prompt_tokens_evaluated = prompt_tokens_evaluated;
        self
    }

    /// Sets the tokens generated.
    #[must_use]
    pub fn completion_tokens(mut self, completion_tokens: u64) -> Self {
        self.completion_tokens = completion_tokens;
        self
    }

    /// Sets the draft tokens proposed.
    #[must_use]
    pub fn draft_tokens(mut self, draft_tokens: u64) -> Self {
        self.draft_tokens = draft_tokens;
        self
    }

    /// Sets the draft tokens accepted.
    #[must_use]
    pub fn draft_tokens_accepted(mut self, draft_tokens_accepted: u64) -> Self {
        self.draft_tokens_accepted = draft_tokens_accepted;
        self
    }

    /// Sets the time spent evaluating the prompt.
    #[must_use]
    pub fn prompt_time(mut self, prompt_time: Duration) -> Self {
        self.prompt_time = prompt_time;
        self
    }

    /// Sets the time spent generating.
    #[must_use]
    pub fn generation_time(mut self, generation_time: Duration) -> Self {
        self.generation_time = generation_time;
        self
    }

    /// Sets the count of repetition loops cut.
    #[must_use]
    pub fn loops_cut(mut self, loops_cut: u64) -> Self {
        self.loops_cut = loops_cut;
        self
    }

    /// Sets the generated tokens dropped with cut loops.
    #[must_use]
    pub fn tokens_dropped(mut self, tokens_dropped: u64) -> Self {
        self.tokens_dropped = tokens_dropped;
        self
    }

    /// Adds another generation's figures to these.
    pub fn add(&mut self, other: &Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.prompt_tokens_evaluated += other.prompt_tokens_evaluated;
        self.completion_tokens += other.completion_tokens;
        self.draft_tokens += other.draft_tokens;
        self.draft_tokens_accepted += other.draft_tokens_accepted;
        self.prompt_time += other.prompt_time;
        self.generation_time += other.generation_time;
        self.loops_cut += other.loops_cut;
        self.tokens_dropped += other.tokens_dropped;
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

/// One step of a [`TokenStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// More text, to append to what came before.
    Text(String),
    /// The backend took text back: keep the first `n` bytes of the text returned so far (always
    /// a character boundary) and append later chunks after them. A repetition guard does this
    /// when it cuts a loop out of the output; text that completed a value is never taken back
    /// (see [`LoopCut`]).
    Rewind(usize),
}

impl Chunk {
    /// Applies this step to the text received so far: appends, or cuts back (to the nearest
    /// character boundary at or before the rewind point, so a wrong offset cannot panic).
    ///
    /// ```
    /// use instructor_core::Chunk;
    /// let mut text = String::new();
    /// Chunk::Text("[1,1,1".into()).apply_to(&mut text);
    /// Chunk::Rewind(2).apply_to(&mut text);
    /// Chunk::Text("]".into()).apply_to(&mut text);
    /// assert_eq!(text, "[1]");
    /// ```
    pub fn apply_to(&self, text: &mut String) {
        match self {
            Chunk::Text(more) => text.push_str(more),
            Chunk::Rewind(n) => {
                let mut n = (*n).min(text.len());
                while !text.is_char_boundary(n) {
                    n -= 1;
                }
                text.truncate(n);
            }
        }
    }
}

/// A generation in progress, pulled chunk by chunk.
///
/// Backends produce text incrementally; the extraction loop pulls it to parse partial values
/// as they arrive. Dropping the stream early stops the generation.
pub trait TokenStream {
    /// The next step of the generated text, `None` once the generation has ended.
    fn next_chunk(&mut self) -> Option<Result<Chunk, LlmError>>;
    /// Why the generation ended (meaningful once `next_chunk` returned `None`) and what it cost.
    fn finish(&self) -> (FinishReason, Usage);
    /// The loops the backend's repetition guard cut out of this generation so far, in order.
    fn loops_cut(&self) -> &[LoopCut] {
        &[]
    }
}

/// A repetition loop a backend cut out of its output, and how.
///
/// Small models under a grammar can repeat themselves until the token budget runs out (a list
/// that repeats its items, a string that cycles through the same few characters). A guard in
/// the decoder detects the loop, drops it (the KV cache and the grammar state go back too) and
/// steers to what the grammar allows instead: the end of the list, or anything but the next copy
/// of the cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopCut {
    /// The loop's shape.
    pub kind: LoopKind,
    /// Where in the answer, as a JSON path (`$.people[3]`, `$.email`).
    pub path: String,
    /// Generated tokens dropped with it.
    pub tokens_dropped: u64,
    /// The text dropped (as generated; a few forced bytes may have been written back).
    pub dropped: String,
}

impl LoopCut {
    /// A cut loop, as a backend reports it.
    pub fn new(kind: LoopKind, path: String, tokens_dropped: u64, dropped: String) -> Self {
        Self {
            kind,
            path,
            tokens_dropped,
            dropped,
        }
    }
}

/// The shape of a [`LoopCut`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoopKind {
    /// A list item equal, byte for byte, to an earlier item of the same list; the list was
    /// closed before it.
    RepeatedItem,
    /// A map entry (key and value) equal to an earlier entry of the same map; the map was closed
    /// before it.
    RepeatedEntry,
    /// List items that count on from one another (`"2024-03-16", "2024-03-17", …` or
    /// `"B-1042", "C-1042", …`), none of them in the prompt: the model is inventing a series.
    /// The list was closed after the item the series started from.
    CountingItems,
    /// A string whose end repeated a span of `period` bytes several times; all but one copy were
    /// dropped and the next copy was steered away from.
    CyclingText {
        /// Length of the repeated span in bytes.
        period: usize,
    },
}

impl std::fmt::Display for LoopKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoopKind::RepeatedItem => f.write_str("repeated list item"),
            LoopKind::RepeatedEntry => f.write_str("repeated map entry"),
            LoopKind::CountingItems => f.write_str("list items counting on"),
            LoopKind::CyclingText { period } => write!(f, "text cycling every {period} bytes"),
        }
    }
}

/// A language model that can continue a conversation, optionally under a grammar.
///
/// Implementations must be usable from several threads at once (`Send + Sync`); each call to
/// [`Llm::generate`] is independent.
pub trait Llm: Send + Sync {
    /// Starts generating the assistant's answer to `request.messages`.
    fn generate<'a>(&'a self, request: &Request<'_>)
        -> Result<Box<dyn TokenStream + 'a>, LlmError>;

    /// Several generations at once, in up to `sequences` slots (see [`Batch`]): what
    /// [`Extractor::extract_many`](crate::Extractor::extract_many) runs on.
    ///
    /// The default runs one sequence at a time through [`Llm::generate`] ([`OneAtATime`],
    /// capacity 1, whatever `sequences` says), so every backend works; a backend that can
    /// decode many sequences in one call overrides it.
    ///
    /// # Errors
    /// The backend cannot set up the batch (for example, no memory for the sequences' context).
    fn batch<'a>(&'a self, sequences: usize) -> Result<Box<dyn Batch + 'a>, LlmError> {
        let _ = sequences;
        Ok(Box::new(OneAtATime::new(self)))
    }

    /// Generates the whole answer at once. The default pulls [`Llm::generate`] to the end.
    fn complete(&self, request: &Request<'_>) -> Result<Completion, LlmError> {
        let mut stream = self.generate(request)?;
        let mut text = String::new();
        while let Some(chunk) = stream.next_chunk() {
            chunk?.apply_to(&mut text);
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
