//! [`ItemSplitter`]: the raw JSON text of each complete item of a top-level array as soon as it
//! closes, for list streaming.

use super::{Event, JsonError, PartialParser, Seg};

/// Yields each complete item of a top-level JSON array as its raw JSON text, as soon as it
/// closes: the building block of list streaming, where every item is parsed and validated on its
/// own while the next one is being generated.
///
/// An item is complete at its closing character; a number item when the delimiter after it
/// arrives (`,`, `]` or whitespace), since until then another digit could follow.
///
/// ```
/// use instructor_core::__private::partial::ItemSplitter;
///
/// let mut items = ItemSplitter::new();
/// assert_eq!(items.push(r#"[{"name": "Jason"}, {"na"#)?, [r#"{"name": "Jason"}"#]);
/// assert!(items.push(r#"me": "Jane"#)?.is_empty());
/// assert_eq!(items.push(r#""}]"#)?, [r#"{"name": "Jane"}"#]);
/// assert!(items.is_complete());
/// # Ok::<(), instructor_core::JsonError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ItemSplitter {
    parser: PartialParser,
    /// Whether the top-level value is an array, once its first byte has been read.
    is_array: Option<bool>,
    /// The top-level value turned out not to be an array.
    error: Option<JsonError>,
}

impl ItemSplitter {
    /// Nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk and returns the items it completed, in order.
    ///
    /// Text that is not JSON, or a top-level value that is not an array, is an error, returned
    /// again on every later call; items completed by the chunk that failed are not returned.
    pub fn push(&mut self, chunk: &str) -> Result<Vec<String>, JsonError> {
        let mut items = Vec::new();
        let is_array = &mut self.is_array;
        let fed = self
            .parser
            .feed(chunk, &mut |path, event| match (path, event) {
                ([], _) if is_array.is_none() => *is_array = Some(*event == Event::ArrayStart),
                ([Seg::Index(_)], Event::End { raw, .. }) => items.push((*raw).to_owned()),
                _ => {}
            });
        if self.is_array == Some(false) && self.error.is_none() {
            let text = self.parser.text();
            let start = text.len() - text.trim_start_matches([' ', '\t', '\n', '\r']).len();
            self.error = Some(JsonError::new(start, "expected a JSON array of items"));
        }
        match &self.error {
            Some(e) => Err(e.clone()),
            None => fed.map(|()| items),
        }
    }

    /// True once the array is closed (only whitespace may follow).
    pub fn is_complete(&self) -> bool {
        self.error.is_none() && self.parser.is_complete()
    }

    /// All text fed so far.
    pub fn text(&self) -> &str {
        self.parser.text()
    }
}
