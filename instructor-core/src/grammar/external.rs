//! Rules a compile-time grammar names but the extraction defines at run time (a verbatim
//! source, a choice set): their names, and nothing of their bodies (`crate::grounding` owns those).

use super::name::{name, Name};
use super::text::{fnv1a, hex_digit, Text};

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

    pub(super) const fn same(&self, other: &External) -> bool {
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
