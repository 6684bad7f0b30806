//! Compile-time GBNF: the fixed-capacity buffers and `const fn` builders that let every
//! [`ResponseModel`](crate::ResponseModel) carry its grammar as a constant.
//!
//! # How grammars compose at compile time
//!
//! Stable Rust cannot concatenate `&'static str` constants of generic types (`Vec<T>` would need
//! an array whose length depends on `T`). So a type's grammar is a [`Grammar`] value: a
//! fixed-capacity byte buffer of rule definitions plus the name of the rule that matches one
//! value of the type. Every builder here is a `const fn`, so `impl<T> ResponseModel for Vec<T>`
//! can write `const GRAMMAR: Grammar = Grammar::new().merge(&T::GRAMMAR)…` and the compiler
//! evaluates it once per concrete type. Nothing is assembled at run time.
//!
//! Rules are named so that nested types compose without clashes:
//! - built-in types use fixed names (`u8`, `string`, `bool`), and generic ones derive theirs from
//!   their parameters (`vec-u8`, `opt-string`, `map-vec-u8`);
//! - user types are named `Ident-hhhhhh`, a hash of the module path and identifier, so two
//!   `Address` types in different modules get different rules;
//! - constrained fields get `Parent-field` rules.
//!
//! [`Grammar::merge`] copies another grammar's rules, skipping those already present (compared by
//! a 64-bit hash of the rule name), so a type used in several fields is defined once. A name too
//! long for [`NAME_CAP`] is replaced by a hash of itself.
//!
//! Exceeding a capacity is a compile error (a `panic!` in constant evaluation), never a silent
//! truncation. Recursive types are not supported: their constant would depend on itself.

/// Capacity, in bytes, of a grammar's rule text.
pub const CAP: usize = 32 * 1024;
/// Maximum number of rules in one grammar.
pub const MAX_RULES: usize = 256;
/// Capacity, in bytes, of a rule name.
pub const NAME_CAP: usize = 48;
/// Maximum number of distinct run-time rules (a verbatim source, choice sets) in one grammar.
pub const MAX_EXTERNALS: usize = 16;
/// Capacity, in bytes, of one rule's body while it is being built.
pub const BODY_CAP: usize = 4 * 1024;

/// A fixed-capacity UTF-8 string buildable in constant evaluation.
#[derive(Clone, Copy)]
pub struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
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
    const fn push(&mut self, b: u8) {
        if self.len >= N {
            panic!("instructor: grammar too large for its fixed capacity (see instructor_core::grammar)");
        }
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// Appends bytes in place.
    const fn push_bytes(&mut self, b: &[u8]) {
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

/// `s` as the text of a JSON string, quotes included: `ab"c` becomes `"ab\"c"`.
pub const fn json_escape<const N: usize>(s: &str) -> Text<N> {
    let mut out = Text::<N>::new().byte(b'"');
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        out = match c {
            b'"' => out.raw("\\\""),
            b'\\' => out.raw("\\\\"),
            b'\n' => out.raw("\\n"),
            b'\r' => out.raw("\\r"),
            b'\t' => out.raw("\\t"),
            0x08 => out.raw("\\b"),
            0x0c => out.raw("\\f"),
            c if c < 0x20 => out
                .raw("\\u00")
                .byte(hex_digit(c >> 4))
                .byte(hex_digit(c & 15)),
            c => out.byte(c),
        };
        i += 1;
    }
    out.byte(b'"')
}

const fn hex_digit(v: u8) -> u8 {
    if v < 10 {
        b'0' + v
    } else {
        b'a' + v - 10
    }
}

const fn decimal(mut n: u128, out: &mut [u8; 40]) -> usize {
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

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
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

/// A GBNF rule name (`[a-zA-Z0-9-]+`).
pub type Name = Text<NAME_CAP>;

/// Builds a rule name from `parts` joined by `-`, mapping every character GBNF does not allow
/// in names to `-`. A name longer than [`NAME_CAP`] becomes `h` plus a hash of the whole.
pub const fn name(parts: &[&str]) -> Name {
    let mut full = Text::<BODY_CAP>::new();
    let mut p = 0;
    while p < parts.len() {
        if p > 0 {
            full = full.byte(b'-');
        }
        let b = parts[p].as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let ok = c.is_ascii_alphanumeric() || c == b'-';
            let last_dash = full.len > 0 && full.buf[full.len - 1] == b'-';
            if ok {
                full = full.byte(c);
            } else if !last_dash {
                full = full.byte(b'-');
            }
            i += 1;
        }
        p += 1;
    }
    if full.len < NAME_CAP {
        return Name::from_str(full.as_str());
    }
    let h = fnv1a(full.as_bytes());
    let mut out = Name::new().byte(b'h');
    let mut shift = 64;
    while shift > 0 {
        shift -= 4;
        out = out.byte(hex_digit(((h >> shift) & 15) as u8));
    }
    out
}

/// The rule name of a user type: its identifier and a short hash of where it is defined.
pub const fn user_type_name(module_path: &str, ident: &str) -> Name {
    let h = fnv1a(module_path.as_bytes()) ^ fnv1a(ident.as_bytes()).rotate_left(17);
    let mut hex = Text::<8>::new();
    let mut shift = 24;
    while shift > 0 {
        shift -= 4;
        hex = hex.byte(hex_digit(((h >> shift) & 15) as u8));
    }
    name(&[ident, hex.as_str()])
}

/// A signed integer wide enough for every Rust integer type's bounds (`i128::MIN..=u128::MAX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int {
    /// True for negative values (never set for zero).
    pub neg: bool,
    /// The absolute value.
    pub mag: u128,
}

impl Int {
    /// A non-negative value.
    pub const fn pos(mag: u128) -> Int {
        Int { neg: false, mag }
    }
    /// The value `-mag` (zero stays non-negative).
    pub const fn neg(mag: u128) -> Int {
        Int { neg: mag != 0, mag }
    }
    /// From an `i128`.
    pub const fn from_i128(v: i128) -> Int {
        if v < 0 {
            Int::neg(v.unsigned_abs())
        } else {
            Int::pos(v as u128)
        }
    }
    /// `self <= other`.
    pub const fn le(self, other: Int) -> bool {
        match (self.neg, other.neg) {
            (true, false) => true,
            (false, true) => false,
            (false, false) => self.mag <= other.mag,
            (true, true) => self.mag >= other.mag,
        }
    }
    /// The value as `f64` (rounded for huge magnitudes).
    pub const fn as_f64(self) -> f64 {
        let m = self.mag as f64;
        if self.neg {
            -m
        } else {
            m
        }
    }
}

/// What kind of JSON value a grammar matches: lets field constraints check, at compile time,
/// that they fit the field's type.
#[derive(Clone, Copy)]
pub enum Kind {
    /// `true` / `false`.
    Bool,
    /// An integer within bounds.
    Integer {
        /// Smallest value.
        min: Int,
        /// Largest value.
        max: Int,
    },
    /// A JSON number read as a float (`single`: an `f32`, whose exponents stop earlier).
    Float {
        /// True for `f32`.
        single: bool,
    },
    /// A JSON string.
    String,
    /// A JSON array whose items match the named rule.
    Array {
        /// The item rule.
        item: Name,
        /// Whether each item is a JSON string (so `verbatim` and `choices` can apply to items).
        item_string: bool,
    },
    /// A JSON object with fixed keys (a struct); `members` names the rule matching its members,
    /// each preceded by a comma (used to append fields after an internal enum tag).
    Object {
        /// The comma-prefixed members rule.
        members: Name,
    },
    /// Anything else (maps, tuples, enums, any JSON).
    Other,
}

/// The compile-time grammar of a type: the rule that matches one value, and every rule it uses.
#[derive(Clone, Copy)]
pub struct Grammar {
    name: Name,
    kind: Kind,
    nullable: bool,
    rules: Text<CAP>,
    hashes: [u64; MAX_RULES],
    n_rules: usize,
    // Rules the grammar refers to but the extraction defines (see `crate::grounding`).
    externals: [External; MAX_EXTERNALS],
    n_externals: usize,
}

/// The optional space written after a key's `:` and after each `,` between members or items.
///
/// Models trained on JSON write `{"name": "Jason", "age": 30}`; a grammar that forbids those
/// spaces rejects their most likely next token, and a worse one wins (measured with
/// `peer_bench --variants`: Qwen2.5-0.5B wrote `{"name":", Maria Garcia"}` and `{"people":[]}`
/// under compact JSON, and 13/15 cases correct instead of 9/15 with this space allowed;
/// SmolLM2-135M 8/15 instead of 5/15). At most one space, never a run of whitespace: unbounded
/// whitespace is a place for a model to loop. Compact answers stay valid, since it is optional.
pub const SPACE: &str = "\" \"?";

/// The rule body of a JSON string's characters: anything but `"`, `\` and control characters,
/// or a JSON escape. `\u` escapes of surrogates only come in valid pairs, because `serde_json`
/// rejects lone surrogates.
pub const JSON_CHAR_RULES: &str = concat!(
    "jchar ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" jesc\n",
    "jesc ::= [\"\\\\/bfnrt] | \"u\" ( [0-9a-cA-Ce-fE-F] jhex jhex jhex | [dD] [0-7] jhex jhex | [dD] [89abAB] jhex jhex \"\\\\u\" [dD] [c-fC-F] jhex jhex )\n",
    "jhex ::= [0-9a-fA-F]\n",
);

impl Grammar {
    /// A grammar with no rules yet.
    pub const fn new() -> Self {
        Self {
            name: Name::new(),
            kind: Kind::Other,
            nullable: false,
            rules: Text::new(),
            hashes: [0; MAX_RULES],
            n_rules: 0,
            externals: [External::Verbatim; MAX_EXTERNALS],
            n_externals: 0,
        }
    }

    /// The name of the rule matching one value.
    pub const fn name(&self) -> &Name {
        &self.name
    }

    /// What kind of JSON value it matches.
    pub const fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether `null` is also accepted (an `Option`).
    pub const fn nullable(&self) -> bool {
        self.nullable
    }

    /// The rule definitions, one per line.
    pub const fn rules(&self) -> &str {
        self.rules.as_str()
    }

    /// Sets the rule that matches one value, and its kind.
    pub const fn root(mut self, name: Name, kind: Kind) -> Self {
        self.name = name;
        self.kind = kind;
        self
    }

    /// Marks the value as nullable.
    pub const fn with_nullable(mut self, nullable: bool) -> Self {
        self.nullable = nullable;
        self
    }

    const fn has(&self, h: u64) -> bool {
        let mut i = 0;
        while i < self.n_rules {
            if self.hashes[i] == h {
                return true;
            }
            i += 1;
        }
        false
    }

    const fn add_line(mut self, name: &str, line: &[u8]) -> Self {
        let h = fnv1a(name.as_bytes());
        if self.has(h) {
            return self;
        }
        if self.n_rules >= MAX_RULES {
            panic!(
                "instructor: grammar has too many rules (see instructor_core::grammar::MAX_RULES)"
            );
        }
        self.hashes[self.n_rules] = h;
        self.n_rules += 1;
        self.rules.push_bytes(line);
        if line.is_empty() || line[line.len() - 1] != b'\n' {
            self.rules.push(b'\n');
        }
        self
    }

    /// Defines rule `name ::= body` unless a rule of that name exists already.
    pub const fn define(self, name: &Name, body: &Text<BODY_CAP>) -> Self {
        let mut line = Text::<BODY_CAP>::new();
        line = line.text(name).raw(" ::= ").text(body).byte(b'\n');
        self.add_line(name.as_str(), line.as_bytes())
    }

    /// Adds rule definitions given as text (`name ::= body` lines), skipping names already defined.
    pub const fn define_text(mut self, rules: &str) -> Self {
        let b = rules.as_bytes();
        let mut start = 0;
        while start < b.len() {
            let mut end = start;
            while end < b.len() && b[end] != b'\n' {
                end += 1;
            }
            let (line, _) = b.split_at(end);
            let (_, line) = line.split_at(start);
            let mut name_end = 0;
            while name_end < line.len() && line[name_end] != b' ' {
                name_end += 1;
            }
            if !line.is_empty() {
                let (name, _) = line.split_at(name_end);
                let name = match core::str::from_utf8(name) {
                    Ok(n) => n,
                    Err(_) => panic!("instructor: rule name is not UTF-8"),
                };
                // `line` stops before its newline; the rule text keeps one.
                let (with_nl, _) = b.split_at(if end < b.len() { end + 1 } else { end });
                let (_, with_nl) = with_nl.split_at(start);
                self = self.add_line(name, with_nl);
            }
            start = end + 1;
        }
        self
    }

    /// Adds every rule of `other` not already defined here. Keeps this grammar's root.
    pub const fn merge(mut self, other: &Grammar) -> Self {
        let mut i = 0;
        while i < other.n_externals {
            self = self.external(other.externals[i]);
            i += 1;
        }
        if self.n_rules == 0 {
            // Fast path: copying the whole value is cheaper than re-adding rule by rule.
            let mut out = *other;
            out.name = self.name;
            out.kind = self.kind;
            out.nullable = self.nullable;
            return out;
        }
        self.define_text(other.rules())
    }

    /// Records that the rules refer to the rule of `e`, which the extraction defines at run time
    /// (once per extraction) from its source text or choice sets.
    pub const fn external(mut self, e: External) -> Self {
        let mut i = 0;
        while i < self.n_externals {
            if self.externals[i].same(&e) {
                return self;
            }
            i += 1;
        }
        if self.n_externals >= MAX_EXTERNALS {
            panic!("instructor: a type uses too many choice sets (see instructor_core::grammar::MAX_EXTERNALS)");
        }
        self.externals[self.n_externals] = e;
        self.n_externals += 1;
        self
    }

    /// The rules this grammar refers to that the extraction must define: its verbatim source and
    /// its choice sets, each once.
    pub const fn externals(&self) -> &[External] {
        self.externals.split_at(self.n_externals).0
    }

    /// The full grammar text for this type as the top-level value: `root ::= name` and all rules.
    pub const fn with_root_rule(&self) -> Text<CAP> {
        Text::<CAP>::new()
            .raw("root ::= ")
            .text(&self.name)
            .byte(b'\n')
            .text(&self.rules)
    }
}

impl Default for Grammar {
    fn default() -> Self {
        Self::new()
    }
}

/// A GBNF rule body that matches exactly the decimal integers in `min..=max`, without leading
/// zeros and without `-0`.
pub const fn int_range_body(min: Int, max: Int) -> Text<BODY_CAP> {
    if !min.le(max) {
        panic!("instructor: integer range with min > max");
    }
    let mut out = Text::<BODY_CAP>::new();
    if max.neg {
        // Both negative: "-" followed by magnitudes |max|..=|min|.
        out = out.raw("\"-\" ( ");
        out = nonneg_range(out, max.mag, min.mag);
        return out.raw(" )");
    }
    if min.neg {
        out = out.raw("\"-\" ( ");
        out = nonneg_range(out, 1, min.mag);
        out = out.raw(" ) | ");
        return nonneg_range(out, 0, max.mag);
    }
    nonneg_range(out, min.mag, max.mag)
}

/// The largest `d`-digit number, when it fits in a `u128`.
const fn nines(d: usize) -> Option<u128> {
    if d >= 39 {
        None
    } else {
        Some(pow10(d) - 1)
    }
}

const fn is_nines(v: u128, d: usize) -> bool {
    match nines(d) {
        Some(n) => n == v,
        None => false,
    }
}

const fn pow10(k: usize) -> u128 {
    let mut p: u128 = 1;
    let mut i = 0;
    while i < k {
        p *= 10;
        i += 1;
    }
    p
}

/// Alternatives matching `lo..=hi` (both non-negative), split by digit count. Digit counts
/// that are entirely inside the range collapse into one `[1-9] [0-9]{a,b}` alternative.
const fn nonneg_range(mut out: Text<BODY_CAP>, lo: u128, hi: u128) -> Text<BODY_CAP> {
    let mut lo_digits = [0u8; 40];
    let mut hi_digits = [0u8; 40];
    let dlo = decimal(lo, &mut lo_digits);
    let dhi = decimal(hi, &mut hi_digits);
    let mut first = true;
    let mut d = dlo;
    while d <= dhi {
        let a = if d == dlo { lo } else { pow10(d - 1) };
        let b = if d == dhi { hi } else { pow10(d) - 1 };
        let full = d > 1 && a == pow10(d - 1) && is_nines(b, d);
        if !first {
            out = out.raw(" | ");
        }
        first = false;
        if full {
            // Every number of d..=e digits: find how far the run of full digit counts goes.
            let mut e = d;
            while e < dhi && (e + 1 < dhi || is_nines(hi, dhi)) {
                e += 1;
            }
            out = out.raw("[1-9] [0-9]");
            if d - 1 == e - 1 {
                if d - 1 > 1 {
                    out = out.byte(b'{').uint((d - 1) as u128).byte(b'}');
                }
            } else {
                out = out
                    .byte(b'{')
                    .uint((d - 1) as u128)
                    .byte(b',')
                    .uint((e - 1) as u128)
                    .byte(b'}');
            }
            d = e + 1;
            continue;
        }
        let mut ad = [0u8; 40];
        let mut bd = [0u8; 40];
        decimal(a, &mut ad);
        decimal(b, &mut bd);
        out = same_len(out, &ad, &bd, d, 0, Text::new(), true);
        d += 1;
    }
    out
}

/// Appends alternatives matching the `n`-digit numbers from `a` to `b` (digit arrays) whose
/// first `i` digits are the fixed `prefix`.
const fn same_len(
    mut out: Text<BODY_CAP>,
    a: &[u8; 40],
    b: &[u8; 40],
    n: usize,
    i: usize,
    prefix: Text<64>,
    first: bool,
) -> Text<BODY_CAP> {
    if i == n {
        if !first {
            out = out.raw(" | ");
        }
        return out.byte(b'"').text(&prefix).byte(b'"');
    }
    if a[i] == b[i] {
        return same_len(out, a, b, n, i + 1, prefix.byte(a[i]), first);
    }
    let rest = n - i - 1;
    let a_low = all(a, i + 1, n, b'0');
    let b_high = all(b, i + 1, n, b'9');
    let mut first = first;
    // The numbers starting with a[i] that cannot take every following digit.
    let mut mid_lo = a[i];
    if !a_low {
        let mut nines = *a;
        let mut k = i + 1;
        while k < n {
            nines[k] = b'9';
            k += 1;
        }
        out = same_len(out, a, &nines, n, i + 1, prefix.byte(a[i]), first);
        first = false;
        mid_lo = a[i] + 1;
    }
    let mut mid_hi = b[i];
    if !b_high {
        mid_hi = b[i] - 1;
    }
    if mid_lo <= mid_hi {
        if !first {
            out = out.raw(" | ");
        }
        first = false;
        if !prefix.is_empty() {
            out = out.byte(b'"').text(&prefix).raw("\" ");
        }
        out = if mid_lo == mid_hi {
            out.byte(b'"').byte(mid_lo).byte(b'"')
        } else {
            out.byte(b'[')
                .byte(mid_lo)
                .byte(b'-')
                .byte(mid_hi)
                .byte(b']')
        };
        if rest == 1 {
            out = out.raw(" [0-9]");
        } else if rest > 1 {
            out = out.raw(" [0-9]{").uint(rest as u128).byte(b'}');
        }
    }
    if !b_high {
        let mut zeros = *b;
        let mut k = i + 1;
        while k < n {
            zeros[k] = b'0';
            k += 1;
        }
        out = same_len(out, &zeros, b, n, i + 1, prefix.byte(b[i]), first);
    }
    out
}

const fn all(d: &[u8; 40], from: usize, to: usize, v: u8) -> bool {
    let mut k = from;
    while k < to {
        if d[k] != v {
            return false;
        }
        k += 1;
    }
    true
}

/// A rule a compile-time grammar refers to without defining it: the extraction fills it in
/// from what is only known at run time. Both match one whole JSON string, quotes included.
///
/// Their names contain `--`, which no name built by [`name`] from Rust identifiers does, so they
/// never clash with a type's rules.
#[derive(Clone, Copy)]
pub enum External {
    /// `verbatim--src`: the strings copied verbatim from the extraction's source text.
    Verbatim,
    /// `choices--…`: one of the strings the caller gave under this set name.
    Choices(Name),
}

impl External {
    /// The name of the rule the grammar refers to.
    pub const fn rule(&self) -> Name {
        match self {
            External::Verbatim => Name::from_str("verbatim--src"),
            External::Choices(set) => choices_rule(set.as_str()),
        }
    }

    const fn same(&self, other: &External) -> bool {
        match (self, other) {
            (External::Verbatim, External::Verbatim) => true,
            (External::Choices(a), External::Choices(b)) => a.eq_str(b.as_str()),
            _ => false,
        }
    }
}

/// The rule name of the choice set `set`: its characters GBNF allows plus a hash of the whole,
/// so `a_b` and `a-b` stay apart.
pub const fn choices_rule(set: &str) -> Name {
    let h = fnv1a(set.as_bytes());
    let mut hex = Text::<8>::new();
    let mut k = 0;
    while k < 6 {
        hex = hex.byte(hex_digit(((h >> (4 * (5 - k))) & 15) as u8));
        k += 1;
    }
    name(&["choices-", set, hex.as_str()])
}

/// A numeric bound from a `range(...)` attribute, in constant evaluation.
#[derive(Clone, Copy, Debug)]
pub enum RangeBound {
    /// No bound.
    None,
    /// An integer literal.
    Int(Int),
    /// A float literal.
    Float(f64),
}

/// The constraints of one field, as the derive passes them to [`constrain`].
#[derive(Clone, Copy, Debug)]
pub struct Constraints {
    /// `range(min = …)`.
    pub min: RangeBound,
    /// `range(max = …)`.
    pub max: RangeBound,
    /// `length(min = …, max = …)` in characters: `(min, max)`, `max` optional.
    pub length: Option<(usize, Option<usize>)>,
    /// `items(min = …, max = …)`: `(min, max)`, `max` optional.
    pub items: Option<(usize, Option<usize>)>,
    /// `pattern = "…"`, already translated by the derive into a GBNF expression over the
    /// characters of the JSON string (without the quotes).
    pub pattern: Option<&'static str>,
}

impl Constraints {
    /// No constraint.
    pub const NONE: Constraints = Constraints {
        min: RangeBound::None,
        max: RangeBound::None,
        length: None,
        items: None,
        pattern: None,
    };
}

const fn repeat_suffix(out: Text<BODY_CAP>, min: usize, max: Option<usize>) -> Text<BODY_CAP> {
    let out = out.byte(b'{').uint(min as u128).byte(b',');
    match max {
        Some(m) => out.uint(m as u128).byte(b'}'),
        None => out.byte(b'}'),
    }
}

/// The grammar of a field whose type has grammar `base`, narrowed by `c`, as a new rule called
/// `name`. A constraint that does not fit the type is a compile error (a constant-evaluation
/// panic, reported at the attribute).
pub const fn constrain(base: &Grammar, name: Name, c: Constraints) -> Grammar {
    let has_range = !matches!(c.min, RangeBound::None) || !matches!(c.max, RangeBound::None);
    if !has_range && c.length.is_none() && c.items.is_none() && c.pattern.is_none() {
        return *base;
    }
    let mut body = Text::<BODY_CAP>::new();
    let mut kind = base.kind;
    let mut g = *base;
    match base.kind {
        Kind::Integer { min, max } => {
            if c.length.is_some() || c.pattern.is_some() {
                panic!("instructor: `length` and `pattern` need a string field, not an integer");
            }
            if c.items.is_some() {
                panic!("instructor: `items` needs a sequence field (Vec, array), not an integer");
            }
            let lo = match c.min {
                RangeBound::Int(v) => {
                    if !min.le(v) {
                        panic!("instructor: `range` min is below the smallest value of the field's integer type");
                    }
                    if !v.le(max) {
                        panic!("instructor: `range` min is above the largest value of the field's integer type");
                    }
                    v
                }
                RangeBound::Float(_) => {
                    panic!("instructor: an integer field needs integer `range` bounds")
                }
                RangeBound::None => min,
            };
            let hi = match c.max {
                RangeBound::Int(v) => {
                    if !v.le(max) {
                        panic!("instructor: `range` max is above the largest value of the field's integer type");
                    }
                    if !min.le(v) {
                        panic!("instructor: `range` max is below the smallest value of the field's integer type");
                    }
                    v
                }
                RangeBound::Float(_) => {
                    panic!("instructor: an integer field needs integer `range` bounds")
                }
                RangeBound::None => max,
            };
            if !lo.le(hi) {
                panic!("instructor: `range` min is greater than max");
            }
            body = body.raw("( ").text(&int_range_body(lo, hi)).raw(" )");
            kind = Kind::Integer { min: lo, max: hi };
        }
        Kind::Float { single } => {
            if c.length.is_some() || c.pattern.is_some() || c.items.is_some() {
                panic!("instructor: only `range` applies to a float field");
            }
            // The grammar can only enforce the sign; the bounds are checked after parsing.
            let non_negative = match c.min {
                RangeBound::Int(v) => !v.neg,
                RangeBound::Float(f) => f >= 0.0,
                RangeBound::None => false,
            };
            body = match (single, non_negative) {
                (true, true) => body.raw("jfloat32-nn"),
                (true, false) => body.raw("jfloat32"),
                (false, true) => body.raw("jfloat-nn"),
                (false, false) => body.raw("jfloat"),
            };
            g = g.define_text(if single { FLOAT32_RULES } else { FLOAT_RULES });
        }
        Kind::String => {
            if has_range {
                panic!("instructor: `range` needs a number field, not a string");
            }
            if c.items.is_some() {
                panic!("instructor: `items` needs a sequence field (Vec, array), not a string");
            }
            body = body.raw("\"\\\"\" ");
            if let Some(p) = c.pattern {
                body = body.raw("( ").raw(p).raw(" )");
            } else if let Some((min, max)) = c.length {
                if let Some(m) = max {
                    if m < min {
                        panic!("instructor: `length` min is greater than max");
                    }
                }
                body = repeat_suffix(body.raw("jchar"), min, max);
            } else {
                body = body.raw("jchar*");
            }
            body = body.raw(" \"\\\"\"");
            g = g.define_text(JSON_CHAR_RULES);
        }
        Kind::Array { item, .. } => {
            if has_range || c.length.is_some() || c.pattern.is_some() {
                panic!("instructor: only `items` applies to a sequence field");
            }
            let (min, max) = match c.items {
                Some(b) => b,
                None => (0, None),
            };
            if let Some(m) = max {
                if m < min {
                    panic!("instructor: `items` min is greater than max");
                }
            }
            body = body.raw("\"[\" ");
            if let Some(0) = max {
                // Only the empty list.
            } else {
                let open = if min == 0 { "( " } else { "" };
                body = body
                    .raw(open)
                    .text(&item)
                    .raw(" ( \",\" ")
                    .raw(SPACE)
                    .raw(" ")
                    .text(&item)
                    .raw(" )");
                let rmin = if min == 0 { 0 } else { min - 1 };
                let rmax = match max {
                    Some(m) => Some(m - 1),
                    None => None,
                };
                body = repeat_suffix(body, rmin, rmax);
                if min == 0 {
                    body = body.raw(" )?");
                }
            }
            body = body.raw(" \"]\"");
        }
        Kind::Bool | Kind::Object { .. } | Kind::Other => {
            panic!("instructor: constraint attributes apply to numbers (`range`), strings (`length`, `pattern`) and sequences (`items`) only");
        }
    }
    if base.nullable {
        body = body.raw(" | \"null\"");
    }
    g.define(&name, &body).root(name, kind)
}

/// Rules for JSON numbers parsed as floats. They accept every finite number `serde_json`
/// writes (plain notation up to 16 integer digits and 24 fraction digits; scientific notation
/// with one integer digit, up to 17 fraction digits) and keep digit counts bounded so a runaway
/// number cannot fill the context. Positive exponents stop at 307 so parsing never overflows to
/// an error; magnitudes of 1e308 and above are therefore not generated.
pub const FLOAT_RULES: &str = concat!(
    "jfloat ::= \"-\"? jfloat-nn\n",
    "jfloat-nn ::= ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,24} )? | [1-9] ( \".\" [0-9]{1,17} )? [eE] ( \"+\"? jexp | \"-\" [0-9]{1,3} )\n",
    "jexp ::= [0-9] | [1-9] [0-9] | [12] [0-9]{2} | \"30\" [0-7]\n",
);

/// [`FLOAT_RULES`] for `f32`: positive exponents stop at 37, so a value never overflows `f32`
/// (magnitudes of 1e38 and above are not generated).
pub const FLOAT32_RULES: &str = concat!(
    "jfloat32 ::= \"-\"? jfloat32-nn\n",
    "jfloat32-nn ::= ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,24} )? | [1-9] ( \".\" [0-9]{1,17} )? [eE] ( \"+\"? jexp32 | \"-\" [0-9]{1,3} )\n",
    "jexp32 ::= [0-9] | [12] [0-9] | \"3\" [0-7]\n",
);

/// The first `N` bytes of `t`, as an exactly-sized array (for `&'static str` constants that do
/// not carry the whole fixed capacity).
pub const fn trimmed<const N: usize>(t: &Text<CAP>) -> [u8; N] {
    let mut out = [0u8; N];
    let b = t.as_bytes();
    let mut i = 0;
    while i < N {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// `bytes` as `&str` in constant evaluation (they come from a [`Text`], so they are UTF-8).
pub const fn str_of(bytes: &'static [u8]) -> &'static str {
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => panic!("instructor: grammar text is not UTF-8"),
    }
}
