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
//!
//! The parts, one file each: [`text`] (the fixed-capacity buffer and the one home of GBNF-literal
//! and JSON-string escaping), [`name`] (rule names), [`int`] (integers and the rule matching an
//! integer range), [`external`] (rules filled in at run time), [`constrain`] (field constraints
//! narrowing a type's grammar). This file holds [`Grammar`] itself: the rule set and how two are
//! merged. Nothing here runs at extraction time except through [`push_lit`].

mod constrain;
mod external;
mod int;
mod name;
mod text;

pub use constrain::{constrain, Bound, Constraints};
pub use external::{choices_rule, External};
pub use int::{int_range_body, Int};
pub use name::{name, user_type_name, Name};
pub use text::{fnv1a, json_escape, push_json_str, push_lit, Text};

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
