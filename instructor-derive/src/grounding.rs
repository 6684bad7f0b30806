//! `#[instructor(verbatim)]` and `#[instructor(choices = "name")]`: reading them, and the code
//! each part of the impl gets for them.
//!
//! The grammar of such a field refers to a rule the extraction fills in at run time
//! (`instructor_core::grounding` owns that); this module only names it, through
//! `__private::grounding::ground`, and adds the checks and schema notes. It must not build any
//! run-time rule itself.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;

use crate::ast::{Body, Input};
use crate::attr::Constraints;
use crate::ctxt::Ctxt;

/// Longest choice set name: it becomes part of a grammar rule name.
const MAX_SET_NAME: usize = 32;

/// What a grounded field's value must be.
#[derive(Clone, Debug)]
pub enum Ground {
    /// A substring of the extraction's source text.
    Verbatim,
    /// One of the values of the named choice set.
    Choices(String),
}

/// A grounding attribute with the span of its key.
#[derive(Clone, Debug)]
pub struct GroundAttr {
    /// Which one.
    pub ground: Ground,
    /// The key's span, where a field type that does not fit is reported.
    pub span: Span,
}

/// Reads `verbatim` or `choices = "name"` into `slot`.
pub fn parse(
    cx: &Ctxt,
    meta: &ParseNestedMeta,
    key: &str,
    slot: &mut Option<GroundAttr>,
) -> syn::Result<()> {
    let span = meta.path.span();
    let ground = if key == "verbatim" {
        if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
            cx.error_spanned_by(&meta.path, "`verbatim` takes no value");
            skip(meta)?;
        }
        Ground::Verbatim
    } else {
        if !meta.input.peek(syn::Token![=]) {
            cx.error_spanned_by(
                &meta.path,
                "`choices` needs the name of a choice set: `choices = \"topics\"`, given at run \
                 time with `Extractor::choices(\"topics\", [...])`",
            );
            skip(meta)?;
            return Ok(());
        }
        let expr: syn::Expr = meta.value()?.parse()?;
        let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) = &expr
        else {
            cx.error_spanned_by(&expr, "expected the choice set's name as a string literal");
            return Ok(());
        };
        let name = lit.value();
        let valid = !name.is_empty()
            && name.len() <= MAX_SET_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            cx.error_spanned_by(
                lit,
                format_args!(
                    "a choice set name is 1 to {MAX_SET_NAME} ASCII letters, digits, `_` or `-`"
                ),
            );
        }
        Ground::Choices(name)
    };
    if slot.is_some() {
        cx.error_spanned_by(
            &meta.path,
            "a field takes one of `verbatim` and `choices`, once",
        );
    }
    *slot = Some(GroundAttr { ground, span });
    Ok(())
}

fn skip(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// Reports constraints written next to a grounding attribute: the run-time rule is the whole
/// value's grammar, so nothing can narrow it further.
pub fn check_conflicts(cx: &Ctxt, g: &Option<GroundAttr>, c: &Constraints) {
    let Some(g) = g else { return };
    let what = match g.ground {
        Ground::Verbatim => "verbatim",
        Ground::Choices(_) => "choices",
    };
    let others = [
        c.pattern.as_ref().map(|p| ("pattern", p.span)),
        c.length.as_ref().map(|l| ("length", l.span)),
        c.range.as_ref().map(|r| ("range", r.span)),
        c.items.as_ref().map(|i| ("items", i.span)),
    ];
    for (key, span) in others.into_iter().flatten() {
        cx.syn_error(syn::Error::new(
            span,
            format!(
                "`{key}` cannot be combined with `{what}`: the value's grammar is the text of the \
                 input or the choice set, filled in at run time"
            ),
        ));
    }
}

/// The `grammar::External` the field's rule refers to.
fn external(g: &GroundAttr) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    match &g.ground {
        Ground::Verbatim => quote!(#p::External::Verbatim),
        Ground::Choices(set) => quote!(#p::External::Choices(#p::Name::from_str(#set))),
    }
}

/// The constant expression of the field's grammar: `base` with its strings replaced by the
/// run-time rule, spanned at the attribute so a field type that does not fit is reported there.
pub fn narrow(g: &GroundAttr, base: &TokenStream, name: TokenStream) -> TokenStream {
    let ext = external(g);
    quote_spanned! {g.span=>
        ::instructor_core::__private::ground(&#base, #name, #ext)
    }
}

/// The checks after parsing, on `value` (a `&FieldType` expression).
pub fn checks(g: &GroundAttr, value: &TokenStream) -> TokenStream {
    match &g.ground {
        Ground::Verbatim => quote_spanned! {g.span=>
            ::instructor_core::__private::check_verbatim(v, #value);
        },
        Ground::Choices(set) => quote_spanned! {g.span=>
            ::instructor_core::__private::check_choices(v, #value, #set);
        },
    }
}

/// What the field's schema (in the local `__s`) gets.
pub fn schema(g: &GroundAttr) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    match &g.ground {
        Ground::Verbatim => quote!(#p::schema_verbatim(&mut __s);),
        Ground::Choices(set) => quote!(#p::schema_choices(&mut __s, #set);),
    }
}

/// For a newtype or transparent struct: `Texts`, so a newtype of `String` can be a verbatim
/// field. The bound is higher-ranked so that the impl simply does not apply (rather than fail)
/// when the inner type has no strings.
pub fn texts_impl(model: &Input<'_>, generics: &syn::Generics) -> TokenStream {
    let Body::Struct(shape) = &model.body else {
        return TokenStream::new();
    };
    let Some(inner) = shape.inner() else {
        return TokenStream::new();
    };
    let p = quote!(::instructor_core::__private);
    let ident = model.ident;
    let ty = inner.ty;
    let member = &inner.member;
    let mut generics = generics.clone();
    generics
        .make_where_clause()
        .predicates
        .push(syn::parse_quote!(for<'__workaround> #ty: #p::Texts));
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #p::Texts for #ident #ty_generics #where_clause {
            fn texts(&self, f: &mut dyn ::core::ops::FnMut(::core::option::Option<usize>, &str)) {
                #p::Texts::texts(&self.#member, f)
            }
        }
    }
}
