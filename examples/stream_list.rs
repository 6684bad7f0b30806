//! List streaming: each item of a list as soon as it is complete and valid.
use std::time::Instant;

use instructor_core::ResponseModel;
use instructor_llama::Llama;

/// A city and its country.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct City {
    /// The city's name.
    name: String,
    /// The country it is in.
    country: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let llama = Llama::load_from_env()?;
    let text = "List the cities: Paris is in France, Berlin is in Germany, and Rome is in Italy.";
    let start = Instant::now();
    for city in City::extract_iter(&llama, text) {
        let city = city?;
        println!(
            "{:>6.0} ms  {city:?}",
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
