//! Partial values while the output is still being generated.
//!
//! An incremental JSON parser ([`PartialParser`]) turns text chunks into [`Event`]s, each with
//! the path of the value it belongs to. Every [`ResponseModel`](crate::ResponseModel) routes an
//! event into its partial value in place ([`ResponseModel::apply_partial`](crate::ResponseModel::apply_partial)),
//! so the cost of a token does not grow with the length of the output.
//!
//! Snapshot semantics: a string shows its text so far; numbers, booleans, enums, maps and other
//! "atomic" values appear once complete; a sequence shows its complete items plus the item being
//! written, as far as it is itself partial.

/// A step in the path of the value an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    /// The value of an object member with this (unescaped) key.
    Key(&'a str),
    /// The item of an array at this index.
    Index(usize),
}

/// What happened to the value at the event's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// An object (`{`) began.
    ObjectStart,
    /// An array (`[`) began.
    ArrayStart,
    /// A string value grew by this (unescaped) text; the first chunk may be empty.
    Str(&'a str),
    /// The value is complete; `raw` is its whole JSON text.
    End {
        /// The value's JSON text.
        raw: &'a str,
        /// Byte offset of `raw` in all the text fed so far ([`PartialParser::text`]): where the
        /// value began, so a consumer can cut the text back to just before it.
        start: usize,
    },
}

/// `serde_json` refuses the 128th level of nesting (its recursion limit); refusing it here too
/// keeps every document this parser accepts one that `serde_json` can parse.
const MAX_DEPTH: usize = 127;

/// Where the parser sends its events: the value's path from the root, and what happened.
type Sink<'s> = &'s mut dyn FnMut(&[Seg<'_>], &Event<'_>);

/// Text that is not JSON, found by a [`PartialParser`]: where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {position}: {message}")]
pub struct JsonError {
    position: usize,
    message: String,
}

impl JsonError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }

    /// Byte offset, in all the text fed so far ([`PartialParser::text`]), of the character
    /// where the text stopped being JSON.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What was wrong, written for a person.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Names the character at byte `i` for an error message.
fn char_at(text: &str, i: usize) -> String {
    match text.get(i..).and_then(|rest| rest.chars().next()) {
        Some(c) if c.is_control() => format!("control character U+{:04X}", c as u32),
        Some(c) => format!("`{c}`"),
        None => "the end of the text".to_owned(),
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `text[from..to]`; the parser only cuts next to ASCII bytes, so the range is always on char
/// boundaries, and an empty slice stands in for the impossible case rather than a panic.
fn slice(text: &str, from: usize, to: usize) -> &str {
    debug_assert!(text.is_char_boundary(from) && text.is_char_boundary(to));
    text.get(from..to).unwrap_or_default()
}

/// An open object or array.
#[derive(Debug, Clone)]
struct Frame {
    /// Byte offset of the opening bracket: the start of the container's `raw`.
    start: usize,
    object: bool,
    /// The index of the item being read (arrays).
    index: usize,
    /// The unescaped key of the member being read (objects).
    key: String,
}

impl Frame {
    fn seg(&self) -> Seg<'_> {
        if self.object {
            Seg::Key(&self.key)
        } else {
            Seg::Index(self.index)
        }
    }
}

/// How far a number has got, following the JSON grammar
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

impl Num {
    fn next(self, b: u8) -> Option<Num> {
        use Num::*;
        Some(match (self, b) {
            (Minus, b'0') => Zero,
            (Minus, b'1'..=b'9') | (Int, b'0'..=b'9') => Int,
            (Zero | Int, b'.') => Dot,
            (Dot | Frac, b'0'..=b'9') => Frac,
            (Zero | Int | Frac, b'e' | b'E') => Exp,
            (Exp, b'+' | b'-') => ExpSign,
            (Exp | ExpSign | ExpDigits, b'0'..=b'9') => ExpDigits,
            _ => return None,
        })
    }

    /// Whether the digits so far make a whole number, so a delimiter may end it.
    fn is_whole(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits)
    }
}

/// Where the parser is inside an escape sequence of a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Esc {
    #[default]
    None,
    /// Just after `\`.
    Backslash,
    /// Inside `\uXXXX`, with the hex digits read so far.
    Hex { digits: u8, value: u32 },
}

/// What the parser expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// A value: at the start, after `:`, or after `,` in an array.
    #[default]
    Value,
    /// Just after `[`: an item or `]`.
    FirstItem,
    /// Just after `{`: a key or `}`.
    FirstKey,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value inside a container: `,` or the closing bracket.
    AfterValue,
    /// Inside a string; `key` when it is an object key rather than a value.
    Str {
        key: bool,
    },
    Num(Num),
    /// Inside `true`, `false` or `null`, `at` bytes in.
    Lit {
        word: &'static str,
        at: usize,
    },
    /// The top-level value is complete: only whitespace may follow.
    Done,
    /// The text is not JSON; the error is kept and returned again.
    Failed,
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
