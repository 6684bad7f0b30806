//! Runnable examples of instructor-rs, on the default model (SmolLM2-135M-Instruct) unless
//! `INSTRUCTOR_MODEL` names another (a known name such as `qwen2.5-0.5b`, or a GGUF path).
//!
//! Run one with `cargo run --example quickstart` after `scripts/setup.sh`. Each file is meant
//! to be copied: it shows one feature end to end and prints what it got.
