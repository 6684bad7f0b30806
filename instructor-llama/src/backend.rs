//! Process-wide llama.cpp state: the backend, log routing, and the engine lock.
//!
//! llama.cpp keeps global state that Rust must not initialise twice or touch from two threads at
//! once. This module owns that state and nothing else; models and contexts live in `model.rs`
//! and `pool.rs`.

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use instructor_core::LlmError;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::LogOptions;

/// The llama.cpp backend, initialised on first use and never torn down.
///
/// `LlamaBackend::init` fails the second time it is called in a process, so every `Llama` shares
/// this one. Logs are routed to `tracing` *before* init, because init itself logs (~2 300 lines on
/// a model load) and llama.cpp's default sink is stderr.
pub(crate) fn backend() -> Result<&'static LlamaBackend, LlmError> {
    // The error is shared, not formatted, so every caller gets it as its `source()`.
    static BACKEND: OnceLock<Result<LlamaBackend, std::sync::Arc<llama_cpp_2::LlamaCppError>>> =
        OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(LogOptions::default());
            LlamaBackend::init().map_err(std::sync::Arc::new)
        })
        .as_ref()
        .map_err(|e| {
            LlmError::backend("could not initialise llama.cpp").caused_by(std::sync::Arc::clone(e))
        })
}

/// Serialises every `llama_decode` and every context creation in the process.
///
/// Why one lock for the whole process:
/// - CPU decoding is compute-bound and each context already uses every core (`threads` defaults
///   to the number of available cores). Two decodes at once would run 2× the threads on the same
///   cores; ggml's workers spin at barriers, so an oversubscribed decode slows 10–100×
///   (measured on 2 cores: 7 ms → 109 ms per token). Taking turns loses nothing.
/// - `llama_new_context_with_model` mutates the model (llama-cpp-2 marks concurrent
///   `new_context` calls unsound), so creating a context must not overlap another creation or a
///   decode that reads the same model.
///
/// Tokenising, grammar checks and sampling run outside the lock, so concurrent generations still
/// overlap their CPU-side work with each other's decodes.
pub(crate) fn engine_lock() -> MutexGuard<'static, ()> {
    static ENGINE: Mutex<()> = Mutex::new(());
    // The guarded data is `()`: a panic while holding the lock leaves nothing inconsistent.
    ENGINE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Number of threads a context uses when the builder does not say: every available core.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
