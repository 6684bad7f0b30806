//! Reading the attributes on the input: `#[instructor(...)]`, serde's `#[serde(...)]`, and doc
//! comments.
//!
//! This module only parses; it records what was written (with spans for error messages) and
//! leaves the meaning (final JSON names, optionality, checks across fields) to `ast.rs`.
//!
//! serde's attributes are read because the grammar must accept only what `serde_json` will
//! deserialize. Attributes that change deserialization in ways a grammar cannot follow
//! (`flatten`, `deserialize_with`, ...) are rejected, and so is any key this module does not
//! know: silently ignoring one could make the grammar produce JSON that serde then rejects.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ExprUnary, Lit, LitStr, UnOp};

use crate::case::RenameRule;
use crate::ctxt::Ctxt;
use crate::regex_gbnf;

/// Where an attribute was written: decides which keys are allowed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Container,
    Variant,
    Field,
}

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

/// Attributes of the deriving type itself.
#[derive(Default)]
pub struct ContainerAttrs {
    /// `#[instructor(description = "…")]`, else the doc comment.
    pub description: Option<String>,
    /// Bare `#[instructor(validate)]`: call the type's `Validate` impl.
    pub validate_self: bool,
    /// `#[instructor(validate = path)]` hooks, in order.
    pub validate_fns: Vec<syn::Path>,
    /// `#[serde(rename_all = …)]` (the deserialize side).
    pub rename_all: RenameRule,
    /// `#[serde(rename_all_fields = …)]`.
    pub rename_all_fields: RenameRule,
    /// `#[serde(tag = "…")]`.
    pub tag: Option<LitStr>,
    /// `#[serde(content = "…")]`.
    pub content: Option<LitStr>,
    /// `#[serde(untagged)]`.
    pub untagged: Option<Span>,
    /// `#[serde(transparent)]`.
    pub transparent: Option<Span>,
    /// `#[serde(default)]` or `#[serde(default = "…")]`: every field may be missing.
    pub default: bool,
    /// `#[instructor(allow_repeats)]`: lists anywhere in the type may repeat items.
    pub allow_repeats: bool,
}

/// Attributes of an enum variant.
#[derive(Default)]
pub struct VariantAttrs {
    /// `#[instructor(description = "…")]`, else the doc comment.
    pub description: Option<String>,
    /// The deserialize name from `#[serde(rename …)]`, with the literal for error spans.
    pub rename: Option<LitStr>,
    /// `#[serde(rename_all = …)]` for this variant's fields.
    pub rename_all: Option<RenameRule>,
    /// `#[serde(skip)]` or `#[serde(skip_deserializing)]`.
    pub skip: bool,
}

/// Attributes of a field.
#[derive(Default)]
pub struct FieldAttrs {
    /// `#[instructor(description = "…")]`, else the doc comment.
    pub description: Option<String>,
    /// The deserialize name from `#[serde(rename …)]`.
    pub rename: Option<LitStr>,
    /// Other names serde accepts.
    pub aliases: Vec<String>,
    /// `#[serde(default)]` / `#[serde(default = "…")]`.
    pub default: bool,
    /// `#[serde(skip)]` / `#[serde(skip_deserializing)]`.
    pub skip: bool,
    /// Constraint attributes.
    pub constraints: Constraints,
    /// `#[instructor(validate = path)]`.
    pub validate: Option<syn::Path>,
    /// `#[instructor(allow_repeats)]`: lists in this field's value may repeat items.
    pub allow_repeats: bool,
    /// The first `#[instructor]` attribute, to point at when it cannot apply (skipped fields).
    pub instructor_attr: Option<Attribute>,
    /// `#[instructor(verbatim)]` or `#[instructor(choices = "…")]`.
    pub ground: Option<crate::grounding::GroundAttr>,
}

/// Reads the container's attributes. `is_enum` / `fields_named` say what serde allows.
pub fn container(cx: &Ctxt, attrs: &[Attribute], is_enum: bool) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    let mut description = None;
    for attr in attrs {
        if attr.path().is_ident("instructor") {
            parse_instructor(cx, attr, Position::Container, |meta, key| match key {
                "description" => set_description(cx, meta, &mut description),
                "allow_repeats" => {
                    set_flag(cx, meta, &mut out.allow_repeats);
                    Ok(true)
                }
                "validate" => {
                    if meta.input.peek(syn::Token![=]) {
                        out.validate_fns.push(meta.value()?.parse()?);
                    } else if out.validate_self {
                        cx.syn_error(meta.error("duplicate `validate`"));
                    } else {
                        out.validate_self = true;
                    }
                    Ok(true)
                }
                _ => Ok(false),
            });
        } else if attr.path().is_ident("serde") {
            parse_serde(cx, attr, Position::Container, |meta, key| {
                match key {
                    // Only the type's own name changes: it never appears in the JSON.
                    "rename" => skip_value(meta)?,
                    "rename_all" => {
                        if let Some(rule) = rename_rule(cx, meta)? {
                            out.rename_all = rule;
                        }
                    }
                    "rename_all_fields" => {
                        if let Some(rule) = rename_rule(cx, meta)? {
                            out.rename_all_fields = rule;
                        }
                    }
                    "tag" => {
                        let lit = lit_str(meta)?;
                        if !is_enum {
                            cx.error_spanned_by(
                                &meta.path,
                                "instructor: `#[serde(tag = \"…\")]` on a struct is not supported; \
                                 the grammar cannot produce the tag serde adds",
                            );
                        }
                        out.tag = Some(lit);
                    }
                    "content" => out.content = Some(lit_str(meta)?),
                    "untagged" => out.untagged = Some(meta.path.span()),
                    "transparent" => out.transparent = Some(meta.path.span()),
                    "default" => {
                        skip_value(meta)?;
                        out.default = true;
                    }
                    // These change nothing about what deserializes.
                    "deny_unknown_fields" => {}
                    "crate" | "expecting" | "into" => skip_value(meta)?,
                    _ => return Ok(false),
                }
                Ok(true)
            });
        }
    }
    out.description = description.or_else(|| doc(attrs));
    out
}

/// Reads a variant's attributes.
pub fn variant(cx: &Ctxt, attrs: &[Attribute]) -> VariantAttrs {
    let mut out = VariantAttrs::default();
    let mut description = None;
    for attr in attrs {
        if attr.path().is_ident("instructor") {
            parse_instructor(cx, attr, Position::Variant, |meta, key| match key {
                "description" => set_description(cx, meta, &mut description),
                _ => Ok(false),
            });
        } else if attr.path().is_ident("serde") {
            parse_serde(cx, attr, Position::Variant, |meta, key| {
                match key {
                    // Aliases are accepted by serde; the grammar writes the main name only.
                    "rename" => {
                        let names = de_names(meta)?;
                        take_names(names, &mut out.rename, &mut Vec::new());
                    }
                    "alias" => drop(lit_str(meta)?),
                    "rename_all" => out.rename_all = rename_rule(cx, meta)?,
                    "skip" | "skip_deserializing" => out.skip = true,
                    // Serialization only.
                    "skip_serializing" => {}
                    "serialize_with" => skip_value(meta)?,
                    _ => return Ok(false),
                }
                Ok(true)
            });
        }
    }
    out.description = description.or_else(|| doc(attrs));
    out
}

/// Reads a field's attributes.
pub fn field(cx: &Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    let mut description = None;
    for attr in attrs {
        if attr.path().is_ident("instructor") {
            out.instructor_attr.get_or_insert_with(|| attr.clone());
            let c = &mut out.constraints;
            let validate = &mut out.validate;
            let allow_repeats = &mut out.allow_repeats;
            let ground = &mut out.ground;
            parse_instructor(cx, attr, Position::Field, |meta, key| {
                match key {
                    "verbatim" | "choices" => crate::grounding::parse(cx, meta, key, ground)?,
                    "description" => return set_description(cx, meta, &mut description),
                    "allow_repeats" => set_flag(cx, meta, allow_repeats),
                    "validate" => {
                        if !meta.input.peek(syn::Token![=]) {
                            cx.syn_error(meta.error(
                                "on a field, `validate` names a function: `validate = path::to_fn` \
                                 (a `fn(&FieldType) -> Result<(), String>`)",
                            ));
                            return Ok(true);
                        }
                        let path: syn::Path = meta.value()?.parse()?;
                        if validate.is_some() {
                            cx.error_spanned_by(&meta.path, "duplicate `validate`");
                        }
                        *validate = Some(path);
                    }
                    "range" => {
                        let r = parse_range(cx, meta)?;
                        if c.range.is_some() {
                            cx.error_spanned_by(&meta.path, "duplicate `range`");
                        }
                        c.range = Some(r);
                    }
                    "length" | "items" => {
                        let count = parse_count(cx, meta, key)?;
                        let slot = if key == "length" {
                            &mut c.length
                        } else {
                            &mut c.items
                        };
                        if slot.is_some() {
                            cx.error_spanned_by(&meta.path, format_args!("duplicate `{key}`"));
                        }
                        *slot = Some(count);
                    }
                    "pattern" => {
                        let lit = lit_str(meta)?;
                        let regex = lit.value();
                        match regex_gbnf::translate(&regex) {
                            Ok(gbnf) => {
                                if c.pattern.is_some() {
                                    cx.error_spanned_by(&meta.path, "duplicate `pattern`");
                                }
                                c.pattern = Some(PatternAttr {
                                    regex,
                                    gbnf,
                                    span: meta.path.span(),
                                });
                            }
                            Err(msg) => cx.error_spanned_by(&lit, msg),
                        }
                    }
                    _ => return Ok(false),
                }
                Ok(true)
            });
        } else if attr.path().is_ident("serde") {
            parse_serde(cx, attr, Position::Field, |meta, key| {
                match key {
                    "rename" => {
                        let names = de_names(meta)?;
                        take_names(names, &mut out.rename, &mut out.aliases);
                    }
                    "alias" => out.aliases.push(lit_str(meta)?.value()),
                    "default" => {
                        skip_value(meta)?;
                        out.default = true;
                    }
                    "skip" | "skip_deserializing" => out.skip = true,
                    // Serialization only.
                    "skip_serializing" => {}
                    "skip_serializing_if" | "serialize_with" => skip_value(meta)?,
                    _ => return Ok(false),
                }
                Ok(true)
            });
        }
    }
    out.description = description.or_else(|| doc(attrs));
    out
}

/// A bare flag such as `allow_repeats`: no value, at most once.
fn set_flag(cx: &Ctxt, meta: &ParseNestedMeta, flag: &mut bool) {
    let key = path_key(&meta.path);
    if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
        cx.error_spanned_by(&meta.path, format_args!("`{key}` takes no value"));
        let _ = skip_value(meta);
    } else if *flag {
        cx.error_spanned_by(&meta.path, format_args!("duplicate `{key}`"));
    }
    *flag = true;
}

/// The keys each position accepts, for the "unknown key" message.
fn expected_keys(pos: Position) -> &'static str {
    match pos {
        Position::Container => "`description`, `validate`, `allow_repeats`",
        Position::Variant => "`description`",
        Position::Field => {
            "`description`, `range`, `length`, `items`, `pattern`, `validate`, `allow_repeats`, \
             `verbatim`, `choices`"
        }
    }
}

/// Walks one `#[instructor(...)]`; `f` handles a key and returns false for keys it does not know
/// in this position.
fn parse_instructor(
    cx: &Ctxt,
    attr: &Attribute,
    pos: Position,
    mut f: impl FnMut(&ParseNestedMeta, &str) -> syn::Result<bool>,
) {
    if let syn::Meta::Path(_) = attr.meta {
        cx.error_spanned_by(attr, "expected `#[instructor(...)]`");
        return;
    }
    let result = attr.parse_nested_meta(|meta| {
        let key = path_key(&meta.path);
        if f(&meta, &key)? {
            return Ok(());
        }
        let known = [
            "description",
            "validate",
            "allow_repeats",
            "range",
            "length",
            "items",
            "pattern",
            "verbatim",
            "choices",
        ];
        let msg = if known.contains(&key.as_str()) {
            let place = match pos {
                Position::Container => "on the type",
                Position::Variant => "on a variant",
                Position::Field => "on a field",
            };
            format!(
                "`{key}` cannot be used {place}; expected {}",
                expected_keys(pos)
            )
        } else {
            format!(
                "unknown instructor attribute `{key}`; expected {}",
                expected_keys(pos)
            )
        };
        cx.error_spanned_by(&meta.path, msg);
        skip_value(&meta)
    });
    if let Err(err) = result {
        cx.syn_error(err);
    }
}

/// Why serde attributes the grammar cannot follow are refused, by key.
fn unsupported_serde(key: &str) -> Option<&'static str> {
    Some(match key {
        "flatten" => "the grammar needs every key of an object up front",
        "deserialize_with" | "with" => "a custom deserializer accepts JSON the grammar cannot know",
        "from" | "try_from" => "the JSON is that of another type; derive ResponseModel on that type instead",
        "remote" => "the JSON is that of another type",
        "untagged" => "untagged variants inside a tagged enum are not supported; mark the whole enum `#[serde(untagged)]`",
        "other" => "a catch-all variant accepts tags the grammar cannot list",
        "borrow" => "borrowed data cannot be extracted; use owned types",
        "bound" => "custom bounds are not supported; the derive bounds every type parameter by `ResponseModel`",
        "field_identifier" | "variant_identifier" => "identifier enums are not supported",
        "getter" => "remote types are not supported",
        _ => return None,
    })
}

/// Walks one `#[serde(...)]`; `f` handles the keys that are fine here.
fn parse_serde(
    cx: &Ctxt,
    attr: &Attribute,
    pos: Position,
    mut f: impl FnMut(&ParseNestedMeta, &str) -> syn::Result<bool>,
) {
    if let syn::Meta::List(list) = &attr.meta {
        if list.tokens.is_empty() {
            return;
        }
    }
    let result = attr.parse_nested_meta(|meta| {
        let key = path_key(&meta.path);
        if f(&meta, &key)? {
            return Ok(());
        }
        let msg = match unsupported_serde(&key) {
            Some(why) => format!("instructor does not support `#[serde({key})]`: {why}"),
            None => {
                let place = match pos {
                    Position::Container => "container",
                    Position::Variant => "variant",
                    Position::Field => "field",
                };
                format!(
                    "instructor does not know the serde {place} attribute `{key}`, so it cannot \
                     promise a grammar that matches what serde accepts"
                )
            }
        };
        cx.error_spanned_by(&meta.path, msg);
        skip_value(&meta)
    });
    if let Err(err) = result {
        cx.syn_error(err);
    }
}

fn path_key(path: &syn::Path) -> String {
    path.get_ident().map(|i| i.to_string()).unwrap_or_else(|| {
        let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        segs.join("::")
    })
}

/// Consumes whatever follows a key (`= expr` or `(...)`) so parsing can go on after an error.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

fn lit_str(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    let expr: Expr = meta.value()?.parse()?;
    match unwrap_group(&expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new_spanned(other, "expected a string literal")),
    }
}

fn unwrap_group(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(g) => unwrap_group(&g.expr),
        Expr::Paren(p) => unwrap_group(&p.expr),
        other => other,
    }
}

fn set_description(
    cx: &Ctxt,
    meta: &ParseNestedMeta,
    slot: &mut Option<String>,
) -> syn::Result<bool> {
    let lit = lit_str(meta)?;
    if slot.is_some() {
        cx.error_spanned_by(&meta.path, "duplicate `description`");
    }
    *slot = Some(lit.value());
    Ok(true)
}

/// The deserialize names of `rename = "x"` or `rename(serialize = "a", deserialize = "b", ...)`.
fn de_names(meta: &ParseNestedMeta) -> syn::Result<Vec<LitStr>> {
    if meta.input.peek(syn::Token![=]) {
        return Ok(vec![lit_str(meta)?]);
    }
    let mut names = Vec::new();
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("deserialize") {
            names.push(lit_str(&inner)?);
        } else if inner.path.is_ident("serialize") {
            lit_str(&inner)?;
        } else {
            return Err(inner.error("expected `serialize = \"…\"` or `deserialize = \"…\"`"));
        }
        Ok(())
    })?;
    Ok(names)
}

/// serde takes the first deserialize name as the name and every one as an accepted alias.
fn take_names(names: Vec<LitStr>, rename: &mut Option<LitStr>, aliases: &mut Vec<String>) {
    for name in names {
        if rename.is_none() {
            *rename = Some(name);
        } else {
            aliases.push(name.value());
        }
    }
}

/// The deserialize rule of `rename_all = "…"` / `rename_all(deserialize = "…")`.
fn rename_rule(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<Option<RenameRule>> {
    let Some(lit) = de_names(meta)?.into_iter().next() else {
        return Ok(None);
    };
    match RenameRule::from_str(&lit.value()) {
        Some(rule) => Ok(Some(rule)),
        None => {
            // serde's derive reports it, listing the rules it knows.
            cx.serde_rejects();
            Ok(None)
        }
    }
}

fn parse_range(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<RangeAttr> {
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

fn parse_count(cx: &Ctxt, meta: &ParseNestedMeta, key: &str) -> syn::Result<CountAttr> {
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
fn number(expr: &Expr) -> syn::Result<Num> {
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

/// The doc comment as one description, the way rustdoc reads it: lines of a paragraph are joined
/// by spaces, paragraphs by a blank line; list items, headings and code blocks keep their lines.
pub fn doc(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta {
            if let Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
            {
                // `/** ... */` comments arrive as one attribute with embedded newlines.
                lines.extend(s.value().split('\n').map(|l| l.trim().to_owned()));
            }
        }
    }
    join_doc_lines(&lines)
}

fn join_doc_lines(lines: &[String]) -> Option<String> {
    let mut out = String::new();
    let mut in_code = false;
    let mut pending_blank = false;
    for line in lines {
        let fence = line.starts_with("```");
        if line.is_empty() && !in_code {
            pending_blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            if pending_blank {
                out.push_str("\n\n");
            } else if in_code || fence || starts_block(line) {
                out.push('\n');
            } else {
                out.push(' ');
            }
        }
        pending_blank = false;
        out.push_str(line);
        if fence {
            in_code = !in_code;
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Markdown lines that start a block of their own rather than continuing a paragraph.
fn starts_block(line: &str) -> bool {
    let bullet = ["- ", "* ", "+ ", "# ", "## ", "### ", "> ", "| "]
        .iter()
        .any(|p| line.starts_with(p));
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let numbered = digits > 0 && matches!(line.as_bytes().get(digits), Some(b'.' | b')'));
    bullet || numbered
}

#[cfg(test)]
mod tests {
    use super::join_doc_lines;

    fn join(lines: &[&str]) -> Option<String> {
        join_doc_lines(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn joins_like_rustdoc() {
        assert_eq!(
            join(&["", "A person", "in the text.", "", "More.", ""]).unwrap(),
            "A person in the text.\n\nMore."
        );
        assert_eq!(
            join(&["Items:", "- one", "- two"]).unwrap(),
            "Items:\n- one\n- two"
        );
        assert_eq!(join(&["", ""]), None);
    }
}
