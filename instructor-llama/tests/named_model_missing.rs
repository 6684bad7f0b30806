//! Loading models by name and through `INSTRUCTOR_MODEL` when they are not installed, in its
//! own test binary because it changes environment variables.

use instructor_core::LlmError;
use instructor_llama::{known_model, Llama, MODEL_ENV};

fn model_load_message<T: std::fmt::Debug>(result: Result<T, LlmError>) -> String {
    match result {
        Err(LlmError::ModelLoad { message: msg, .. }) => msg,
        other => panic!("expected ModelLoad, got {other:?}"),
    }
}

#[test]
fn missing_and_unknown_named_models_say_what_to_run() {
    let empty = std::env::temp_dir().join(format!("instructor-llama-named-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    std::env::set_var("INSTRUCTOR_MODEL_DIR", &empty);
    std::env::remove_var(MODEL_ENV);

    // A known name that is not installed names the set-up command for that model.
    let qwen = known_model("qwen2.5-0.5b").unwrap();
    let msg = model_load_message(Llama::load_named("qwen2.5-0.5b"));
    assert!(
        msg.contains("scripts/setup.sh --model qwen2.5-0.5b"),
        "{msg}"
    );
    assert!(
        msg.contains(&empty.join(qwen.file).display().to_string()),
        "{msg}"
    );
    assert_eq!(
        model_load_message(Llama::named_model("qwen2.5-0.5b")),
        msg,
        "the path lookup and the loader say the same"
    );

    // An unknown name lists the known ones.
    let msg = model_load_message(Llama::load_named("llama-7b"));
    assert!(msg.contains("unknown model name `llama-7b`"), "{msg}");
    assert!(
        msg.contains("qwen2.5-0.5b") && msg.contains("smollm2-135m"),
        "{msg}"
    );

    // INSTRUCTOR_MODEL takes a name ...
    std::env::set_var(MODEL_ENV, "qwen2.5-0.5b");
    let msg = model_load_message(Llama::load_from_env());
    assert!(
        msg.contains("scripts/setup.sh --model qwen2.5-0.5b"),
        "{msg}"
    );
    // ... or a path ...
    let path = empty.join("elsewhere.gguf");
    std::env::set_var(MODEL_ENV, &path);
    let msg = model_load_message(Llama::model_from_env());
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("check the path"), "{msg}");
    // ... and a misspelt name is not mistaken for a file.
    std::env::set_var(MODEL_ENV, "qwen");
    let msg = model_load_message(Llama::load_from_env());
    assert!(msg.contains("INSTRUCTOR_MODEL=\"qwen\""), "{msg}");
    assert!(msg.contains("qwen2.5-0.5b"), "{msg}");

    // Unset, it is the default model (missing here, so its own set-up hint).
    std::env::remove_var(MODEL_ENV);
    let msg = model_load_message(Llama::load_from_env());
    assert!(
        msg.contains("run `scripts/setup.sh` to download SmolLM2"),
        "{msg}"
    );
    std::fs::remove_dir_all(&empty).ok();
}
