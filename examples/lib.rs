//! Runnable examples of instructor-rs on the default model (SmolLM2-135M-Instruct).
//!
//! Run one with `cargo run --example quickstart` after `scripts/setup.sh`. Each file is meant
//! to be copied: it shows one feature end to end and prints what it got.
