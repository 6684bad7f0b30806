//! What one decode costs as the batch grows (1 token vs a token plus drafts), on the default
//! model: the figure that decides whether speculative drafts can pay on this machine.
//!
//! ```text
//! cargo run -p instructor-llama --example batch_cost
//! ```

use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads: i32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    let path = instructor_llama::Llama::default_model()?;
    let mut backend = LlamaBackend::init()?;
    backend.void_logs();
    let model = LlamaModel::load_from_file(&backend, &path, &LlamaModelParams::default())?;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(2048))
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = model.new_context(&backend, params)?;
    let text = "You are a precise information extraction engine. Extract the requested information from the user's message. Jason is 30 years old and lives in Paris.";
    let prompt = model.vocab().tokenize(text.as_bytes(), true, false);
    let mut batch = LlamaBatch::new(512, 1);
    batch.add_sequence(&prompt, 0, false)?;
    ctx.decode(&mut batch)?;
    let base = i32::try_from(prompt.len())?;
    println!("threads {threads}; prompt {} tokens", prompt.len());
    println!("| batch | median ms per decode | ms per token | vs batch 1 |");
    println!("|---:|---:|---:|---:|");
    let mut one = 0.0;
    for k in [1usize, 2, 3, 4, 6, 8, 16] {
        let mut times = Vec::new();
        for _ in 0..40 {
            batch.clear();
            for j in 0..k {
                batch.add(
                    prompt[j % prompt.len()],
                    base + i32::try_from(j)?,
                    &[0],
                    true,
                )?;
            }
            let t = Instant::now();
            ctx.decode(&mut batch)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            ctx.clear_kv_cache_seq(Some(0), Some(u32::try_from(base)?), None)?;
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        if k == 1 {
            one = median;
        }
        println!(
            "| {k} | {median:.2} | {:.2} | {:.2}× |",
            median / k as f64,
            median / one
        );
    }
    Ok(())
}
