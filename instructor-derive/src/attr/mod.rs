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
//!
//! This file reads `#[instructor(...)]` at each position (container, variant, field) and holds
//! the shared helpers; `serde.rs` reads serde's attributes, `constraint.rs` the constraint
//! attributes, `doc.rs` doc comments.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr};

use crate::case::RenameRule;
use crate::ctxt::Ctxt;
use crate::regex_gbnf;

mod constraint;
mod doc;
mod serde;

use constraint::{parse_count, parse_range};
pub use constraint::{Constraints, CountAttr, Num, PatternAttr};
pub use doc::doc;
use serde::{de_names, parse_serde, rename_rule, take_names};

/// Where an attribute was written: decides which keys are allowed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Container,
    Variant,
    Field,
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
