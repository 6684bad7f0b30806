//! The input as the code generators see it: every field and variant with the JSON name serde
//! gives it, whether it may be missing, its constraints and its description.
//!
//! All of serde's naming rules (`rename`, `rename_all`, `rename_all_fields`, variant-level
//! `rename_all`) are resolved here, once, and every check that spans several fields or variants
//! (two keys equal after renaming, tags that clash with fields) happens here too. Code generation
//! then never looks at attributes again.

use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, GenericParam, Ident, Member, Type};

use crate::attr::{self, Constraints, ContainerAttrs};
use crate::case::RenameRule;
use crate::ctxt::Ctxt;

/// The deriving type.
pub struct Input<'a> {
    /// Its identifier.
    pub ident: &'a Ident,
    /// Its visibility (the partial type gets the same).
    pub vis: &'a syn::Visibility,
    /// Its type parameters, in order (their grammar names are part of the rule name).
    pub type_params: Vec<&'a Ident>,
    /// Container attributes.
    pub attrs: ContainerAttrs,
    /// Struct or enum.
    pub body: Body<'a>,
}

/// What the type is made of.
pub enum Body<'a> {
    /// A struct.
    Struct(Shape<'a>),
    /// An enum, with its serde representation.
    Enum(Vec<Variant<'a>>, Repr),
}

/// serde's enum representations.
pub enum Repr {
    /// `{"Variant": content}` (the default).
    External,
    /// `#[serde(tag = "t")]`: `{"t": "Variant", ...fields}`.
    Internal {
        /// The tag key.
        tag: String,
    },
    /// `#[serde(tag = "t", content = "c")]`: `{"t": "Variant", "c": content}`.
    Adjacent {
        /// The tag key.
        tag: String,
        /// The content key.
        content: String,
    },
    /// `#[serde(untagged)]`: the content alone.
    Untagged,
}

/// How a struct or variant holds its fields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `{ a: A, b: B }`: a JSON object.
    Named,
    /// `(A, B)`: a JSON array.
    Tuple,
    /// `(A)`: the inner value itself.
    Newtype,
    /// No fields.
    Unit,
}

/// The fields of a struct or variant.
pub struct Shape<'a> {
    /// How the fields are held.
    pub style: Style,
    /// Every field, skipped ones included (they still occupy a position in patterns).
    pub fields: Vec<Field<'a>>,
    /// For `#[serde(transparent)]` structs and newtypes: the index of the field whose JSON the
    /// whole value is.
    pub transparent: Option<usize>,
}

impl<'a> Shape<'a> {
    /// The fields that appear in the JSON, in order.
    pub fn present(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| !f.skip)
    }

    /// The field whose JSON is the whole value, for newtypes and transparent structs.
    pub fn inner(&self) -> Option<&Field<'a>> {
        self.transparent.map(|i| &self.fields[i])
    }
}

/// An enum variant.
pub struct Variant<'a> {
    /// Its identifier.
    pub ident: &'a Ident,
    /// Its JSON name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// `#[serde(skip)]`: never deserialized.
    pub skip: bool,
    /// Its fields.
    pub shape: Shape<'a>,
}

/// A field of a struct or variant.
pub struct Field<'a> {
    /// How Rust code reaches it: `self.name` or `self.0`.
    pub member: Member,
    /// Position among all fields (for generated binding names).
    pub index: usize,
    /// Its type.
    pub ty: &'a Type,
    /// Its JSON key (named fields only).
    pub name: String,
    /// Other keys serde accepts.
    pub aliases: Vec<String>,
    /// `#[serde(default)]` here or on the container: the key may be missing.
    pub optional: bool,
    /// `#[serde(skip)]`: not in the JSON.
    pub skip: bool,
    /// Its description.
    pub description: Option<String>,
    /// Its constraint attributes.
    pub constraints: Constraints,
    /// `#[instructor(validate = path)]`.
    pub validate: Option<syn::Path>,
    /// `#[instructor(allow_repeats)]`.
    pub allow_repeats: bool,
    /// `#[instructor(verbatim)]` / `#[instructor(choices = "…")]`.
    pub ground: Option<crate::grounding::GroundAttr>,
}

impl Field<'_> {
    /// A name usable in a grammar rule name: the Rust field name or position.
    pub fn rule_suffix(&self) -> String {
        match &self.member {
            Member::Named(ident) => ident.unraw().to_string(),
            Member::Unnamed(index) => index.index.to_string(),
        }
    }
}

/// Reads the input; `None` when it cannot be modelled at all (a union, a lifetime), in which case
/// no fallback impl is emitted either: it could only add errors.
pub fn from_input<'a>(cx: &Ctxt, input: &'a DeriveInput) -> Option<Input<'a>> {
    let mut fatal = false;
    let mut type_params = Vec::new();
    for param in &input.generics.params {
        match param {
            GenericParam::Type(t) => type_params.push(&t.ident),
            GenericParam::Lifetime(l) => {
                cx.error_spanned_by(
                    l,
                    "ResponseModel cannot be derived for types with lifetime parameters: extracted \
                     values own their data (use `String` rather than `&str`)",
                );
                fatal = true;
            }
            GenericParam::Const(c) => {
                cx.error_spanned_by(
                    &c.ident,
                    "ResponseModel cannot be derived for types with const parameters",
                );
            }
        }
    }
    let is_enum = matches!(input.data, Data::Enum(_));
    let attrs = attr::container(cx, &input.attrs, is_enum);
    let body = match &input.data {
        Data::Union(u) => {
            cx.error_spanned_by(
                u.union_token,
                "ResponseModel cannot be derived for unions: serde cannot deserialize them",
            );
            return None;
        }
        Data::Struct(s) => {
            let shape = shape(cx, &s.fields, attrs.rename_all, attrs.default);
            let shape = transparent(cx, shape, &attrs, &s.fields);
            check_unique_keys(cx, &shape, &s.fields);
            Body::Struct(shape)
        }
        Data::Enum(e) => {
            let repr = repr(cx, &attrs);
            let mut variants = Vec::new();
            for v in &e.variants {
                let vattrs = attr::variant(cx, &v.attrs);
                let rule = vattrs
                    .rename_all
                    .unwrap_or(RenameRule::None)
                    .or(attrs.rename_all_fields);
                let shape = shape(cx, &v.fields, rule, false);
                check_unique_keys(cx, &shape, &v.fields);
                let name = match &vattrs.rename {
                    Some(lit) => lit.value(),
                    None => attrs
                        .rename_all
                        .apply_to_variant(&v.ident.unraw().to_string()),
                };
                variants.push(Variant {
                    ident: &v.ident,
                    name,
                    description: vattrs.description,
                    skip: vattrs.skip,
                    shape,
                });
            }
            check_variants(cx, e, &variants, &repr);
            Body::Enum(variants, repr)
        }
    };
    if fatal {
        return None;
    }
    Some(Input {
        ident: &input.ident,
        vis: &input.vis,
        type_params,
        attrs,
        body,
    })
}

fn shape<'a>(
    cx: &Ctxt,
    fields: &'a Fields,
    rule: RenameRule,
    container_default: bool,
) -> Shape<'a> {
    let style = match fields {
        Fields::Named(_) => Style::Named,
        Fields::Unnamed(f) if f.unnamed.len() == 1 => Style::Newtype,
        Fields::Unnamed(_) => Style::Tuple,
        Fields::Unit => Style::Unit,
    };
    let mut out = Vec::new();
    for (index, f) in fields.iter().enumerate() {
        let fattrs = attr::field(cx, &f.attrs);
        let (member, name) = match &f.ident {
            Some(ident) => {
                let name = match &fattrs.rename {
                    Some(lit) => lit.value(),
                    None => rule.apply_to_field(&ident.unraw().to_string()),
                };
                (Member::Named(ident.clone()), name)
            }
            None => (Member::Unnamed(index.into()), index.to_string()),
        };
        if fattrs.skip {
            if let Some(attr) = &fattrs.instructor_attr {
                cx.error_spanned_by(attr, "`#[instructor]` has no effect on a field serde skips");
            }
        }
        crate::grounding::check_conflicts(cx, &fattrs.ground, &fattrs.constraints);
        out.push(Field {
            member,
            index,
            ty: &f.ty,
            name,
            aliases: fattrs.aliases,
            optional: fattrs.default || container_default,
            skip: fattrs.skip,
            description: fattrs.description,
            constraints: fattrs.constraints,
            validate: fattrs.validate,
            allow_repeats: fattrs.allow_repeats,
            ground: fattrs.ground,
        });
    }
    let transparent = if style == Style::Newtype {
        if out[0].skip {
            cx.error_spanned_by(fields, "the only field of a newtype cannot be skipped");
        }
        Some(0)
    } else {
        None
    };
    Shape {
        style,
        fields: out,
        transparent,
    }
}

/// `#[serde(transparent)]`: the one field that is not skipped is the whole value.
fn transparent<'a>(
    cx: &Ctxt,
    mut shape: Shape<'a>,
    attrs: &ContainerAttrs,
    fields: &Fields,
) -> Shape<'a> {
    if attrs.transparent.is_none() {
        return shape;
    }
    let present: Vec<usize> = shape.present().map(|f| f.index).collect();
    if present.len() == 1 && !fields.is_empty() {
        shape.transparent = Some(present[0]);
    } else {
        cx.serde_rejects();
    }
    shape
}

fn repr(cx: &Ctxt, attrs: &ContainerAttrs) -> Repr {
    match (&attrs.tag, &attrs.content, attrs.untagged) {
        (None, None, None) => Repr::External,
        (Some(tag), None, None) => Repr::Internal { tag: tag.value() },
        (Some(tag), Some(content), None) => {
            if tag.value() == content.value() {
                cx.serde_rejects();
            }
            Repr::Adjacent {
                tag: tag.value(),
                content: content.value(),
            }
        }
        (None, Some(_), None) => {
            cx.serde_rejects();
            Repr::External
        }
        (_, _, Some(_)) => {
            if attrs.tag.is_some() || attrs.content.is_some() {
                cx.serde_rejects();
            }
            Repr::Untagged
        }
    }
}

/// Two fields may not end up with the same JSON key: serde would fill only one of them.
fn check_unique_keys(cx: &Ctxt, shape: &Shape<'_>, fields: &Fields) {
    if shape.style != Style::Named {
        return;
    }
    let syn_fields: Vec<&syn::Field> = fields.iter().collect();
    let present: Vec<&Field> = shape.present().collect();
    for (i, f) in present.iter().enumerate() {
        if let Some(prev) = present[..i].iter().find(|p| p.name == f.name) {
            cx.error_spanned_by(
                &syn_fields[f.index].ident,
                format_args!(
                    "field `{}` has the JSON key {:?}, which field `{}` already uses; rename one of them",
                    f.rule_suffix(),
                    f.name,
                    prev.rule_suffix()
                ),
            );
        }
    }
}

fn check_variants(cx: &Ctxt, e: &syn::DataEnum, variants: &[Variant<'_>], repr: &Repr) {
    let live: Vec<(usize, &Variant)> = variants
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.skip)
        .collect();
    if live.is_empty() {
        cx.error_spanned_by(
            e.enum_token,
            "ResponseModel needs at least one variant that serde can deserialize",
        );
    }
    for (n, (i, v)) in live.iter().enumerate() {
        let span = e.variants[*i].ident.span();
        if !matches!(repr, Repr::Untagged) {
            if let Some((_, prev)) = live[..n].iter().find(|(_, p)| p.name == v.name) {
                cx.error_at(
                    span,
                    format_args!(
                        "variant `{}` has the name {:?}, which variant `{}` already uses; rename one of them",
                        v.ident, v.name, prev.ident
                    ),
                );
            }
        }
        if let Repr::Internal { tag } = repr {
            // serde reports tuple variants here, and fields named like the tag.
            let clash = v.shape.style == Style::Named && v.shape.present().any(|f| &f.name == tag);
            if v.shape.style == Style::Tuple || clash {
                cx.serde_rejects();
            }
        }
    }
}
