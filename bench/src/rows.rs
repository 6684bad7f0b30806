//! The throughput tables' rows: documents, validity and documents per second of one side, and
//! the table both throughput binaries print (`throughput`, `http_throughput`).

use std::time::Duration;

use crate::cases::Outcome;

/// One side of a throughput table.
pub struct Row {
    pub label: String,
    pub documents: usize,
    pub valid: usize,
    pub tokens: u64,
    pub elapsed: Duration,
    pub peak: usize,
}

impl Row {
    /// The row of `outcomes`, which took `elapsed` with at most `peak` documents in flight.
    pub fn new(label: String, outcomes: &[Outcome], elapsed: Duration, peak: usize) -> Self {
        Self {
            label,
            documents: outcomes.len(),
            valid: outcomes.iter().filter(|o| o.output.is_some()).count(),
            tokens: outcomes.iter().map(|o| o.completion_tokens).sum(),
            elapsed,
            peak,
        }
    }

    fn per_second(&self, n: f64) -> f64 {
        n / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Documents per second of wall time.
    pub fn docs_per_second(&self) -> f64 {
        self.per_second(self.documents as f64)
    }
}

/// Prints `rows` as a Markdown table, each compared with the first (`first` names it).
pub fn print(side: &str, first: &str, rows: &[Row]) {
    let base = rows.first().map_or(1.0, Row::docs_per_second);
    println!("| {side} | documents | schema-valid | wall s | documents/s | generated tok/s | peak in flight | vs {first} |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.0} | {} | {:.2}× |",
            row.label,
            row.documents,
            row.valid,
            row.elapsed.as_secs_f64(),
            row.docs_per_second(),
            row.per_second(row.tokens as f64),
            row.peak,
            row.docs_per_second() / base,
        );
    }
}
