//! Code for `ResponseModel::validate`: every field's own checks and constraint attributes, under
//! the field's path, then the container's hooks.
//!
//! Paths use the JSON names (`items[1].quantity`) because the messages go back to the model,
//! which only knows the JSON. A newtype adds no path segment: its value is the inner value.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use crate::ast::{Body, Field, Input, Shape, Style};
use crate::grammar::rm;
use crate::tokens::{bound_tokens, opt_usize};

/// The body of `fn validate(&self, v: &mut Validator<'_>)`.
pub fn validate(input: &Input<'_>) -> TokenStream {
    let fields = match &input.body {
        Body::Struct(shape) => {
            let bindings = shape.fields.iter().map(|f| {
                let member = &f.member;
                quote!(&self.#member)
            });
            shape_checks(shape, bindings.collect())
        }
        Body::Enum(variants, _) => {
            let mut arms = Vec::new();
            for v in variants.iter().filter(|v| !v.skip) {
                let ident = v.ident;
                let vars: Vec<TokenStream> = v
                    .shape
                    .fields
                    .iter()
                    .map(|f| {
                        let var = format_ident!("__f{}", f.index);
                        quote!(#var)
                    })
                    .collect();
                let pattern = match v.shape.style {
                    Style::Unit => quote!(Self::#ident),
                    Style::Named => {
                        let binds = v.shape.fields.iter().zip(&vars).map(|(f, var)| {
                            let member = &f.member;
                            if f.skip {
                                quote!(#member: _)
                            } else {
                                quote!(#member: #var)
                            }
                        });
                        quote!(Self::#ident { #(#binds),* })
                    }
                    Style::Tuple | Style::Newtype => {
                        let binds = v.shape.fields.iter().zip(&vars).map(|(f, var)| {
                            if f.skip {
                                quote!(_)
                            } else {
                                quote!(#var)
                            }
                        });
                        quote!(Self::#ident(#(#binds),*))
                    }
                };
                let checks = shape_checks(&v.shape, vars);
                arms.push(quote!(#pattern => { #checks }));
            }
            quote! {
                #[allow(unreachable_patterns)]
                match self {
                    #(#arms)*
                    _ => {}
                }
            }
        }
    };
    let hooks = input.attrs.validate_fns.iter().map(|path| {
        quote_spanned!(syn::spanned::Spanned::span(path)=> ::instructor_core::__private::check_fn(v, self, #path);)
    });
    let own = input
        .attrs
        .validate_self
        .then(|| quote!(<Self as ::instructor_core::Validate>::validate(self, v);));
    quote! {
        #fields
        #(#hooks)*
        #own
    }
}

/// Checks for the present fields of `shape`; `values[i]` is an expression of type `&F` for
/// field `i`.
fn shape_checks(shape: &Shape<'_>, values: Vec<TokenStream>) -> TokenStream {
    let mut out = Vec::new();
    if let Some(inner) = shape.inner() {
        return field_checks(inner, &values[inner.index]);
    }
    for (pos, f) in shape.present().enumerate() {
        let checks = field_checks(f, &values[f.index]);
        out.push(match shape.style {
            Style::Named => {
                let key = &f.name;
                quote!(v.field(#key, |v| { #checks });)
            }
            _ => quote!(v.index(#pos, |v| { #checks });),
        });
    }
    quote!(#(#out)*)
}

fn field_checks(f: &Field<'_>, value: &TokenStream) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    let own = rm(f.ty, "validate");
    let mut out = vec![quote!(#own(#value, v);)];
    let c = &f.constraints;
    if let Some(r) = &c.range {
        let (min, max) = (bound_tokens(r.min), bound_tokens(r.max));
        out.push(quote_spanned!(r.span=> #p::check_range(v, #value, #min, #max);));
    }
    if let Some(l) = &c.length {
        let (min, max) = (opt_usize(l.min), opt_usize(l.max));
        out.push(quote_spanned!(l.span=> #p::check_length(v, #value, #min, #max);));
    }
    if let Some(i) = &c.items {
        let (min, max) = (opt_usize(i.min), opt_usize(i.max));
        out.push(quote_spanned!(i.span=> #p::check_items(v, #value, #min, #max);));
    }
    if let Some(pat) = &c.pattern {
        let re = &pat.regex;
        out.push(quote_spanned!(pat.span=> #p::check_pattern(v, #value, #re);));
    }
    if let Some(g) = &f.ground {
        out.push(crate::grounding::checks(g, value));
    }
    if let Some(path) = &f.validate {
        out.push(
            // Through a closure, so the function may take `&str` for a `String` field (deref
            // coercion), as clippy would have it written.
            quote_spanned!(syn::spanned::Spanned::span(path)=> #p::check_fn(v, #value, |__x| #path(__x));),
        );
    }
    quote!(#(#out)*)
}
