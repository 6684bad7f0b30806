//! Validation and re-ask: a custom validator rejects the first answer; the error goes back to
//! the model, which answers again. The report shows every attempt.
use instructor_core::{Error, Extractor, ResponseModel};
use instructor_llama::Llama;

/// A person's name, which must be written in capitals.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct Shout {
    /// The name, in capital letters.
    #[instructor(validate = all_caps)]
    name: String,
}

fn all_caps(name: &String) -> Result<(), String> {
    if name.chars().any(char::is_lowercase) {
        Err(format!(
            "{name:?} must be written in capital letters only, like {:?}",
            name.to_uppercase()
        ))
    } else {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let llama = Llama::load_from_env()?;
    let prompt = "Extract the name: `Jason is 30 years old`";
    match Extractor::new(&llama)
        .max_retries(3)
        .extract_with_report::<Shout>(prompt)
    {
        Ok(done) => {
            for (i, a) in done.report.failed_attempts.iter().enumerate() {
                println!(
                    "attempt {}: {} -> {}",
                    i + 1,
                    a.output,
                    a.error_messages().join("; ")
                );
            }
            println!(
                "attempt {}: {} -> valid",
                done.report.attempts(),
                done.report.raw
            );
            println!("{:?}", done.value);
        }
        Err(Error::RetriesExhausted { attempts, .. }) => {
            for (i, a) in attempts.iter().enumerate() {
                println!(
                    "attempt {}: {} -> {}",
                    i + 1,
                    a.output,
                    a.error_messages().join("; ")
                );
            }
            println!("the model never wrote the name in capitals");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
