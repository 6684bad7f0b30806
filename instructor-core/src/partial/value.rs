//! [`PartialValue`]: a partial `T` accumulated from text chunks, each chunk's events routed
//! straight into it through `ResponseModel::apply_partial`.

use super::{JsonError, PartialParser};

/// Accumulates a partial `T` from text chunks: the snapshot to show while the value is being
/// generated.
///
/// Each chunk's events go straight into the partial value through
/// [`ResponseModel::apply_partial`](crate::ResponseModel::apply_partial), so a chunk costs the
/// same at the end of a long output as at its start.
///
/// What a snapshot shows: a string shows its text so far; numbers, booleans, enums, maps and
/// other "atomic" values appear once complete; a sequence shows its complete items plus the item
/// being written, as far as it is itself partial.
///
/// ```
/// use instructor_core::PartialValue;
///
/// let mut value = PartialValue::<Vec<(String, u8)>>::new();
/// value.push(r#"[["Jason", 3"#)?;
/// // The string shows its text so far; the number waits until it is complete.
/// assert_eq!(value.get(), Some(&vec![(Some("Jason".to_owned()), None)]));
/// value.push(r#"0], ["Ja"#)?;
/// assert_eq!(
///     value.get(),
///     Some(&vec![(Some("Jason".to_owned()), Some(30)), (Some("Ja".to_owned()), None)])
/// );
/// value.push(r#"ne", 25]]"#)?;
/// assert!(value.is_complete());
/// # Ok::<(), instructor_core::JsonError>(())
/// ```
pub struct PartialValue<T: crate::ResponseModel> {
    parser: PartialParser,
    slot: Option<T::Partial>,
    /// Events routed so far: when it has not moved, neither has the snapshot.
    events: u64,
}

impl<T: crate::ResponseModel> PartialValue<T> {
    /// Nothing read yet.
    pub fn new() -> Self {
        Self {
            parser: PartialParser::new(),
            slot: None,
            events: 0,
        }
    }

    /// Feeds the next chunk of generated text and updates the snapshot.
    ///
    /// After an error, the snapshot stays as it was and every later call returns the error.
    pub fn push(&mut self, chunk: &str) -> Result<(), JsonError> {
        let slot = &mut self.slot;
        let events = &mut self.events;
        self.parser.feed(chunk, &mut |path, event| {
            T::apply_partial(slot, path, event);
            *events += 1;
        })
    }

    /// The snapshot so far; `None` before the value has started (or when it is `null`).
    pub fn get(&self) -> Option<&T::Partial> {
        self.slot.as_ref()
    }

    /// True once the top-level value is complete (see [`PartialParser::is_complete`]).
    pub fn is_complete(&self) -> bool {
        self.parser.is_complete()
    }

    /// All text fed so far.
    pub fn text(&self) -> &str {
        self.parser.text()
    }

    /// How many parser events have been applied so far. When a [`push`](Self::push) leaves it
    /// unchanged, the snapshot is unchanged too, so there is nothing new to show.
    pub fn events(&self) -> u64 {
        self.events
    }
}

impl<T: crate::ResponseModel> Default for PartialValue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: crate::ResponseModel> Clone for PartialValue<T> {
    fn clone(&self) -> Self {
        Self {
            parser: self.parser.clone(),
            slot: self.slot.clone(),
            events: self.events,
        }
    }
}

impl<T: crate::ResponseModel> std::fmt::Debug for PartialValue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartialValue")
            .field("slot", &self.slot)
            .field("text", &self.parser.text())
            .finish()
    }
}
