//! The models this crate knows by name, and where their files are found.
//!
//! This module owns the list of known models (name → file in the model cache), the model
//! cache's location, and turning what a user asked for (the default, a name, a path, or the
//! `INSTRUCTOR_MODEL` variable) into a file path plus the set-up hint a missing file needs. It
//! must not open or load files: `model.rs` does that. `scripts/setup.sh` installs the same
//! models under the same file names; `tests/catalog.rs` checks the two lists agree.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use instructor_core::LlmError;

use crate::error::{no_home, unknown_model};

/// A model `scripts/setup.sh --model NAME` installs into the model cache, loadable by name
/// ([`Llama::load_named`](crate::Llama::load_named)).
///
/// ```
/// let qwen = instructor_llama::known_model("qwen2.5-0.5b").expect("a known name");
/// assert_eq!(qwen.file, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KnownModel {
    /// The name users type: `Llama::load_named`, `INSTRUCTOR_MODEL`, `setup.sh --model`.
    pub name: &'static str,
    /// The GGUF file's name in the model cache.
    pub file: &'static str,
    /// What the model is, in a few words.
    pub description: &'static str,
    /// The file's sha256, lower-case hex, as `scripts/setup.sh` verifies it.
    pub sha256: &'static str,
    /// The file's size in bytes.
    pub size_bytes: u64,
}

/// Name of the default model ([`Llama::load_default`](crate::Llama::load_default)).
pub const DEFAULT_MODEL_NAME: &str = "smollm2-135m";

/// The environment variable the examples and the benchmark read to pick a model: a known
/// name (see [`KNOWN_MODELS`]) or a path to a GGUF file.
pub const MODEL_ENV: &str = "INSTRUCTOR_MODEL";

/// Every model known by name, the default first.
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: DEFAULT_MODEL_NAME,
        file: crate::model::DEFAULT_MODEL_FILE,
        description: "SmolLM2-135M-Instruct, Q4_1 (98 MB)",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size_bytes: 98_362_432,
    },
    KnownModel {
        name: "qwen2.5-0.5b",
        file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        description: "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (491 MB)",
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size_bytes: 491_400_064,
    },
];

/// The known model called `name` (exact, lower-case), if any.
pub fn known_model(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|m| m.name == name)
}

/// What a builder was asked to load.
#[derive(Debug, Clone, Default)]
pub(crate) enum ModelChoice {
    /// The default model in the model cache.
    #[default]
    Default,
    /// A file the user named.
    Path(PathBuf),
    /// A known model, by name.
    Name(String),
    /// `$INSTRUCTOR_MODEL` (a name or a path), else the default.
    Env,
}

/// What the user should do when the resolved file is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SetupHint {
    /// A known model: `scripts/setup.sh` (with `--model NAME` unless it is the default).
    Known(&'static KnownModel),
    /// A path the user gave: nothing to install, check the path.
    UserPath,
}

/// How an unknown name was given, for the wording of its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    /// As a model name.
    Name,
    /// As a model name or a path.
    NameOrPath,
    /// Through `$INSTRUCTOR_MODEL`.
    Env,
}

/// Where a choice leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) path: PathBuf,
    pub(crate) hint: SetupHint,
}

impl ModelChoice {
    /// Resolves against the process environment.
    pub(crate) fn resolve(&self) -> Result<Resolved, LlmError> {
        let env = std::env::var_os(MODEL_ENV);
        self.resolve_with(env.as_deref(), model_dir)
    }

    /// Resolves given the value of `INSTRUCTOR_MODEL` and a way to find the model cache, so
    /// tests need not touch the process environment.
    pub(crate) fn resolve_with(
        &self,
        env: Option<&OsStr>,
        cache: impl Fn() -> Result<PathBuf, LlmError>,
    ) -> Result<Resolved, LlmError> {
        match self {
            Self::Default => Ok(in_cache(&KNOWN_MODELS[0], cache()?)),
            Self::Path(path) => Ok(Resolved {
                path: path.clone(),
                hint: SetupHint::UserPath,
            }),
            Self::Name(name) => {
                let model = known_model(name).ok_or_else(|| unknown_model(name, Asked::Name))?;
                Ok(in_cache(model, cache()?))
            }
            Self::Env => match env.filter(|v| !v.is_empty()) {
                None => Self::Default.resolve_with(None, cache),
                Some(value) => name_or_path(value, Asked::Env)?.resolve_with(None, cache),
            },
        }
    }
}

/// A known name, else a path: anything with a path separator, a `.gguf` ending, or an
/// existing file. Any other bare word is taken for a misspelt name, so the error lists the
/// known names instead of reporting a missing file called `qwen`.
pub(crate) fn name_or_path(value: &OsStr, asked: Asked) -> Result<ModelChoice, LlmError> {
    let text = value.to_string_lossy();
    if known_model(&text).is_some() {
        return Ok(ModelChoice::Name(text.into_owned()));
    }
    let path = Path::new(value);
    let looks_like_path = path.components().count() > 1
        || text.to_ascii_lowercase().ends_with(".gguf")
        || path.is_file();
    if looks_like_path {
        Ok(ModelChoice::Path(path.to_path_buf()))
    } else {
        Err(unknown_model(&text, asked))
    }
}

fn in_cache(model: &'static KnownModel, dir: PathBuf) -> Resolved {
    Resolved {
        path: dir.join(model.file),
        hint: SetupHint::Known(model),
    }
}

/// `$INSTRUCTOR_MODEL_DIR`, else `${XDG_CACHE_HOME:-$HOME/.cache}/instructor-rs`.
pub(crate) fn model_dir() -> Result<PathBuf, LlmError> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("INSTRUCTOR_MODEL_DIR") {
        return Ok(dir);
    }
    let cache = var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|home| home.join(".cache")))
        .ok_or_else(no_home)?;
    Ok(cache.join("instructor-rs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> Result<PathBuf, LlmError> {
        Ok(PathBuf::from("/cache"))
    }

    fn resolve(choice: ModelChoice, env: Option<&str>) -> Result<Resolved, LlmError> {
        choice.resolve_with(env.map(OsStr::new), cache)
    }

    fn message(result: Result<Resolved, LlmError>) -> String {
        match result {
            Err(LlmError::ModelLoad { message: msg, .. }) => msg,
            other => panic!("expected ModelLoad, got {other:?}"),
        }
    }

    #[test]
    fn known_names_resolve_to_their_file_in_the_cache() {
        let qwen = resolve(ModelChoice::Name("qwen2.5-0.5b".into()), None).unwrap();
        assert_eq!(
            qwen.path,
            Path::new("/cache/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
        );
        let default = resolve(ModelChoice::Default, None).unwrap();
        assert_eq!(
            default,
            resolve(ModelChoice::Name(DEFAULT_MODEL_NAME.into()), None).unwrap()
        );
        assert_eq!(
            default.path,
            Path::new("/cache").join(crate::DEFAULT_MODEL_FILE)
        );
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let msg = message(resolve(ModelChoice::Name("qwen".into()), None));
        assert!(msg.contains("unknown model name `qwen`"), "{msg}");
        for m in KNOWN_MODELS {
            assert!(msg.contains(m.name), "{msg}");
        }
    }

    #[test]
    fn the_environment_variable_takes_a_name_or_a_path_and_defaults_when_unset() {
        let by_name = resolve(ModelChoice::Env, Some("qwen2.5-0.5b")).unwrap();
        assert_eq!(
            by_name,
            resolve(ModelChoice::Name("qwen2.5-0.5b".into()), None).unwrap()
        );
        for path in ["/models/x.gguf", "./x", "Model.GGUF"] {
            let got = resolve(ModelChoice::Env, Some(path)).unwrap();
            assert_eq!(got.path, Path::new(path));
            assert_eq!(got.hint, SetupHint::UserPath);
        }
        let unset = resolve(ModelChoice::Env, None).unwrap();
        assert_eq!(unset, resolve(ModelChoice::Default, None).unwrap());
        let empty = resolve(ModelChoice::Env, Some("")).unwrap();
        assert_eq!(empty, unset);
        let msg = message(resolve(ModelChoice::Env, Some("smollm")));
        assert!(msg.contains(MODEL_ENV), "{msg}");
        assert!(msg.contains("path to a .gguf file"), "{msg}");
    }

    #[test]
    fn names_and_files_are_unique() {
        for (i, a) in KNOWN_MODELS.iter().enumerate() {
            for b in &KNOWN_MODELS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.file, b.file);
            }
        }
        assert_eq!(KNOWN_MODELS[0].name, DEFAULT_MODEL_NAME);
    }
}
