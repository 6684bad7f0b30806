//! What the system prompt tells the model about the answer's type, read off the request a
//! recording fake backend receives.

use std::sync::Mutex;

use instructor_core::{
    Chunk, Extractor, FinishReason, Llm, LlmError, Message, Request, ResponseModel, Role,
    TokenStream, Usage,
};

/// Answers every request with `[]` and keeps the messages it was sent.
#[derive(Default)]
struct Recording {
    requests: Mutex<Vec<Vec<Message>>>,
}

impl Recording {
    fn system_prompt(&self) -> String {
        let requests = self.requests.lock().unwrap();
        let first = requests.first().expect("one request");
        assert_eq!(first[0].role, Role::System);
        first[0].content.clone()
    }
}

struct Empty(bool);

impl TokenStream for Empty {
    fn next_chunk(&mut self) -> Option<Result<Chunk, LlmError>> {
        std::mem::take(&mut self.0).then(|| Ok(Chunk::Text("[]".into())))
    }
    fn finish(&self) -> (FinishReason, Usage) {
        (FinishReason::Stop, Usage::default())
    }
}

impl Llm for Recording {
    fn generate<'a>(
        &'a self,
        request: &Request<'_>,
    ) -> Result<Box<dyn TokenStream + 'a>, LlmError> {
        self.requests
            .lock()
            .unwrap()
            .push(request.messages.to_vec());
        Ok(Box::new(Empty(true)))
    }
}

/// A line of an order.
#[derive(Debug, serde::Deserialize, ResponseModel)]
struct Item {
    /// The product's name as written on the order.
    product: String,
    /// How many were ordered.
    quantity: u32,
}

fn assert_describes_item(system: &str) {
    assert!(
        system.contains("- product: The product's name as written on the order."),
        "{system}"
    );
    assert!(
        system.contains("- quantity: How many were ordered."),
        "{system}"
    );
}

#[test]
fn a_single_value_gets_its_field_descriptions() {
    let llm = Recording::default();
    // `[]` is no `Item`: the attempts fail, the prompt is what matters here.
    let _ = Extractor::new(&llm)
        .max_retries(1)
        .extract::<Item>("one pen");
    let system = llm.system_prompt();
    assert!(
        system.contains("The answer describes: A line of an order."),
        "{system}"
    );
    assert_describes_item(&system);
}

#[test]
fn a_list_extraction_gets_the_item_fields_descriptions() {
    let llm = Recording::default();
    let items: Vec<_> = Extractor::new(&llm)
        .extract_iter::<Item>("two pens")
        .collect();
    assert!(items.is_empty(), "{items:?}");
    assert_describes_item(&llm.system_prompt());
}

#[test]
fn a_whole_list_answer_gets_the_item_fields_descriptions() {
    let llm = Recording::default();
    let items = Extractor::new(&llm)
        .extract::<Vec<Item>>("two pens")
        .unwrap();
    assert!(items.is_empty(), "{items:?}");
    let system = llm.system_prompt();
    assert!(
        system.contains("- product: The product's name as written on the order."),
        "{system}"
    );
    assert!(
        system.contains("- quantity: How many were ordered."),
        "{system}"
    );
}
