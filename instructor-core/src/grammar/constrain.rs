//! Field constraints (`range`, `length`, `items`, `pattern`) narrowing a type's grammar at
//! compile time: the one [`Bound`] type, [`Constraints`] as the derive writes them, and
//! [`constrain`], which turns a misfit (a `length` on an integer) into a compile error.

use super::int::{int_range_body, Int};
use super::name::Name;
use super::text::Text;
use super::{Grammar, Kind, BODY_CAP, FLOAT32_RULES, FLOAT_RULES, JSON_CHAR_RULES, SPACE};

/// A numeric bound as written in a `range(...)` attribute: the one bound type, read by
/// [`constrain`] in constant evaluation and by `validate::check_range` after parsing.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// An integer literal.
    Int(Int),
    /// A float literal.
    Float(f64),
}

/// The constraints of one field, as the derive passes them to [`constrain`].
#[derive(Clone, Copy, Debug)]
pub struct Constraints {
    /// `range(min = …)`.
    pub min: Option<Bound>,
    /// `range(max = …)`.
    pub max: Option<Bound>,
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
        min: None,
        max: None,
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
    let has_range = c.min.is_some() || c.max.is_some();
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
                Some(Bound::Int(v)) => {
                    if !min.le(v) {
                        panic!("instructor: `range` min is below the smallest value of the field's integer type");
                    }
                    if !v.le(max) {
                        panic!("instructor: `range` min is above the largest value of the field's integer type");
                    }
                    v
                }
                Some(Bound::Float(_)) => {
                    panic!("instructor: an integer field needs integer `range` bounds")
                }
                None => min,
            };
            let hi = match c.max {
                Some(Bound::Int(v)) => {
                    if !v.le(max) {
                        panic!("instructor: `range` max is above the largest value of the field's integer type");
                    }
                    if !min.le(v) {
                        panic!("instructor: `range` max is below the smallest value of the field's integer type");
                    }
                    v
                }
                Some(Bound::Float(_)) => {
                    panic!("instructor: an integer field needs integer `range` bounds")
                }
                None => max,
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
                Some(Bound::Int(v)) => !v.neg,
                Some(Bound::Float(f)) => f >= 0.0,
                None => false,
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
