//! Nested types: an order with a customer and bounded line items, and the usage report.
use instructor_core::{Extractor, ResponseModel};
use instructor_llama::Llama;

/// A product line in an order.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct LineItem {
    /// The product's name, as written.
    product: String,
    /// How many were ordered.
    #[instructor(range(min = 1, max = 1000))]
    quantity: u32,
}

/// A customer's order.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct Order {
    /// Who placed the order.
    customer: String,
    /// What was ordered.
    #[instructor(items(min = 1, max = 10))]
    items: Vec<LineItem>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let llama = Llama::load_from_env()?;
    let text = "Maria ordered 3 notebooks and 12 pencils.";
    let done = Extractor::new(&llama).extract_with_report::<Order>(text)?;
    println!("{:#?}", done.value);
    let u = done.report.usage;
    println!(
        "attempts: {}, prompt tokens: {} ({} evaluated), completion tokens: {}, drafts accepted: {}/{}, {:.0} ms",
        done.report.attempts(),
        u.prompt_tokens,
        u.prompt_tokens_evaluated,
        u.completion_tokens,
        u.draft_tokens_accepted,
        u.draft_tokens,
        done.report.elapsed.as_secs_f64() * 1000.0
    );
    Ok(())
}
