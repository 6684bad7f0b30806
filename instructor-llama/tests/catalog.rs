//! The known models of `catalog.rs` against `scripts/setup.sh`, which installs them: a name
//! the library resolves must be one the script installs, under the same file name and hash.

use instructor_llama::{KNOWN_MODELS, MODEL_ENV};

#[test]
fn setup_script_installs_every_known_model_under_the_same_file_and_hash() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/setup.sh");
    let text = std::fs::read_to_string(script).unwrap_or_else(|e| panic!("{script}: {e}"));
    for m in KNOWN_MODELS {
        let arm = format!("    {})\n", m.name);
        let start = text
            .find(&arm)
            .unwrap_or_else(|| panic!("setup.sh has no model_info arm for {}", m.name));
        let block = &text[start..];
        let block = &block[..block.find(";;").unwrap_or(block.len())];
        assert!(
            block.contains(&format!("GGUF_NAME=\"{}\"", m.file)),
            "{block}"
        );
        assert!(
            block.contains(&format!("GGUF_SHA256=\"{}\"", m.sha256)),
            "{block}"
        );
        assert!(
            block.contains(&format!("GGUF_SIZE={}", m.size_bytes)),
            "{block}"
        );
        assert!(text.contains(m.name), "usage line names {}", m.name);
    }
    assert!(!MODEL_ENV.is_empty());
}
