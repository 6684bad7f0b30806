//! Mapping llama-cpp-2's errors onto [`instructor_core::LlmError`].
//!
//! This module owns the wording of every error this crate returns, so each message tells the
//! person at the terminal what to do next. It must not decide *when* an error happens.

use std::path::Path;

use instructor_core::LlmError;

use crate::catalog::{Asked, SetupHint, DEFAULT_MODEL_NAME, KNOWN_MODELS, MODEL_ENV};
use llama_cpp_2::{DecodeError, GrammarError, LlamaContextLoadError, LlamaModelLoadError};

/// The command that installs the models.
pub(crate) const SETUP_COMMAND: &str = "scripts/setup.sh";

pub(crate) fn model_missing(path: &Path, hint: &SetupHint) -> LlmError {
    let hint = match hint {
        SetupHint::Known(model) if model.name == DEFAULT_MODEL_NAME => format!(
            "run `{SETUP_COMMAND}` to download {}, or set INSTRUCTOR_MODEL_DIR to the folder \
             that holds it",
            model.description
        ),
        SetupHint::Known(model) => format!(
            "run `{SETUP_COMMAND} --model {}` to download {}, or set INSTRUCTOR_MODEL_DIR to \
             the folder that holds it",
            model.name, model.description
        ),
        SetupHint::UserPath => {
            format!("check the path (for the default model, run `{SETUP_COMMAND}`)")
        }
    };
    LlmError::model_load(format!("model file {} not found; {hint}", path.display()))
}

pub(crate) fn unknown_model(name: &str, asked: Asked) -> LlmError {
    let known: Vec<String> = KNOWN_MODELS
        .iter()
        .map(|m| format!("`{}` ({})", m.name, m.description))
        .collect();
    let what = match asked {
        Asked::Name => format!("unknown model name `{name}`"),
        Asked::NameOrPath => {
            format!("`{name}` is neither a known model name nor a path to a .gguf file")
        }
        Asked::Env => {
            format!("{MODEL_ENV}={name:?} is neither a known model name nor a path to a .gguf file")
        }
    };
    LlmError::model_load(format!(
        "{what}; known names: {} (install one with `{SETUP_COMMAND} --model NAME`)",
        known.join(", ")
    ))
}

pub(crate) fn model_unreadable(path: &Path, err: std::io::Error) -> LlmError {
    LlmError::model_load(format!(
        "could not read model file {} (re-run `{SETUP_COMMAND}` for the default model)",
        path.display()
    ))
    .caused_by(err)
}

pub(crate) fn not_gguf(path: &Path, magic: &[u8]) -> LlmError {
    LlmError::model_load(format!(
        "{} is not a GGUF model (it starts with {:?}, a GGUF file starts with \"GGUF\"); \
         re-run `{SETUP_COMMAND}` or point model_path at a .gguf file",
        path.display(),
        String::from_utf8_lossy(magic)
    ))
}

pub(crate) fn no_home() -> LlmError {
    LlmError::model_load(format!(
        "cannot locate the model cache: neither INSTRUCTOR_MODEL_DIR, XDG_CACHE_HOME nor HOME is \
         set; set INSTRUCTOR_MODEL_DIR and run `{SETUP_COMMAND}`"
    ))
}

pub(crate) fn model_load(path: &Path, err: LlamaModelLoadError) -> LlmError {
    LlmError::model_load(format!(
        "llama.cpp could not load {} (the file may be truncated, corrupt or of an \
         unsupported architecture; re-run `{SETUP_COMMAND}` for the default model, and enable \
         `tracing` at debug level for llama.cpp's own log)",
        path.display()
    ))
    .caused_by(err)
}

pub(crate) fn context_load(err: LlamaContextLoadError, n_ctx: u32) -> LlmError {
    LlmError::backend(format!(
        "llama.cpp could not create a context of {n_ctx} tokens (out of memory? lower n_ctx)"
    ))
    .caused_by(err)
}

pub(crate) fn decode(err: DecodeError) -> LlmError {
    LlmError::backend("llama.cpp failed to evaluate tokens").caused_by(err)
}

pub(crate) fn grammar_error(err: &GrammarError) -> LlmError {
    let why = match err {
        GrammarError::RootNotFound => "it has no `root` rule".to_owned(),
        GrammarError::GrammarNullBytes => "it contains a NUL byte".to_owned(),
        GrammarError::NullGrammar => "llama.cpp could not parse it (syntax error, undefined rule \
             or left recursion; its log has the details)"
            .to_owned(),
        other => other.to_string(),
    };
    LlmError::Grammar(format!("invalid GBNF grammar: {why}"))
}
