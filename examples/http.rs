//! Extraction from an OpenAI-compatible server over HTTP, with the same derive and loop as the
//! local backend.
//!
//! Start llama-cpp-python's server on the default model with the project's venv (both come
//! from `scripts/setup.sh --server`), then run the example:
//!
//! ```sh
//! .venv-server/bin/python -m llama_cpp.server \
//!     --model ~/.cache/instructor-rs/SmolLM2-135M-Instruct.Q4_1.gguf \
//!     --host 127.0.0.1 --port 8080 --n_ctx 2048 --chat_format chatml &
//! cargo run --example http
//! ```
//!
//! `INSTRUCTOR_BASE_URL` points it at another server (default `http://localhost:8080/v1`);
//! for one other than llama-cpp-python's, pick its [`Constraint`] (see that type's table).
use std::process::ExitCode;

use instructor_core::{Extractor, ResponseModel};
use instructor_openai::{Constraint, OpenAi};

/// A person mentioned in the text.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct UserDetail {
    /// The person's first name.
    name: String,
    #[instructor(range(min = 0, max = 150))]
    age: u8,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Display, not Debug: the errors are worded for this terminal.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let base_url = std::env::var("INSTRUCTOR_BASE_URL")
        .unwrap_or_else(|_| instructor_openai::DEFAULT_BASE_URL.to_owned());
    let llm = OpenAi::builder()
        .base_url(base_url)
        // llama-cpp-python's server runs the type's GBNF grammar, as the local backend does.
        .constraint(Constraint::Grammar)
        .build()?;
    let done = Extractor::new(&llm)
        .max_tokens(64)
        .extract_with_report::<UserDetail>("Extract `Jason is 30 years old`")?;
    println!("{:?}", done.value);
    println!(
        "{} attempt(s), {} completion tokens, {:.2} s",
        done.report.attempts(),
        done.report.usage.completion_tokens,
        done.report.elapsed.as_secs_f64()
    );
    Ok(())
}
