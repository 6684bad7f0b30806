//! Classification: a unit enum constrains the answer to one of its labels.
use instructor_core::ResponseModel;
use instructor_llama::Llama;

/// The overall feeling of a review.
#[derive(Debug, serde::Deserialize, ResponseModel)]
#[serde(rename_all = "lowercase")]
enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

/// A classified review.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct Review {
    /// The sentiment the review expresses.
    sentiment: Sentiment,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let llama = Llama::load_from_env()?;
    for text in [
        "I love this phone, the battery lasts forever!",
        "Terrible service, I want my money back.",
        "The package arrived on Tuesday.",
    ] {
        let review = Review::extract(
            &llama,
            format!("Classify the sentiment of this review: {text}"),
        )?;
        println!("{:<50} -> {:?}", text, review.sentiment);
    }
    Ok(())
}
