//! The default-model lookup, in its own test binary because it changes environment variables.

use instructor_core::LlmError;
use instructor_llama::{Llama, DEFAULT_MODEL_FILE};

#[test]
fn a_missing_default_model_names_the_setup_script_and_the_lookup_order_holds() {
    let empty = std::env::temp_dir().join(format!("instructor-llama-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();

    // INSTRUCTOR_MODEL_DIR wins.
    std::env::set_var("INSTRUCTOR_MODEL_DIR", &empty);
    match Llama::load_default() {
        Err(LlmError::ModelLoad { message: msg, .. }) => {
            assert!(msg.contains("scripts/setup.sh"), "{msg}");
            assert!(
                msg.contains(&empty.join(DEFAULT_MODEL_FILE).display().to_string()),
                "{msg}"
            );
        }
        other => panic!("expected ModelLoad, got {other:?}"),
    }
    assert!(matches!(
        Llama::default_model(),
        Err(LlmError::ModelLoad { .. })
    ));

    // Then $XDG_CACHE_HOME/instructor-rs.
    std::env::remove_var("INSTRUCTOR_MODEL_DIR");
    std::env::set_var("XDG_CACHE_HOME", &empty);
    match Llama::default_model() {
        Err(LlmError::ModelLoad { message: msg, .. }) => {
            let expected = empty.join("instructor-rs").join(DEFAULT_MODEL_FILE);
            assert!(msg.contains(&expected.display().to_string()), "{msg}");
        }
        other => panic!("expected ModelLoad, got {other:?}"),
    }
    std::fs::remove_dir_all(&empty).ok();
}
