//! [`Llama`]: a loaded GGUF model, its builder, and its [`Llm`] implementation.
//!
//! This module owns finding and validating the model file, the settings a `Llama` is built
//! with, and the per-request glue (render → tokenise → check the budget → lease a context →
//! generate). The decode loop itself is `generation.rs`'s.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use instructor_core::{Batch, Llm, LlmError, Message, Request, TokenStream};
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::answer::{Answer, Guard};
use crate::backend::{backend, default_threads};
use crate::batch::Sequences;
use crate::catalog::{name_or_path, Asked, ModelChoice, Resolved, SetupHint};
use crate::chat_template::{ChatTemplate, ResolvedTemplate};
use crate::error::{model_load, model_missing, model_unreadable, not_gguf};
use crate::generation::Generation;
use crate::pool::{ContextPool, ContextSettings};
use crate::prompt::{prompt_tokens, AnswerMemory};
use crate::repetition::{Detector, RepetitionGuard};
use crate::sampler::{ConstrainMode, TokenChooser};
use crate::speculative::{DraftSettings, SchemaLiterals};

/// File name of the default model, SmolLM2-135M-Instruct quantised to Q4_1.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// A GGUF model loaded with llama.cpp, ready to generate.
///
/// `Llama` is `Send + Sync`: share one through an `Arc` and call [`Llm::generate`] from as many
/// threads as you like. Each generation leases its own context (KV cache) from a small pool, so
/// generations never see each other's state; their decodes take turns on a process-wide lock,
/// because each decode already uses every core (see [`LlamaBuilder::threads`]).
///
/// Each [`Usage`](instructor_core::Usage) reports `prompt_tokens_evaluated` (the rest of the
/// prompt was found in a pooled context's KV cache) and the speculative `draft_tokens` /
/// `draft_tokens_accepted`. Greedy output does not depend on either: it is token for token
/// what plain one-token-at-a-time decoding gives.
///
/// # Many documents at once
///
/// [`Llm::batch`] (what [`Extractor::extract_many`](instructor_core::Extractor::extract_many)
/// runs on) uses one context of `sequences` llama.cpp sequences for the run, each with its
/// own KV range of [`Llama::n_ctx`] tokens (the context holds `n_ctx × sequences`; for
/// SmolLM2-135M ~23 KB per token, so 16 sequences of 2048 tokens take ~750 MB). The context stays
/// with the model after the run, with what its caches hold, and the next run that needs no more
/// sequences takes it again: no new context, and the prompt prefixes it holds (the shared
/// instruction, a type's system prompt) are not evaluated again; that memory is freed with the
/// last clone of the `Llama`, or replaced by a run that needs more sequences. A document whose
/// prompt plus `max_tokens` does not fit its sequence is [`LlmError::ContextOverflow`] for that
/// document only. Every step decodes the next token (and drafts) of every live sequence in one
/// `llama_decode`; a finished sequence's slot takes the next document, whose prompt rides in the
/// same batches, and a prompt prefix another sequence holds (the system prompt) is copied, not
/// evaluated again. Decodes still take the process-wide turn described above. Grammar, budget,
/// drafts and repetition guard are per sequence, as in a lone generation.
///
/// ```no_run
/// use instructor_core::{Llm, Message, Request};
/// use instructor_llama::Llama;
///
/// let llm = Llama::load_default()?; // needs `scripts/setup.sh` once
/// let messages = [Message::user("Name a colour.")];
/// let answer = llm.complete(
///     &Request::new(&messages)
///         .grammar(r#"root ::= "red" | "green" | "blue""#)
///         .max_tokens(8),
/// )?;
/// println!("{} ({:.0} tokens/s)", answer.text, answer.usage.tokens_per_second());
/// # Ok::<(), instructor_core::LlmError>(())
/// ```
///
/// A `Llama` is a handle: clones are cheap and share the model, the context pool and the
/// remembered answers, so one loaded model can be handed to threads and async tasks.
#[derive(Clone)]
pub struct Llama {
    shared: std::sync::Arc<Shared>,
}

/// What every clone of a [`Llama`] shares.
struct Shared {
    pool: ContextPool,
    answers: AnswerMemory,
    template: ResolvedTemplate,
    drafts: DraftSettings,
    constrain_mode: ConstrainMode,
    seed: u32,
    path: PathBuf,
    repetition_guard: RepetitionGuard,
    /// Each token's first byte, for the guard's steering; computed on first use.
    first_bytes: std::sync::OnceLock<Vec<u8>>,
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.shared.pool.settings();
        f.debug_struct("Llama")
            .field("path", &self.shared.path)
            .field("n_ctx", &s.n_ctx)
            .field("threads", &s.threads)
            .field("context_pool_size", &s.pool_size)
            .field("kv_cache_reuse", &s.reuse)
            .field("repetition_guard", &self.shared.repetition_guard)
            .field("template", &self.shared.template)
            .finish_non_exhaustive()
    }
}

impl Llama {
    /// Starts configuring a model; see [`LlamaBuilder`].
    pub fn builder() -> LlamaBuilder {
        LlamaBuilder::default()
    }

    /// Loads the default model with default settings.
    ///
    /// # Errors
    /// [`LlmError::ModelLoad`] when the model is missing (the message names `scripts/setup.sh`)
    /// or cannot be loaded.
    pub fn load_default() -> Result<Self, LlmError> {
        Self::builder().build()
    }

    /// Where the default model is expected: `$INSTRUCTOR_MODEL_DIR`, else
    /// `${XDG_CACHE_HOME:-$HOME/.cache}/instructor-rs/`, followed by [`DEFAULT_MODEL_FILE`].
    ///
    /// # Errors
    /// [`LlmError::ModelLoad`] when the file is not there (naming `scripts/setup.sh`) or no
    /// cache folder can be determined.
    pub fn default_model() -> Result<PathBuf, LlmError> {
        existing(ModelChoice::Default.resolve()?)
    }

    /// Loads a known model by name (see [`KNOWN_MODELS`](crate::KNOWN_MODELS)) with default
    /// settings, from the same model cache as the default model.
    ///
    /// ```no_run
    /// // needs `scripts/setup.sh --model qwen2.5-0.5b` once
    /// let llm = instructor_llama::Llama::load_named("qwen2.5-0.5b")?;
    /// # Ok::<(), instructor_core::LlmError>(())
    /// ```
    ///
    /// # Errors
    /// [`LlmError::ModelLoad`] when the name is unknown (the message lists the known ones), the
    /// file is missing (naming `scripts/setup.sh --model NAME`) or cannot be loaded.
    pub fn load_named(name: &str) -> Result<Self, LlmError> {
        Self::builder().model_name(name).build()
    }

    /// Loads the model `$INSTRUCTOR_MODEL` names (a known name or a path to a GGUF file), or
    /// the default model when it is unset, with default settings. The examples and the
    /// benchmark load their model this way.
    ///
    /// # Errors
    /// As [`Llama::load_named`], and for a path as [`LlamaBuilder::model_path`].
    pub fn load_from_env() -> Result<Self, LlmError> {
        Self::builder().model_from_env().build()
    }

    /// Where a known model is expected in the model cache (see [`Llama::default_model`]).
    ///
    /// # Errors
    /// [`LlmError::ModelLoad`] when the name is unknown or the file is not there (naming
    /// `scripts/setup.sh --model NAME`).
    pub fn named_model(name: &str) -> Result<PathBuf, LlmError> {
        existing(ModelChoice::Name(name.to_owned()).resolve()?)
    }

    /// The file a known name or a path stands for, checked to exist: the rule
    /// `$INSTRUCTOR_MODEL` follows (a bare word that is no known name is an error listing the
    /// known names).
    ///
    /// # Errors
    /// [`LlmError::ModelLoad`] when the name is unknown or the file is not there.
    pub fn find_model(spec: &str) -> Result<PathBuf, LlmError> {
        existing(name_or_path(OsStr::new(spec), Asked::NameOrPath)?.resolve()?)
    }

    /// The file `$INSTRUCTOR_MODEL` stands for, or the default model when it is unset.
    ///
    /// # Errors
    /// As [`Llama::find_model`].
    pub fn model_from_env() -> Result<PathBuf, LlmError> {
        existing(ModelChoice::Env.resolve()?)
    }

    /// The model file this `Llama` was loaded from.
    pub fn model_path(&self) -> &Path {
        &self.shared.path
    }

    /// The context window, in tokens, of every generation.
    pub fn n_ctx(&self) -> u32 {
        self.shared.pool.settings().n_ctx
    }

    /// The exact prompt text the model sees for `messages` (chat template applied, assistant
    /// turn opened).
    pub fn render_prompt(&self, messages: &[Message]) -> String {
        self.shared
            .template
            .render(self.shared.pool.model(), messages)
    }

    /// Number of prompt tokens `messages` take (this model's own earlier answers count as the
    /// tokens they were generated as, see [`Llm::generate`]'s KV reuse).
    pub fn count_prompt_tokens(&self, messages: &[Message]) -> usize {
        self.tokenize_prompt(messages).len()
    }

    fn tokenize_prompt(&self, messages: &[Message]) -> Vec<LlamaToken> {
        prompt_tokens(
            self.shared.pool.model(),
            &self.shared.template,
            &self.shared.answers,
            messages,
        )
    }
}

impl Llama {
    /// The prompt of `request` as tokens and its answer, not yet started: the budget checked
    /// against the context window, the grammar and sampling set up, the repetition guard armed.
    /// Shared by lone generations and batch sequences.
    pub(crate) fn answer_for(&self, request: &Request<'_>) -> Result<Answer<'_>, LlmError> {
        let model = self.shared.pool.model();
        let prompt = self.tokenize_prompt(request.messages);
        let n_ctx = self.n_ctx();
        let needed =
            u64::try_from(prompt.len()).unwrap_or(u64::MAX) + u64::from(request.max_tokens);
        if needed > u64::from(n_ctx) {
            return Err(LlmError::ContextOverflow {
                prompt_tokens: prompt.len(),
                max_tokens: request.max_tokens,
                n_ctx,
            });
        }
        let chooser = TokenChooser::new(
            model,
            request.grammar,
            request.sampling,
            self.shared.constrain_mode,
            self.shared.seed,
        )?;
        let guard = request
            .grammar
            .filter(|_| self.shared.repetition_guard.is_enabled())
            .map(|gbnf| {
                let source = request
                    .messages
                    .iter()
                    .map(|m| m.content.as_str())
                    .collect::<Vec<_>>()
                    .join("\n");
                let detector = Detector::new(
                    self.shared.repetition_guard,
                    request.repeats_allowed,
                    source,
                );
                Guard::new(detector, gbnf, &self.shared.first_bytes)
            });
        Ok(Answer::new(
            model,
            prompt,
            chooser,
            request.max_tokens,
            guard,
        ))
    }

    pub(crate) fn pool(&self) -> &ContextPool {
        &self.shared.pool
    }

    pub(crate) fn answers(&self) -> &AnswerMemory {
        &self.shared.answers
    }

    /// The draft settings, and the schema literals drafts are taken from for `request`.
    pub(crate) fn drafts_for(
        &self,
        request: &Request<'_>,
    ) -> (DraftSettings, Option<SchemaLiterals>) {
        let literals = request
            .grammar
            .filter(|_| self.shared.drafts.schema_drafts)
            .map(SchemaLiterals::from_gbnf);
        (self.shared.drafts, literals)
    }
}

impl Llm for Llama {
    fn generate<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> Result<Box<dyn TokenStream + 'a>, LlmError> {
        let out = self.answer_for(request)?;
        let (drafts, literals) = self.drafts_for(request);
        let lease = self.shared.pool.lease(&out.history)?;
        let generation = Generation::start(&self.shared.answers, lease, out, drafts, literals)?;
        Ok(Box::new(generation))
    }

    /// Up to `sequences` extractions in one context, every live sequence's next token decoded
    /// in one llama.cpp batch (see [`Llama`]'s "Many documents at once").
    fn batch<'a>(&'a self, sequences: usize) -> Result<Box<dyn Batch + 'a>, LlmError> {
        Ok(Box::new(Sequences::new(self, sequences)?))
    }
}

/// Settings for loading a [`Llama`]; every one has a default that works on the default model.
///
/// ```no_run
/// use instructor_llama::{ChatTemplate, Llama};
///
/// let llm = Llama::builder()
///     .model_path("/models/SmolLM2-135M-Instruct.Q4_1.gguf")
///     .n_ctx(4096)
///     .threads(2)
///     .chat_template(ChatTemplate::ChatMl)
///     .build()?;
/// # Ok::<(), instructor_core::LlmError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LlamaBuilder {
    model: ModelChoice,
    n_ctx: u32,
    threads: Option<usize>,
    n_gpu_layers: Option<u32>,
    seed: u32,
    chat_template: ChatTemplate,
    drafts: DraftSettings,
    pool_size: usize,
    kv_cache_reuse: bool,
    constrain_mode: ConstrainMode,
    repetition_guard: RepetitionGuard,
}

impl Default for LlamaBuilder {
    fn default() -> Self {
        Self {
            model: ModelChoice::Default,
            n_ctx: 2048,
            threads: None,
            n_gpu_layers: None,
            seed: 0,
            chat_template: ChatTemplate::Model,
            drafts: DraftSettings::default(),
            pool_size: 4,
            kv_cache_reuse: true,
            constrain_mode: ConstrainMode::GrammarFirst,
            repetition_guard: RepetitionGuard::default(),
        }
    }
}

impl LlamaBuilder {
    /// The GGUF file to load. Default: [`Llama::default_model`].
    #[must_use]
    pub fn model_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.model = ModelChoice::Path(path.into());
        self
    }

    /// A known model to load by name, from the model cache (see
    /// [`KNOWN_MODELS`](crate::KNOWN_MODELS)); replaces any earlier model choice.
    #[must_use]
    pub fn model_name(mut self, name: impl Into<String>) -> Self {
        self.model = ModelChoice::Name(name.into());
        self
    }

    /// Load what `$INSTRUCTOR_MODEL` names when [`build`](Self::build) runs (a known name or a
    /// path to a GGUF file), or the default model when it is unset; replaces any earlier
    /// model choice.
    #[must_use]
    pub fn model_from_env(mut self) -> Self {
        self.model = ModelChoice::Env;
        self
    }

    /// Context window in tokens (prompt + answer) of each generation, and of each sequence of
    /// a batch (see [`Llama`]'s "Many documents at once"). Default 2048.
    #[must_use]
    pub fn n_ctx(mut self, n_ctx: u32) -> Self {
        self.n_ctx = n_ctx;
        self
    }

    /// Threads per decode. Default: every available core.
    ///
    /// Decodes are serialised process-wide (one at a time, however many `Llama`s and threads),
    /// so using every core never oversubscribes the CPU. Lower it only to leave cores to other
    /// processes: ggml's threads spin at barriers, and a decode whose threads must share cores
    /// with other busy work slows 10–100×.
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// Layers to offload to the GPU (with the `cuda` feature). Default: all layers when built
    /// with `cuda`, none otherwise.
    #[must_use]
    pub fn n_gpu_layers(mut self, layers: u32) -> Self {
        self.n_gpu_layers = Some(layers);
        self
    }

    /// Base seed, mixed with each request's [`instructor_core::Sampling::seed`]; the same pair
    /// always gives the same samples. Ignored under greedy decoding. Default 0.
    #[must_use]
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = seed;
        self
    }

    /// The chat template. Default: the model's own ([`ChatTemplate::Model`]).
    #[must_use]
    pub fn chat_template(mut self, template: ChatTemplate) -> Self {
        self.chat_template = template;
        self
    }

    /// Prompt-lookup drafts for speculative decoding (default on).
    #[must_use]
    pub fn prompt_lookup(mut self, enabled: bool) -> Self {
        self.drafts.prompt_lookup = enabled;
        self
    }

    /// N-gram sizes prompt lookup tries, longest first. Default 3 down to 1.
    #[must_use]
    pub fn prompt_lookup_ngram(mut self, max: usize, min: usize) -> Self {
        self.drafts.ngram_max = max.max(1);
        self.drafts.ngram_min = min.clamp(1, self.drafts.ngram_max);
        self
    }

    /// Tokens a prompt-lookup draft proposes at once. Default 2.
    #[must_use]
    pub fn draft_len(mut self, tokens: usize) -> Self {
        self.drafts.draft_len = tokens;
        self
    }

    /// Schema drafts for speculative decoding: the rest of a grammar literal the output has
    /// started (default on).
    #[must_use]
    pub fn schema_drafts(mut self, enabled: bool) -> Self {
        self.drafts.schema_drafts = enabled;
        self
    }

    /// Idle contexts kept for KV-cache reuse. Default 4. Each holds an `n_ctx` KV cache (for
    /// SmolLM2-135M ~47 MB at 2048 tokens) plus llama.cpp's compute buffers; 0 keeps none and
    /// creates a context per generation.
    #[must_use]
    pub fn context_pool_size(mut self, contexts: usize) -> Self {
        self.pool_size = contexts;
        self
    }

    /// Whether a generation reuses the KV cache of the longest prompt prefix a pooled context
    /// already holds (default `true`). `false` evaluates every prompt from scratch while still
    /// pooling contexts: the cold latency a benchmark compares against.
    #[must_use]
    pub fn kv_cache_reuse(mut self, enabled: bool) -> Self {
        self.kv_cache_reuse = enabled;
        self
    }

    /// How grammars constrain tokens. Default [`ConstrainMode::GrammarFirst`]; the other mode
    /// exists for benchmarks.
    #[must_use]
    pub fn constrain_mode(mut self, mode: ConstrainMode) -> Self {
        self.constrain_mode = mode;
        self
    }

    /// The repetition guard: cuts the loops small models fall into (a list repeating an item,
    /// a string cycling through a few characters) and steers to what the grammar allows
    /// instead. Default: on, with [`RepetitionGuard::default`]'s thresholds;
    /// [`RepetitionGuard::off`] turns it off. It acts only on requests with a grammar, and
    /// reports each cut in the stream's [`TokenStream::loops_cut`] and the usage.
    #[must_use]
    pub fn repetition_guard(mut self, guard: RepetitionGuard) -> Self {
        self.repetition_guard = guard;
        self
    }

    /// Loads the model.
    ///
    /// # Errors
    /// [`LlmError::ModelLoad`] when the file is missing (naming `scripts/setup.sh`), is not a
    /// GGUF file, or llama.cpp cannot load it; [`LlmError::Backend`] when llama.cpp cannot
    /// start.
    pub fn build(self) -> Result<Llama, LlmError> {
        let Resolved { path, hint } = self.model.resolve()?;
        check_gguf(&path, &hint)?;
        let gpu_layers =
            self.n_gpu_layers
                .unwrap_or(if cfg!(feature = "cuda") { u32::MAX } else { 0 });
        let params = LlamaModelParams::default().with_n_gpu_layers(gpu_layers);
        let model = LlamaModel::load_from_file(backend()?, &path, &params)
            .map_err(|e| model_load(&path, e))?;
        let template = ResolvedTemplate::resolve(&model, &self.chat_template);
        let settings = ContextSettings {
            n_ctx: self.n_ctx.max(1),
            threads: self.threads.unwrap_or_else(default_threads),
            pool_size: self.pool_size,
            reuse: self.kv_cache_reuse,
        };
        let shared = Shared {
            pool: ContextPool::new(model, settings),
            answers: AnswerMemory::default(),
            template,
            drafts: self.drafts,
            constrain_mode: self.constrain_mode,
            seed: self.seed,
            path,
            repetition_guard: self.repetition_guard,
            first_bytes: std::sync::OnceLock::new(),
        };
        Ok(Llama {
            shared: std::sync::Arc::new(shared),
        })
    }
}

/// The resolved file, when it is there.
fn existing(resolved: Resolved) -> Result<PathBuf, LlmError> {
    if resolved.path.is_file() {
        Ok(resolved.path)
    } else {
        Err(model_missing(&resolved.path, &resolved.hint))
    }
}

/// Rejects anything but a readable GGUF file before llama.cpp sees it: llama.cpp's loader is
/// robust to most corruption, but a clear message beats its log, and a missing file trips a
/// debug assertion in llama-cpp-2.
fn check_gguf(path: &Path, hint: &SetupHint) -> Result<(), LlmError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(model_missing(path, hint))
        }
        Err(e) => return Err(model_unreadable(path, e)),
    };
    let mut magic = Vec::with_capacity(4);
    file.by_ref()
        .take(4)
        .read_to_end(&mut magic)
        .map_err(|e| model_unreadable(path, e))?;
    if magic != b"GGUF" {
        return Err(not_gguf(path, &magic));
    }
    Ok(())
}
