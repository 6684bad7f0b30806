//! [`Text`], the fixed-capacity UTF-8 buffer every grammar is built in, and the one home of
//! the two escapings a grammar needs: a GBNF string literal ([`Text::lit`], [`push_lit`]) and a
//! JSON string ([`json_escape`]). The derive mirrors [`json_escape`] (it writes keys into rule
//! text at macro time); `tests/escaping.rs` checks that both agree. Must not know about rules.

/// A fixed-capacity UTF-8 string buildable in constant evaluation.
#[derive(Clone, Copy)]
pub struct Text<const N: usize> {
    pub(super) buf: [u8; N],
    pub(super) len: usize,
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Text<N> {
    /// An empty text.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// A text holding `s`.
    pub const fn from_str(s: &str) -> Self {
        Self::new().raw(s)
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The text so far.
    pub const fn as_str(&self) -> &str {
        // Only whole `&str`s and ASCII bytes are ever appended, so this cannot fail.
        match core::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(_) => panic!("instructor: grammar text is not UTF-8"),
        }
    }

    /// The bytes so far.
    pub const fn as_bytes(&self) -> &[u8] {
        self.buf.split_at(self.len).0
    }

    /// Appends one byte in place. Constant evaluation copies a value on every by-value call, so
    /// the hot loops push in place rather than through the by-value builders.
    pub(super) const fn push(&mut self, b: u8) {
        if self.len >= N {
            panic!("instructor: grammar too large for its fixed capacity (see instructor_core::grammar)");
        }
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// Appends bytes in place.
    pub(super) const fn push_bytes(&mut self, b: &[u8]) {
        let mut i = 0;
        while i < b.len() {
            self.push(b[i]);
            i += 1;
        }
    }

    /// Appends one byte (ASCII only).
    pub const fn byte(mut self, b: u8) -> Self {
        self.push(b);
        self
    }

    /// Appends `s` unchanged.
    pub const fn raw(mut self, s: &str) -> Self {
        self.push_bytes(s.as_bytes());
        self
    }

    /// Appends another text unchanged.
    pub const fn text<const M: usize>(self, t: &Text<M>) -> Self {
        self.raw(t.as_str())
    }

    /// Appends `s` as a GBNF string literal (`"…"`, with `"`, `\` and control bytes escaped).
    pub const fn lit(mut self, s: &str) -> Self {
        self.push(b'"');
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let (esc, n) = lit_byte(b[i]);
            self.push_bytes(esc.split_at(n).0);
            i += 1;
        }
        self.push(b'"');
        self
    }

    /// Appends `s` as the GBNF literal of a JSON string (`"\"s\""`), JSON-escaping `s` first.
    pub const fn json_str_lit(self, s: &str) -> Self {
        let json = json_escape::<NAME_BODY>(s);
        self.lit(json.as_str())
    }

    /// Appends the decimal digits of `n`.
    pub const fn uint(self, n: u128) -> Self {
        let mut digits = [0u8; 40];
        let count = decimal(n, &mut digits);
        let mut i = 0;
        let mut out = self;
        while i < count {
            out = out.byte(digits[i]);
            i += 1;
        }
        out
    }

    /// Byte-wise equality with `s`.
    pub const fn eq_str(&self, s: &str) -> bool {
        bytes_eq(self.as_bytes(), s.as_bytes())
    }
}

/// One byte of a GBNF string literal's content: `"` and `\\` escaped, control bytes as `\\xHH`.
/// The one home of GBNF literal escaping, for [`Text::lit`] and [`push_lit`].
const fn lit_byte(c: u8) -> ([u8; 4], usize) {
    if c == b'"' || c == b'\\' {
        ([b'\\', c, 0, 0], 2)
    } else if c < 0x20 || c == 0x7f {
        ([b'\\', b'x', hex_digit(c >> 4), hex_digit(c & 15)], 4)
    } else {
        ([c, 0, 0, 0], 1)
    }
}

/// Appends `s` as a GBNF string literal (`"…"`) to a run-time string, escaped as [`Text::lit`]
/// escapes it.
pub fn push_lit(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        let (esc, n) = lit_byte(c);
        if n > 1 {
            out.push_str(&s[start..i]);
            out.extend(esc[..n].iter().map(|&b| b as char));
            start = i + 1;
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Room for a JSON-escaped key or literal.
const NAME_BODY: usize = 512;

/// One byte of a JSON string's content as `serde_json` writes it: `"`, `\\` and control
/// bytes escaped (the short escapes where JSON has them, else `\u00xx`), everything else,
/// UTF-8 continuation bytes included, as is. The one home of JSON-string escaping, for
/// [`json_escape`] and [`push_json_str`].
const fn json_byte(c: u8) -> ([u8; 6], usize) {
    match c {
        b'"' => ([b'\\', b'"', 0, 0, 0, 0], 2),
        b'\\' => ([b'\\', b'\\', 0, 0, 0, 0], 2),
        b'\n' => ([b'\\', b'n', 0, 0, 0, 0], 2),
        b'\r' => ([b'\\', b'r', 0, 0, 0, 0], 2),
        b'\t' => ([b'\\', b't', 0, 0, 0, 0], 2),
        0x08 => ([b'\\', b'b', 0, 0, 0, 0], 2),
        0x0c => ([b'\\', b'f', 0, 0, 0, 0], 2),
        c if c < 0x20 => (
            [
                b'\\',
                b'u',
                b'0',
                b'0',
                hex_digit(c >> 4),
                hex_digit(c & 15),
            ],
            6,
        ),
        c => ([c, 0, 0, 0, 0, 0], 1),
    }
}

/// `s` as the text of a JSON string, quotes included: `ab"c` becomes `"ab\"c"`.
pub const fn json_escape<const N: usize>(s: &str) -> Text<N> {
    let mut out = Text::<N>::new().byte(b'"');
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let (esc, n) = json_byte(b[i]);
        out.push_bytes(esc.split_at(n).0);
        i += 1;
    }
    out.byte(b'"')
}

/// Appends `s` as the text of a JSON string, quotes included, to a run-time string: what
/// [`json_escape`] writes, without its capacity limit (choice values and verbatim sources are
/// only known at run time).
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        let (esc, n) = json_byte(c);
        if n > 1 {
            out.push_str(&s[start..i]);
            out.extend(esc[..n].iter().map(|&b| b as char));
            start = i + 1;
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

pub(super) const fn hex_digit(v: u8) -> u8 {
    if v < 10 {
        b'0' + v
    } else {
        b'a' + v - 10
    }
}

pub(super) const fn decimal(mut n: u128, out: &mut [u8; 40]) -> usize {
    let mut tmp = [0u8; 40];
    let mut k = 0;
    loop {
        tmp[k] = b'0' + (n % 10) as u8;
        k += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut i = 0;
    while i < k {
        out[i] = tmp[k - 1 - i];
        i += 1;
    }
    k
}

pub(super) const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// 64-bit FNV-1a of `b`.
pub const fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}
