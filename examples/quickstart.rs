//! The published Python guide (instructor + llama-cpp-python), line for line in Rust:
//!
//! ```python
//! llama = llama_cpp.Llama(model_path=..., chat_format="chatml", n_ctx=2048,
//!                         draft_model=LlamaPromptLookupDecoding(num_pred_tokens=2), ...)
//! create = instructor.patch(create=llama.create_chat_completion_openai_v1,
//!                           mode=instructor.Mode.JSON_SCHEMA)
//! class UserDetail(BaseModel):
//!     name: str
//!     age: int
//! user = create(messages=[{"role": "user", "content": "Extract `Jason is 30 years old`"}],
//!               response_model=UserDetail)
//! print(user)
//! ```
use instructor_core::{Extractor, ResponseModel};
use instructor_llama::{ChatTemplate, Llama};

#[derive(Debug, serde::Deserialize, ResponseModel)]
struct UserDetail {
    name: String,
    age: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let llama = Llama::builder()
        .model_path(Llama::model_from_env()?)
        .chat_template(ChatTemplate::ChatMl)
        .n_ctx(2048)
        .prompt_lookup(true)
        .draft_len(2)
        .build()?;

    let create = Extractor::new(&llama).max_retries(3);

    let user: UserDetail = create.extract("Extract `Jason is 30 years old`")?;

    println!("{user:?}");
    Ok(())
}
