//! Awaited extraction on a tokio runtime (feature `async`): one value, the snapshots of
//! another as they are written, and many documents at once. The model decodes on threads of
//! its own, so the runtime's threads stay free for the rest of the service.
//!
//! ```sh
//! cargo run --example async_extract
//! ```
//!
//! The same calls work on an `instructor_openai::OpenAi` client (built with its `async`
//! feature), where `extract_many_async` keeps `parallel` requests in flight.
use futures_util::StreamExt;
use instructor_core::{Extractor, ResponseModel, StreamEvent};
use instructor_llama::Llama;

/// A person mentioned in the text.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct UserDetail {
    /// The person's first name.
    name: String,
    #[instructor(range(min = 0, max = 150))]
    age: u8,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let llama = Llama::load_from_env()?;

    let user = UserDetail::extract_async(&llama, "Extract `Jason is 30 years old`").await?;
    println!("one value: {user:?}");

    let mut stream = Extractor::new(&llama)
        .extract_stream_async::<UserDetail>("Extract `Sarah is 25 years old`");
    while let Some(step) = stream.next().await {
        match step? {
            StreamEvent::Partial(p) => println!("  snapshot: {p:?}"),
            StreamEvent::Retry(a) => println!("  retrying: {}", a.error_messages().join("; ")),
            StreamEvent::Done(done) => println!("streamed value: {:?}", done.value),
        }
    }

    let texts = [
        "Extract `Tom is 41 years old`",
        "Extract `Ann is 19 years old`",
        "Extract `Jason is 30 years old`",
    ];
    let mut many = Extractor::new(&llama)
        .parallel(3)
        .extract_many_async::<UserDetail>(texts);
    while let Some((index, result)) = many.next().await {
        println!("document {index}: {:?}", result?);
    }
    let totals = many.totals();
    println!(
        "{} documents, {:.1} documents/s",
        totals.documents,
        totals.documents_per_second()
    );
    Ok(())
}
