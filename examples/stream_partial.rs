//! Partial streaming: print each snapshot of the value as tokens arrive.
use instructor_core::{ResponseModel, StreamEvent};
use instructor_llama::Llama;

/// A short profile of a person.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct Profile {
    /// Full name.
    name: String,
    /// Where they live.
    city: String,
    /// Their hobbies.
    hobbies: Vec<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let llama = Llama::load_from_env()?;
    let text = "Ana Lopez lives in Lisbon. She enjoys surfing, chess and baking.";
    for step in Profile::extract_stream(&llama, text) {
        match step? {
            StreamEvent::Partial(p) => println!("{p:?}"),
            StreamEvent::Retry(a) => println!("retrying: {}", a.error_messages().join("; ")),
            StreamEvent::Done(done) => println!("final: {:?}", done.value),
        }
    }
    Ok(())
}
