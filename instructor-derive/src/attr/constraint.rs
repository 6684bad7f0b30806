//! The constraint attributes: `range(min, max)`, `length(min, max)`, `items(min, max)` and
//! `pattern = "…"` as written (numbers, counts, the pattern translated to GBNF), with spans for
//! error messages. Must not decide which field types they fit (core's `grammar::constrain`
//! does that at compile time).

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Lit, UnOp};

use super::*;

/// A number in a `range(...)` bound.
#[derive(Clone, Copy, Debug)]
pub enum Num {
    /// An integer literal, as sign and magnitude.
    Int {
        /// True for negative values (never for zero).
        neg: bool,
        /// The absolute value.
        mag: u128,
    },
    /// A float literal.
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int { neg, mag } => {
                let m = mag as f64;
                if neg {
                    -m
                } else {
                    m
                }
            }
            Num::Float(f) => f,
        }
    }

    /// `self > other`, exactly for two integers.
    fn gt(self, other: Num) -> bool {
        match (self, other) {
            (Num::Int { neg: an, mag: am }, Num::Int { neg: bn, mag: bm }) => match (an, bn) {
                (false, true) => true,
                (true, false) => false,
                (false, false) => am > bm,
                (true, true) => am < bm,
            },
            _ => self.as_f64() > other.as_f64(),
        }
    }
}

/// `range(min = …, max = …)`.
#[derive(Clone, Debug)]
pub struct RangeAttr {
    /// Lower bound, inclusive.
    pub min: Option<Num>,
    /// Upper bound, inclusive.
    pub max: Option<Num>,
    /// The `range` keyword, where a mismatch with the field type is reported.
    pub span: Span,
}

/// `length(min = …, max = …)` or `items(min = …, max = …)`.
#[derive(Clone, Debug)]
pub struct CountAttr {
    /// Lower bound, inclusive.
    pub min: Option<usize>,
    /// Upper bound, inclusive.
    pub max: Option<usize>,
    /// The keyword's span.
    pub span: Span,
}

/// `pattern = "regex"`, with its grammar translation.
#[derive(Clone, Debug)]
pub struct PatternAttr {
    /// The regex as written.
    pub regex: String,
    /// The GBNF expression over the characters of the JSON string.
    pub gbnf: String,
    /// The keyword's span.
    pub span: Span,
}

/// The constraint attributes of one field.
#[derive(Clone, Debug, Default)]
pub struct Constraints {
    /// `range(...)`.
    pub range: Option<RangeAttr>,
    /// `length(...)`.
    pub length: Option<CountAttr>,
    /// `items(...)`.
    pub items: Option<CountAttr>,
    /// `pattern = "..."`.
    pub pattern: Option<PatternAttr>,
}

impl Constraints {
    /// True when the grammar of the field must be narrowed.
    pub fn any(&self) -> bool {
        self.range.is_some()
            || self.length.is_some()
            || self.items.is_some()
            || self.pattern.is_some()
    }

    /// The span a constant-evaluation failure of the narrowed grammar is reported at: the first
    /// constraint written.
    pub fn span(&self) -> Span {
        let spans = [
            self.range.as_ref().map(|r| r.span),
            self.length.as_ref().map(|c| c.span),
            self.items.as_ref().map(|c| c.span),
            self.pattern.as_ref().map(|p| p.span),
        ];
        spans
            .into_iter()
            .flatten()
            .next()
            .unwrap_or_else(Span::call_site)
    }
}

pub(super) fn parse_range(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<RangeAttr> {
    let mut out = RangeAttr {
        min: None,
        max: None,
        span: meta.path.span(),
    };
    let mut max_expr = None;
    meta.parse_nested_meta(|inner| {
        let expr: Expr = inner.value()?.parse()?;
        let num = number(&expr)?;
        if inner.path.is_ident("min") {
            out.min = Some(num);
        } else if inner.path.is_ident("max") {
            out.max = Some(num);
            max_expr = Some(expr);
        } else {
            return Err(syn::Error::new_spanned(
                &inner.path,
                "expected `min = …` or `max = …`",
            ));
        }
        Ok(())
    })?;
    match (out.min, out.max) {
        (None, None) => {
            cx.error_spanned_by(&meta.path, "`range` needs `min = …`, `max = …` or both")
        }
        (Some(min), Some(max)) if min.gt(max) => {
            cx.error_spanned_by(max_expr, "`range` max is smaller than min");
        }
        _ => {}
    }
    Ok(out)
}

pub(super) fn parse_count(cx: &Ctxt, meta: &ParseNestedMeta, key: &str) -> syn::Result<CountAttr> {
    let mut out = CountAttr {
        min: None,
        max: None,
        span: meta.path.span(),
    };
    let mut max_lit = None;
    meta.parse_nested_meta(|inner| {
        let lit: syn::LitInt = inner.value()?.parse()?;
        let n = lit.base10_parse::<usize>()?;
        if inner.path.is_ident("min") {
            out.min = Some(n);
        } else if inner.path.is_ident("max") {
            out.max = Some(n);
            max_lit = Some(lit);
        } else {
            return Err(syn::Error::new_spanned(
                &inner.path,
                "expected `min = …` or `max = …`",
            ));
        }
        Ok(())
    })?;
    match (out.min, out.max) {
        (None, None) => cx.error_spanned_by(
            &meta.path,
            format_args!("`{key}` needs `min = …`, `max = …` or both"),
        ),
        (Some(min), Some(max)) if min > max => {
            cx.error_spanned_by(max_lit, format_args!("`{key}` max is smaller than min"));
        }
        _ => {}
    }
    Ok(out)
}

/// An integer or float literal, optionally negated.
pub(super) fn number(expr: &Expr) -> syn::Result<Num> {
    match unwrap_group(expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => Ok(Num::Int {
            neg: false,
            mag: i.base10_parse()?,
        }),
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => Ok(Num::Float(f.base10_parse()?)),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr: inner,
            ..
        }) => match number(inner)? {
            Num::Int { mag, .. } => Ok(Num::Int { neg: mag != 0, mag }),
            Num::Float(f) => Ok(Num::Float(-f)),
        },
        other => Err(syn::Error::new_spanned(other, "expected a number literal")),
    }
}
