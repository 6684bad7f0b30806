//! Figures and tables: per-side series of outcomes, their per-case summaries (median, worst,
//! validity, correctness), the ratios between sides, and the Markdown that prints them.

use serde_json::{json, Value};

use crate::cases::{matches, Case, Kind, Outcome};

/// Every outcome of one side (or one rung of the ladder), in run order.
pub struct Series {
    pub label: String,
    runs: Vec<(String, Outcome)>,
}

impl Series {
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, case: &str, outcome: Outcome) {
        self.runs.push((case.to_owned(), outcome));
    }

    fn of<'a>(&'a self, case: &'a str) -> impl Iterator<Item = &'a Outcome> + 'a {
        self.runs
            .iter()
            .filter(move |(c, _)| c == case)
            .map(|(_, o)| o)
    }

    /// Median generated tokens per attempt on `case` (what the unconstrained rung generates).
    pub fn tokens_per_attempt(&self, case: &str) -> u32 {
        let per: Vec<f64> = self
            .of(case)
            .map(|o| o.completion_tokens as f64 / o.attempts.max(1) as f64)
            .collect();
        median(&per).round() as u32
    }
}

/// One side's figures on one case.
struct Summary {
    runs: usize,
    median_s: f64,
    worst_s: f64,
    tokens: f64,
    tokens_per_s: f64,
    attempts: f64,
    valid: usize,
    correct: usize,
    /// Tokens and seconds of generation proper (our side only), summed.
    generation: Option<(u64, f64)>,
    drafts: (u64, u64),
    prompt: (u64, u64),
}

fn summarise(outcomes: &[&Outcome], case: &Case, kind: &Kind) -> Summary {
    let secs: Vec<f64> = outcomes.iter().map(|o| o.seconds).collect();
    let valid = |o: &Outcome| {
        o.output
            .as_ref()
            .is_some_and(|v| (kind.check)(v).is_empty())
    };
    let mut generation = None;
    let mut drafts = (0, 0);
    let mut prompt = (0, 0);
    for u in outcomes.iter().filter_map(|o| o.usage) {
        let g = generation.get_or_insert((0u64, 0f64));
        g.0 += u.completion_tokens;
        g.1 += u.generation_time.as_secs_f64();
        drafts.0 += u.draft_tokens;
        drafts.1 += u.draft_tokens_accepted;
        prompt.0 += u.prompt_tokens;
        prompt.1 += u.prompt_tokens_evaluated;
    }
    Summary {
        runs: outcomes.len(),
        median_s: median(&secs),
        worst_s: secs.iter().copied().fold(f64::NAN, f64::max),
        tokens: median(
            &outcomes
                .iter()
                .map(|o| o.completion_tokens as f64)
                .collect::<Vec<_>>(),
        ),
        tokens_per_s: median(
            &outcomes
                .iter()
                .map(|o| o.completion_tokens as f64 / o.seconds)
                .collect::<Vec<_>>(),
        ),
        attempts: median(
            &outcomes
                .iter()
                .map(|o| o.attempts as f64)
                .collect::<Vec<_>>(),
        ),
        valid: outcomes.iter().filter(|o| valid(o)).count(),
        correct: outcomes
            .iter()
            .filter(|o| {
                valid(o)
                    && o.output
                        .as_ref()
                        .is_some_and(|v| matches(&case.expected, v))
            })
            .count(),
        generation,
        drafts,
        prompt,
    }
}

/// Summaries of several sides over the same cases.
pub struct Table<'a> {
    cases: &'a [(Case, &'a Kind)],
    labels: Vec<String>,
    /// `rows[side][case]`; `None` where the side did not run the case.
    rows: Vec<Vec<Option<Summary>>>,
    /// The first `ours` sides are ours (variants); the rest are peers.
    ours: usize,
}

impl<'a> Table<'a> {
    pub fn new(cases: &'a [(Case, &'a Kind)], sides: &[Series]) -> Self {
        let rows = sides
            .iter()
            .map(|s| {
                cases
                    .iter()
                    .map(|(case, kind)| {
                        let outcomes: Vec<&Outcome> = s.of(&case.id).collect();
                        (!outcomes.is_empty()).then(|| summarise(&outcomes, case, kind))
                    })
                    .collect()
            })
            .collect();
        Self {
            cases,
            labels: sides.iter().map(|s| s.label.clone()).collect(),
            rows,
            ours: 1,
        }
    }

    /// Says how many of the first sides are ours: latency ratios compare the first of them with
    /// each peer, not our variants with each other.
    pub fn ours(mut self, n: usize) -> Self {
        self.ours = n.max(1);
        self
    }

    pub fn print_per_case(&self) {
        println!("## Per case\n");
        println!("Latency is the whole extraction (retries included), wall clock; tok/s is generated tokens over that latency; valid and correct count runs.\n");
        println!("| case | shape | side | median s | worst s | tokens | tok/s | attempts | schema-valid | correct |");
        println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for (c, (case, _)) in self.cases.iter().enumerate() {
            for (s, label) in self.labels.iter().enumerate() {
                let Some(x) = &self.rows[s][c] else { continue };
                println!(
                    "| {} | {} | {} | {:.3} | {:.3} | {:.0} | {:.1} | {:.0} | {}/{} | {}/{} |",
                    case.id,
                    case.shape,
                    label,
                    x.median_s,
                    x.worst_s,
                    x.tokens,
                    x.tokens_per_s,
                    x.attempts,
                    x.valid,
                    x.runs,
                    x.correct,
                    x.runs
                );
            }
        }
        println!();
    }

    pub fn print_overall(&self) {
        println!("## Overall\n");
        println!("| side | geo-mean of case medians (s) | worst run (s) | median tok/s | mean attempts | schema-valid runs | correct runs | cases correct in every run |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (s, label) in self.labels.iter().enumerate() {
            let xs: Vec<&Summary> = self.rows[s].iter().flatten().collect();
            let runs: usize = xs.iter().map(|x| x.runs).sum();
            let valid: usize = xs.iter().map(|x| x.valid).sum();
            let correct: usize = xs.iter().map(|x| x.correct).sum();
            println!(
                "| {label} | {:.3} | {:.3} | {:.1} | {:.2} | {valid}/{runs} ({:.0}%) | {correct}/{runs} ({:.0}%) | {}/{} |",
                geo_mean(xs.iter().map(|x| x.median_s)),
                xs.iter().map(|x| x.worst_s).fold(f64::NAN, f64::max),
                median(&xs.iter().map(|x| x.tokens_per_s).collect::<Vec<_>>()),
                xs.iter().map(|x| x.attempts).sum::<f64>() / xs.len().max(1) as f64,
                100.0 * valid as f64 / runs.max(1) as f64,
                100.0 * correct as f64 / runs.max(1) as f64,
                xs.iter().filter(|x| x.correct == x.runs).count(),
                xs.len(),
            );
        }
        println!();
        for s in self.ours..self.labels.len() {
            let ratio = geo_mean(self.paired(0, s).map(|(a, b)| a / b));
            println!(
                "- ours/peer median latency, geometric mean over cases: **{ratio:.3}** → **{:.1}× faster than {}**",
                1.0 / ratio,
                self.labels[s]
            );
        }
        println!();
    }

    pub fn print_ladder(&self) {
        println!("## Our ladder (same cases, same rounds)\n");
        println!("Each rung adds one technique to the one above. Without a grammar the model may stop sooner than the cap, so the first rung's latency is not comparable; its generation tok/s is the speed limit.\n");
        println!("| rung | geo-mean of case medians (s) | vs constrained | generation tok/s | drafts accepted | prompt tokens evaluated | schema-valid runs |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        let base = 1;
        for (s, label) in self.labels.iter().enumerate() {
            let xs: Vec<&Summary> = self.rows[s].iter().flatten().collect();
            let (tokens, secs) = xs
                .iter()
                .filter_map(|x| x.generation)
                .fold((0, 0.0), |a, g| (a.0 + g.0, a.1 + g.1));
            let drafts = xs
                .iter()
                .fold((0, 0), |a, x| (a.0 + x.drafts.0, a.1 + x.drafts.1));
            let prompt = xs
                .iter()
                .fold((0, 0), |a, x| (a.0 + x.prompt.0, a.1 + x.prompt.1));
            let runs: usize = xs.iter().map(|x| x.runs).sum();
            let valid: usize = xs.iter().map(|x| x.valid).sum();
            let vs = geo_mean(self.paired(s, base).map(|(a, b)| b / a));
            println!(
                "| {label} | {:.3} | {vs:.2}× | {:.1} | {} | {}/{} ({:.0}%) | {} |",
                geo_mean(xs.iter().map(|x| x.median_s)),
                tokens as f64 / secs,
                if drafts.0 == 0 {
                    "—".to_owned()
                } else {
                    format!("{}/{}", drafts.1, drafts.0)
                },
                prompt.1,
                prompt.0,
                100.0 * prompt.1 as f64 / prompt.0.max(1) as f64,
                if s == 0 {
                    "—".to_owned()
                } else {
                    format!("{valid}/{runs}")
                },
            );
        }
        println!();
        print!("| case |");
        for l in &self.labels {
            print!(" {l} |");
        }
        println!();
        println!("|---|{}", "---:|".repeat(self.labels.len()));
        for (c, (case, _)) in self.cases.iter().enumerate() {
            print!("| {} |", case.id);
            for s in 0..self.labels.len() {
                match &self.rows[s][c] {
                    Some(x) => print!(" {:.3} |", x.median_s),
                    None => print!(" — |"),
                }
            }
            println!();
        }
        println!();
    }

    /// Per-case medians of side `a` and side `b` where both ran the case.
    fn paired(&self, a: usize, b: usize) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.rows[a]
            .iter()
            .zip(&self.rows[b])
            .filter_map(|(x, y)| Some((x.as_ref()?.median_s, y.as_ref()?.median_s)))
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn geo_mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs
        .filter(|x| x.is_finite() && *x > 0.0)
        .fold((0.0, 0usize), |(s, n), x| (s + x.ln(), n + 1));
    if n == 0 {
        f64::NAN
    } else {
        (sum / n as f64).exp()
    }
}

/// The CPU model and how many cores this process may use.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    format!("{cpu}, {cores} cores available")
}

/// Every outcome as JSON, for inspection after the run.
pub fn dump(sides: &[Series]) -> String {
    let rows: Vec<Value> = sides
        .iter()
        .flat_map(|s| {
            s.runs.iter().map(|(case, o)| {
                json!({
                    "side": s.label, "case": case, "seconds": o.seconds,
                    "attempts": o.attempts, "completion_tokens": o.completion_tokens,
                    "prompt_tokens": o.prompt_tokens, "output": o.output,
                    "error": o.error, "raw": o.raw,
                })
            })
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_default()
}
