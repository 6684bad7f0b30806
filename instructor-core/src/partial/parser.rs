//! [`PartialParser`], the incremental JSON parser: bytes in, [`Event`]s with their paths out, in
//! time proportional to each chunk. Must not know any Rust type (`value.rs` and the
//! `ResponseModel` impls turn events into partial values).

use super::error::char_at;
use super::state::{Esc, Frame, Num, State};
use super::{Event, JsonError, Seg, Sink};

/// `serde_json` refuses the 128th level of nesting (its recursion limit); refusing it here too
/// keeps every document this parser accepts one that `serde_json` can parse.
const MAX_DEPTH: usize = 127;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `text[from..to]`; the parser only cuts next to ASCII bytes, so the range is always on char
/// boundaries, and an empty slice stands in for the impossible case rather than a panic.
fn slice(text: &str, from: usize, to: usize) -> &str {
    debug_assert!(text.is_char_boundary(from) && text.is_char_boundary(to));
    text.get(from..to).unwrap_or_default()
}

/// An incremental JSON parser: feed it text as it is generated, and it reports each step of
/// each value as an [`Event`] with the value's path.
///
/// It is a byte-level state machine with an explicit stack, so the work per chunk is
/// proportional to the chunk (amortised), never to the text before it, and deep nesting cannot
/// overflow the call stack. It accepts the JSON grammar of RFC 8259, whitespace included, with
/// `serde_json`'s extra rules: at most 127 levels of nesting, and `\u` surrogate escapes only in
/// pairs. (Unlike `serde_json` it does not check that numbers fit a type: that is the partial
/// value's business.)
///
/// ```
/// use instructor_core::__private::partial::PartialParser;
/// use instructor_core::{Event, Seg};
///
/// let mut parser = PartialParser::new();
/// let mut seen = Vec::new();
/// let mut sink = |path: &[Seg<'_>], event: &Event<'_>| seen.push(format!("{path:?} {event:?}"));
/// parser.feed(r#"{"name": "Ja"#, &mut sink)?;
/// parser.feed(r#"son"}"#, &mut sink)?;
/// assert!(parser.is_complete());
/// assert_eq!(
///     seen,
///     [
///         r#"[] ObjectStart"#,
///         r#"[Key("name")] Str("")"#,
///         r#"[Key("name")] Str("Ja")"#,
///         r#"[Key("name")] Str("son")"#,
///         r#"[Key("name")] End { raw: "\"Jason\"", start: 9 }"#,
///         r#"[] End { raw: "{\"name\": \"Jason\"}", start: 0 }"#,
///     ]
/// );
/// # Ok::<(), instructor_core::JsonError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PartialParser {
    /// Everything fed so far; every `raw` is a slice of it.
    text: String,
    state: State,
    /// The open containers, outermost first: together they make the current path.
    stack: Vec<Frame>,
    /// Key buffers of closed objects, reused so that opening an object does not allocate.
    spare_keys: Vec<String>,
    /// Byte offset where the current string, number or literal began.
    value_start: usize,
    esc: Esc,
    /// Byte offset of the `\` of the current escape, for error positions.
    esc_start: usize,
    /// A leading surrogate (value, offset of its `\`) waiting for its trailing half.
    high: Option<(u32, usize)>,
    /// Decoded text of the current string value not yet sent as an [`Event::Str`].
    pending: String,
    /// The allocation of the path handed to the sink, kept between events.
    path: Vec<Seg<'static>>,
    error: Option<JsonError>,
}

impl PartialParser {
    /// A parser at the start of a JSON text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk of generated text; calls `sink(path, event)` for every event, in
    /// order.
    ///
    /// On text that is not JSON it returns the error and from then on returns it again on every
    /// call (the chunks are still appended to [`text`](Self::text)). The events sent before the
    /// error stand.
    pub fn feed(
        &mut self,
        chunk: &str,
        sink: &mut dyn FnMut(&[Seg<'_>], &Event<'_>),
    ) -> Result<(), JsonError> {
        let from = self.text.len();
        self.text.push_str(chunk);
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        // Moved out for the duration so the state can change while events borrow the text.
        let text = std::mem::take(&mut self.text);
        let result = self.run(&text, from, sink);
        self.text = text;
        if let Err(e) = &result {
            self.state = State::Failed;
            self.error = Some(e.clone());
        }
        result
    }

    /// True once the top-level value is complete (only whitespace may follow).
    ///
    /// A top-level number is never complete: another digit could still come.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// All text fed so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn run(&mut self, text: &str, mut i: usize, sink: Sink<'_>) -> Result<(), JsonError> {
        let bytes = text.as_bytes();
        while let Some(&b) = bytes.get(i) {
            i = self.step(text, i, b, sink)?;
        }
        // A string still open at the end of the chunk shows what it has so far.
        if self.state == (State::Str { key: false }) {
            self.flush_pending(sink);
        }
        Ok(())
    }

    /// Consumes the byte `b` at offset `i` (or, for a number's delimiter, only ends the number)
    /// and returns the offset to continue from.
    /// Emits the decoded string text not yet sent, if any.
    fn flush_pending(&mut self, sink: Sink<'_>) {
        if !self.pending.is_empty() {
            emit(
                &self.stack,
                &mut self.path,
                sink,
                &Event::Str(&self.pending),
            );
            self.pending.clear();
        }
    }

    fn step(&mut self, text: &str, i: usize, b: u8, sink: Sink<'_>) -> Result<usize, JsonError> {
        let state = self.state;
        match state {
            State::Str { key } => return self.string(text, i, b, key, sink),
            State::Num(num) => return self.number(text, i, b, num, sink),
            State::Lit { word, at } => return self.literal(text, i, b, word, at, sink),
            _ if is_ws(b) => return Ok(i + 1),
            _ => {}
        }
        match (state, b) {
            (State::Value, _) => self.start_value(text, i, b, sink),
            (State::FirstItem, b']') => self.close(text, i, b, sink),
            (State::FirstItem, _) => self.start_value(text, i, b, sink),
            (State::FirstKey, b'}') => self.close(text, i, b, sink),
            (State::FirstKey | State::Key, b'"') => {
                if let Some(frame) = self.stack.last_mut() {
                    frame.key.clear();
                }
                self.state = State::Str { key: true };
                Ok(i + 1)
            }
            (State::FirstKey, _) => Err(JsonError::new(
                i,
                format!("expected a key string or `}}`, found {}", char_at(text, i)),
            )),
            (State::Key, _) => Err(JsonError::new(
                i,
                format!(
                    "expected a key string after `,`, found {}",
                    char_at(text, i)
                ),
            )),
            (State::Colon, b':') => {
                self.state = State::Value;
                Ok(i + 1)
            }
            (State::Colon, _) => Err(JsonError::new(
                i,
                format!("expected `:` after the key, found {}", char_at(text, i)),
            )),
            (State::AfterValue, b',') => {
                match self.stack.last_mut() {
                    Some(frame) if !frame.object => {
                        frame.index += 1;
                        self.state = State::Value;
                    }
                    _ => self.state = State::Key,
                }
                Ok(i + 1)
            }
            (State::AfterValue, b']' | b'}') => self.close(text, i, b, sink),
            (State::AfterValue, _) => Err(self.expected_after_item(text, i)),
            (State::Done, _) => Err(JsonError::new(
                i,
                format!(
                    "unexpected text after the JSON value, found {}",
                    char_at(text, i)
                ),
            )),
            // Feeding stops at the first error, and the other states returned above.
            (State::Failed | State::Str { .. } | State::Num(_) | State::Lit { .. }, _) => {
                Err(JsonError::new(i, "the parser was used after an error"))
            }
        }
    }

    fn expected_after_item(&self, text: &str, i: usize) -> JsonError {
        let close = match self.stack.last() {
            Some(frame) if frame.object => "`}`",
            _ => "`]`",
        };
        JsonError::new(
            i,
            format!("expected `,` or {close}, found {}", char_at(text, i)),
        )
    }

    fn start_value(
        &mut self,
        text: &str,
        i: usize,
        b: u8,
        sink: Sink<'_>,
    ) -> Result<usize, JsonError> {
        self.value_start = i;
        self.state = match b {
            b'"' => {
                self.pending.clear();
                // The empty first chunk tells the sink a string began, before any text.
                emit(&self.stack, &mut self.path, sink, &Event::Str(""));
                State::Str { key: false }
            }
            b'{' | b'[' => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(JsonError::new(
                        i,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let object = b == b'{';
                let event = if object {
                    Event::ObjectStart
                } else {
                    Event::ArrayStart
                };
                emit(&self.stack, &mut self.path, sink, &event);
                let key = if object {
                    self.spare_keys.pop().unwrap_or_default()
                } else {
                    String::new()
                };
                self.stack.push(Frame {
                    start: i,
                    object,
                    index: 0,
                    key,
                });
                if object {
                    State::FirstKey
                } else {
                    State::FirstItem
                }
            }
            b'-' => State::Num(Num::Minus),
            b'0' => State::Num(Num::Zero),
            b'1'..=b'9' => State::Num(Num::Int),
            b't' => State::Lit {
                word: "true",
                at: 1,
            },
            b'f' => State::Lit {
                word: "false",
                at: 1,
            },
            b'n' => State::Lit {
                word: "null",
                at: 1,
            },
            _ => {
                return Err(JsonError::new(
                    i,
                    format!("expected a JSON value, found {}", char_at(text, i)),
                ))
            }
        };
        Ok(i + 1)
    }

    /// Closes the innermost container with `b` (`]` or `}`).
    fn close(&mut self, text: &str, i: usize, b: u8, sink: Sink<'_>) -> Result<usize, JsonError> {
        let Some(frame) = self.stack.pop() else {
            return Err(JsonError::new(
                i,
                format!("unexpected {}", char_at(text, i)),
            ));
        };
        if frame.object != (b == b'}') {
            self.stack.push(frame);
            return Err(self.expected_after_item(text, i));
        }
        end_value(&self.stack, &mut self.path, sink, text, frame.start, i + 1);
        if frame.object {
            self.spare_keys.push(frame.key);
        }
        self.value_done();
        Ok(i + 1)
    }

    fn value_done(&mut self) {
        self.state = if self.stack.is_empty() {
            State::Done
        } else {
            State::AfterValue
        };
    }

    fn string(
        &mut self,
        text: &str,
        i: usize,
        b: u8,
        key: bool,
        sink: Sink<'_>,
    ) -> Result<usize, JsonError> {
        match self.esc {
            Esc::None if self.high.is_some() && b != b'\\' => Err(self.lone_high(i)),
            Esc::None => match b {
                b'"' => {
                    self.close_string(text, i, key, sink);
                    Ok(i + 1)
                }
                b'\\' => {
                    self.esc = Esc::Backslash;
                    self.esc_start = i;
                    Ok(i + 1)
                }
                0..=0x1f => Err(JsonError::new(
                    i,
                    format!(
                        "a string cannot contain a raw {}; it must be escaped",
                        char_at(text, i)
                    ),
                )),
                _ => {
                    // Copy the whole run of plain characters at once. It ends at an ASCII byte or
                    // at the end of the text, so it is whole UTF-8.
                    let rest = text.as_bytes().get(i..).unwrap_or_default();
                    let run = rest
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                        .unwrap_or(rest.len());
                    self.push_text(key, slice(text, i, i + run));
                    Ok(i + run)
                }
            },
            Esc::Backslash => {
                let c = match b {
                    b'u' => {
                        self.esc = Esc::Hex {
                            digits: 0,
                            value: 0,
                        };
                        return Ok(i + 1);
                    }
                    _ if self.high.is_some() => return Err(self.lone_high(i)),
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    _ => {
                        return Err(JsonError::new(
                            self.esc_start,
                            format!(
                                "invalid escape in a string: `\\` followed by {}",
                                char_at(text, i)
                            ),
                        ))
                    }
                };
                self.esc = Esc::None;
                self.push_char(key, c);
                Ok(i + 1)
            }
            Esc::Hex { digits, value } => {
                let Some(digit) = (b as char).to_digit(16) else {
                    return Err(JsonError::new(
                        self.esc_start,
                        format!(
                            "invalid `\\u` escape: expected a hex digit, found {}",
                            char_at(text, i)
                        ),
                    ));
                };
                let value = value * 16 + digit;
                if digits < 3 {
                    self.esc = Esc::Hex {
                        digits: digits + 1,
                        value,
                    };
                    return Ok(i + 1);
                }
                self.esc = Esc::None;
                match (self.high.take(), value) {
                    (Some((high, _)), 0xDC00..=0xDFFF) => {
                        let code = 0x10000 + ((high - 0xD800) << 10) + (value - 0xDC00);
                        // Always a valid scalar value: 0x10000..=0x10FFFF.
                        self.push_char(
                            key,
                            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
                        );
                    }
                    (Some((high, at)), _) => {
                        self.high = Some((high, at));
                        return Err(self.lone_high(i));
                    }
                    (None, 0xD800..=0xDBFF) => self.high = Some((value, self.esc_start)),
                    (None, 0xDC00..=0xDFFF) => {
                        return Err(JsonError::new(
                            self.esc_start,
                            format!("lone trailing surrogate `\\u{value:04x}` in a string"),
                        ))
                    }
                    (None, _) => self.push_char(
                        key,
                        char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
                    ),
                }
                Ok(i + 1)
            }
        }
    }

    /// A leading surrogate escape not followed by a trailing one (`serde_json` refuses those).
    fn lone_high(&self, i: usize) -> JsonError {
        let (value, at) = self.high.unwrap_or((0, i));
        JsonError::new(
            at,
            format!("lone leading surrogate `\\u{value:04x}` in a string: it must be followed by a `\\uDC00`-`\\uDFFF` escape"),
        )
    }

    fn push_text(&mut self, key: bool, s: &str) {
        if key {
            if let Some(frame) = self.stack.last_mut() {
                frame.key.push_str(s);
            }
        } else {
            self.pending.push_str(s);
        }
    }

    fn push_char(&mut self, key: bool, c: char) {
        if key {
            if let Some(frame) = self.stack.last_mut() {
                frame.key.push(c);
            }
        } else {
            self.pending.push(c);
        }
    }

    fn close_string(&mut self, text: &str, i: usize, key: bool, sink: Sink<'_>) {
        if key {
            self.state = State::Colon;
            return;
        }
        self.flush_pending(sink);
        end_value(
            &self.stack,
            &mut self.path,
            sink,
            text,
            self.value_start,
            i + 1,
        );
        self.value_done();
    }

    fn number(
        &mut self,
        text: &str,
        i: usize,
        b: u8,
        num: Num,
        sink: Sink<'_>,
    ) -> Result<usize, JsonError> {
        if let Some(next) = num.next(b) {
            self.state = State::Num(next);
            return Ok(i + 1);
        }
        // Only a delimiter can end a number; anything else would make it a different token.
        let delimiter = is_ws(b) || (!self.stack.is_empty() && matches!(b, b',' | b']' | b'}'));
        if !delimiter || !num.is_whole() {
            let what = if num.is_whole() {
                "after a number"
            } else {
                "in a number"
            };
            return Err(JsonError::new(
                i,
                format!("unexpected {} {what}", char_at(text, i)),
            ));
        }
        end_value(&self.stack, &mut self.path, sink, text, self.value_start, i);
        self.value_done();
        // The delimiter itself belongs to the enclosing state.
        Ok(i)
    }

    fn literal(
        &mut self,
        text: &str,
        i: usize,
        b: u8,
        word: &'static str,
        at: usize,
        sink: Sink<'_>,
    ) -> Result<usize, JsonError> {
        if word.as_bytes().get(at) != Some(&b) {
            return Err(JsonError::new(
                i,
                format!(
                    "invalid literal (expected `{word}`), found {}",
                    char_at(text, i)
                ),
            ));
        }
        if at + 1 < word.len() {
            self.state = State::Lit { word, at: at + 1 };
        } else {
            end_value(
                &self.stack,
                &mut self.path,
                sink,
                text,
                self.value_start,
                i + 1,
            );
            self.value_done();
        }
        Ok(i + 1)
    }
}

/// Sends the `End` of the value at `text[start..end]`.
fn end_value(
    stack: &[Frame],
    path: &mut Vec<Seg<'static>>,
    sink: Sink<'_>,
    text: &str,
    start: usize,
    end: usize,
) {
    let raw = slice(text, start, end);
    emit(stack, path, sink, &Event::End { raw, start });
}

/// Sends one event with the path made of the open containers.
fn emit(stack: &[Frame], path: &mut Vec<Seg<'static>>, sink: Sink<'_>, event: &Event<'_>) {
    let mut segs = recycle(std::mem::take(path));
    segs.extend(stack.iter().map(Frame::seg));
    sink(&segs, event);
    *path = recycle(segs);
}

/// Empties a path buffer and gives it back with another lifetime: the collect runs in place on
/// the same allocation, so building a path per event does not allocate.
fn recycle<'b>(mut segs: Vec<Seg<'_>>) -> Vec<Seg<'b>> {
    segs.clear();
    segs.into_iter().map_while(|_| None).collect()
}
