//! Decode throughput of the llama.cpp backend, each technique against the same prompts.
//!
//! ```text
//! cargo run -p instructor-llama --example decode_bench            # 5 runs
//! cargo run -p instructor-llama --example decode_bench -- 9       # 9 runs
//! cargo run -p instructor-llama --example decode_bench -- 5 --model qwen2.5-0.5b
//! ```
//!
//! Every configuration decodes the same extraction prompts greedily; runs interleave the
//! configurations so background load hits them alike, and the table shows medians. The model:
//! `--model NAME|PATH`, else `$INSTRUCTOR_MODEL`, else the default model (`scripts/setup.sh`).

use std::time::{Duration, Instant};

use instructor_core::{Completion, Llm, LlmError, Message, Request};
use instructor_llama::{ConstrainMode, Llama, LlamaBuilder, RepetitionGuard};

const GRAMMAR: &str = r#"root ::= "{\"name\":\"" name "\",\"age\":" age ",\"city\":\"" name "\",\"employed\":" bool "}"
name ::= [A-Za-z] [A-Za-z .'-]*
age ::= [0-9] | [1-9] [0-9]
bool ::= "true" | "false""#;

const PEOPLE: [&str; 6] = [
    "Jason Miller is 30 years old, lives in Paris and works as a baker.",
    "Maria Lopez (41) moved to Madrid last year; she is currently unemployed.",
    "Ken Watanabe, aged 7, is a pupil in Osaka.",
    "Our new hire Anna Schmidt, 25, will join the Berlin office on Monday.",
    "Retired at 68, Peter O'Brien spends his days fishing near Dublin.",
    "Lena Novak is a 33-year-old nurse working in Prague.",
];

struct Config {
    name: &'static str,
    grammar: bool,
    builder: fn() -> LlamaBuilder,
}

fn no_drafts() -> LlamaBuilder {
    Llama::builder().prompt_lookup(false).schema_drafts(false)
}

fn configs() -> Vec<Config> {
    vec![
        Config {
            name: "unconstrained greedy",
            grammar: false,
            builder: no_drafts,
        },
        Config {
            name: "constrained, grammar-first",
            grammar: true,
            builder: no_drafts,
        },
        Config {
            name: "constrained, full-vocab mask",
            grammar: true,
            builder: || no_drafts().constrain_mode(ConstrainMode::FullVocab),
        },
        Config {
            name: "+ prompt lookup (draft 2)",
            grammar: true,
            builder: || no_drafts().prompt_lookup(true),
        },
        Config {
            name: "+ prompt lookup (draft 4)",
            grammar: true,
            builder: || no_drafts().prompt_lookup(true).draft_len(4),
        },
        Config {
            name: "+ schema drafts",
            grammar: true,
            builder: || no_drafts().schema_drafts(true),
        },
        Config {
            name: "+ both (default)",
            grammar: true,
            builder: Llama::builder,
        },
        Config {
            name: "grammar-first, guard off",
            grammar: true,
            builder: || no_drafts().repetition_guard(RepetitionGuard::off()),
        },
    ]
}

fn messages(text: &str) -> Vec<Message> {
    vec![
        Message::system(
            "Extract the person as JSON with keys name, age, city and employed (true or false).",
        ),
        Message::user(text),
    ]
}

fn request<'a>(messages: &'a [Message], grammar: bool) -> Request<'a> {
    let request = Request::new(messages).max_tokens(64);
    if grammar {
        request.grammar(GRAMMAR)
    } else {
        request
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    tokens: u64,
    time: Duration,
    drafted: u64,
    accepted: u64,
}

impl Tally {
    fn add(&mut self, c: &Completion) {
        self.tokens += c.usage.completion_tokens;
        self.time += c.usage.generation_time;
        self.drafted += c.usage.draft_tokens;
        self.accepted += c.usage.draft_tokens_accepted;
    }
    fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.time.as_secs_f64().max(1e-9)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() -> Result<(), LlmError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let path = match args.iter().position(|a| a == "--model") {
        Some(i) => Llama::find_model(args.get(i + 1).map_or("", String::as_str))?,
        None => Llama::model_from_env()?,
    };
    let configs = configs();
    let models = configs
        .iter()
        .map(|c| (c.builder)().model_path(&path).build())
        .collect::<Result<Vec<_>, _>>()?;
    let conversations: Vec<Vec<Message>> = PEOPLE.iter().map(|p| messages(p)).collect();
    println!(
        "model: {}; load average before: {}; runs: {runs}",
        path.display(),
        load_average()
    );

    // Warm up every model (page in weights, create the pooled context).
    for (c, m) in configs.iter().zip(&models) {
        m.complete(&request(&conversations[0], c.grammar))?;
    }

    let mut per_config: Vec<Vec<Tally>> = vec![Vec::new(); configs.len()];
    let mut reference: Vec<Option<Vec<String>>> = vec![None; configs.len()];
    for _ in 0..runs {
        for (i, (c, m)) in configs.iter().zip(&models).enumerate() {
            let mut tally = Tally::default();
            let mut texts = Vec::new();
            for conv in &conversations {
                let done = m.complete(&request(conv, c.grammar))?;
                tally.add(&done);
                texts.push(done.text);
            }
            reference[i].get_or_insert(texts);
            per_config[i].push(tally);
        }
    }

    let base = median(per_config[0].iter().map(Tally::tokens_per_second).collect());
    let constrained_texts = reference[1].clone().unwrap_or_default();
    println!(
        "\n{:<30} {:>9} {:>8} {:>14} {:>10}",
        "configuration", "tokens/s", "ratio", "drafts acc/all", "same text"
    );
    for (i, c) in configs.iter().enumerate() {
        let tps = median(per_config[i].iter().map(Tally::tokens_per_second).collect());
        let t = per_config[i][0];
        let drafts = if t.drafted > 0 {
            format!("{}/{}", t.accepted, t.drafted)
        } else {
            "-".into()
        };
        let same = if c.grammar {
            if reference[i].as_ref() == Some(&constrained_texts) {
                "yes"
            } else {
                "NO"
            }
        } else {
            "n/a"
        };
        println!(
            "{:<30} {:>9.1} {:>7.2}x {:>14} {:>10}",
            c.name,
            tps,
            tps / base,
            drafts,
            same
        );
    }

    // The guard's own work per token, replayed on the constrained answers in token-sized
    // pieces (the row "guard off" above shows the same end to end, within the noise).
    let docs: Vec<&str> = constrained_texts.iter().map(String::as_str).collect();
    let mut costs: Vec<f64> = (0..runs.max(3))
        .map(|_| {
            let (time, pieces) = instructor_llama::__private::guard_cost(&docs, 4);
            time.as_secs_f64() * 1e9 / pieces.max(1) as f64
        })
        .collect();
    costs.sort_by(f64::total_cmp);
    println!(
        "\nrepetition guard: {:.0} ns per token (median of {} replays of the constrained answers in 4-byte pieces)",
        costs[costs.len() / 2],
        costs.len()
    );

    println!(
        "\nretry-shaped second call (constrained), median ms per call\n{:<30} {:>9} {:>9} {:>8} {:>9} {:>9} {:>7} {:>9}",
        "configuration", "KV reuse", "cold", "ratio", "eval warm", "eval cold", "prompt", "drafts"
    );
    retry_benchmark(configs[1].name, &models[1], &conversations, runs)?;
    retry_benchmark(configs[6].name, &models[6], &conversations, runs)?;
    println!("\nload average after: {}", load_average());
    Ok(())
}

/// A retry re-sends the conversation plus the failed answer and the errors: with KV reuse only
/// the new tail is evaluated, and prompt lookup can copy the previous answer.
fn retry_benchmark(
    name: &str,
    llm: &Llama,
    conversations: &[Vec<Message>],
    runs: usize,
) -> Result<(), LlmError> {
    let mut reused = Vec::new();
    let mut cold = Vec::new();
    let (mut prompt, mut evaluated_warm, mut evaluated_cold) = (0, 0, 0);
    let (mut drafted, mut accepted) = (0, 0);
    for _ in 0..runs {
        for (i, conv) in conversations.iter().enumerate() {
            let first = llm.complete(&request(conv, true))?;
            let mut retry = conv.clone();
            retry.push(Message::assistant(first.text.clone()));
            retry.push(Message::user("age: must be at least 18. Fix the JSON."));

            let started = Instant::now();
            let warm = llm.complete(&request(&retry, true))?;
            reused.push(started.elapsed().as_secs_f64() * 1e3);

            // Same retry after an unrelated call has taken over the cached context.
            let other = &conversations[(i + 1) % conversations.len()];
            llm.complete(&request(&[Message::user(other[1].content.clone())], true))?;
            let started = Instant::now();
            let fresh = llm.complete(&request(&retry, true))?;
            cold.push(started.elapsed().as_secs_f64() * 1e3);

            prompt += warm.usage.prompt_tokens;
            evaluated_warm += warm.usage.prompt_tokens_evaluated;
            evaluated_cold += fresh.usage.prompt_tokens_evaluated;
            drafted += warm.usage.draft_tokens;
            accepted += warm.usage.draft_tokens_accepted;
        }
    }
    let (warm, cold) = (median(reused), median(cold));
    println!(
        "{name:<30} {warm:>9.1} {cold:>9.1} {:>7.2}x {:>9} {:>9} {:>7} {:>9}",
        cold / warm,
        evaluated_warm,
        evaluated_cold,
        prompt,
        if drafted > 0 {
            format!("{accepted}/{drafted}")
        } else {
            "-".into()
        },
    );
    Ok(())
}
