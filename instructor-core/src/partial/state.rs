//! The parser's state: what it expects next ([`State`]), how far a number or an escape has got,
//! and the stack of open containers ([`Frame`]). Plain data; `parser.rs` owns the transitions.

use super::Seg;

/// An open object or array.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    /// Byte offset of the opening bracket: the start of the container's `raw`.
    pub(super) start: usize,
    pub(super) object: bool,
    /// The index of the item being read (arrays).
    pub(super) index: usize,
    /// The unescaped key of the member being read (objects).
    pub(super) key: String,
}

impl Frame {
    pub(super) fn seg(&self) -> Seg<'_> {
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
pub(super) enum Num {
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
    pub(super) fn next(self, b: u8) -> Option<Num> {
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
    pub(super) fn is_whole(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits)
    }
}

/// Where the parser is inside an escape sequence of a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Esc {
    #[default]
    None,
    /// Just after `\`.
    Backslash,
    /// Inside `\uXXXX`, with the hex digits read so far.
    Hex { digits: u8, value: u32 },
}

/// What the parser expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum State {
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
