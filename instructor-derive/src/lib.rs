//! `#[derive(ResponseModel)]` for instructor-rs.
//!
//! Use it through `instructor_core`, which re-exports it next to the trait; this crate only
//! writes code against `instructor_core`'s trait and its `__private` helpers, always by absolute
//! path, so nothing depends on what the user has in scope.
//!
//! The data flow, by module:
//! - `attr/` reads `#[instructor(...)]` (`mod.rs`), `#[serde(...)]` (`serde.rs`), the
//!   constraint attributes (`constraint.rs`) and doc comments (`doc.rs`);
//! - `ast.rs` resolves them into JSON names, optionality and constraints (`case.rs` holds serde's
//!   case conversions, `regex_gbnf.rs` turns `pattern`s into grammar);
//! - `grammar/`, `schema.rs`, `partial.rs` and `validate.rs` each write one part of the impl,
//!   spelling grammar text through `escape.rs` (the derive's one mirror of core's escaping and
//!   name mangling) and attribute values through `tokens.rs`;
//! - `ctxt.rs` collects errors, and `fallback` below emits a minimal impl after one, so the user
//!   sees the real problem and not a cascade of "trait not implemented".

mod ast;
mod attr;
mod case;
mod ctxt;
mod escape;
mod grammar;
mod grounding;
mod partial;
mod regex_gbnf;
mod repeats;
mod schema;
mod tokens;
mod validate;

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{parse_macro_input, parse_quote, parse_quote_spanned, DeriveInput};

use crate::ast::{Body, Input, Style};
use crate::ctxt::Ctxt;

/// Derives `instructor_core::ResponseModel`: a compile-time GBNF grammar, a JSON Schema, a
/// partial type for streaming, and validation, all following the type's serde attributes.
///
/// Attributes, all under `#[instructor(...)]`:
/// - on the type: `description = "…"` (else the doc comment), `validate` (call the type's
///   `instructor_core::Validate` impl), `validate = path::to_fn` (`fn(&Self) -> Result<(), String>`);
/// - on a variant: `description = "…"`;
/// - on a field: `description = "…"`, `range(min = …, max = …)`, `length(min = …, max = …)`,
///   `items(min = …, max = …)`, `pattern = "regex"`, `validate = path::to_fn`
///   (`fn(&FieldType) -> Result<(), String>`), `verbatim` (the value is copied from the input),
///   `choices = "set"` (the value is one of the strings given at run time under that name).
///
/// See `instructor_core::ResponseModel` for an example.
#[proc_macro_derive(ResponseModel, attributes(instructor))]
pub fn derive_response_model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input).into()
}

fn expand(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let model = ast::from_input(&cx, input);
    let serde_fails = cx.serde_will_fail();
    match (cx.check(), model) {
        (Ok(()), Some(_)) if serde_fails => fallback(input, None),
        (Ok(()), Some(model)) => response_model(&model, input),
        (Err(err), Some(_)) => fallback(input, Some(err)),
        (Err(err), None) => err.to_compile_error(),
        // `from_input` only gives up after recording why.
        (Ok(()), None) => TokenStream::new(),
    }
}

/// The input's generics with every type parameter bounded by `ResponseModel`.
fn bounded_generics(input: &DeriveInput) -> syn::Generics {
    let mut generics = input.generics.clone();
    for param in generics.type_params_mut() {
        param
            .bounds
            .push(parse_quote!(::instructor_core::ResponseModel));
    }
    generics
}

fn response_model(model: &Input<'_>, input: &DeriveInput) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    let json = quote!(#p::serde_json);
    let ident = model.ident;
    let mut generics = bounded_generics(input);
    // Every field type must be a `ResponseModel`. Saying so in the where clauses, spanned at the
    // field type, makes a type without an impl one error at that field, instead of one at every
    // place the generated code uses the impl.
    let mut seen = std::collections::HashSet::new();
    for ty in field_types(model) {
        if seen.insert(ty.to_token_stream().to_string()) && !mentions_self(ty.to_token_stream()) {
            let span = syn::spanned::Spanned::span(ty);
            let predicate: syn::WherePredicate =
                parse_quote_spanned!(span=> #ty: ::instructor_core::ResponseModel);
            generics.make_where_clause().predicates.push(predicate);
        }
    }
    let partial = partial::partial(model, &generics, input);

    let mut impl_generics_src = generics.clone();
    // A partial type of `Self` must be `Clone + Debug + Send`; for a generic type that holds only
    // for some parameters, so the impl is restricted to those.
    let self_partial = match &model.body {
        Body::Struct(shape) => shape.style != Style::Named && shape.inner().is_none(),
        Body::Enum(..) => true,
    };
    if self_partial && !model.type_params.is_empty() {
        let (_, ty_generics, _) = input.generics.split_for_impl();
        impl_generics_src.make_where_clause().predicates.push(parse_quote!(
            #ident #ty_generics: ::core::clone::Clone + ::core::fmt::Debug + ::core::marker::Send
        ));
    }
    // As in `fallback`: if serde's derive fails, say nothing more.
    {
        let (_, ty_generics, _) = input.generics.split_for_impl();
        impl_generics_src
            .make_where_clause()
            .predicates
            .push(parse_quote!(
                for<'__workaround> #ident #ty_generics: #p::serde::de::DeserializeOwned
            ));
    }
    // The runtime checks of constraint attributes measure the field value; for a field whose
    // type involves a type parameter that is a bound the impl must carry.
    for ty in constrained_generic_types(model) {
        impl_generics_src
            .make_where_clause()
            .predicates
            .push(parse_quote!(#ty: ::instructor_core::__private::Measure));
    }
    let (impl_generics, ty_generics, where_clause) = impl_generics_src.split_for_impl();

    let grammar = grammar::grammar(model);
    let gbnf = grammar::gbnf(model);
    let description = match &model.attrs.description {
        Some(d) => quote!(::core::option::Option::Some(#d)),
        None => quote!(::core::option::Option::None),
    };
    let schema = schema::json_schema(model);
    let validate = validate::validate(model);
    let repeats = repeats::repeats_allowed(model);
    let texts = grounding::texts_impl(model, &input.generics);
    let partial_ty = &partial.ty;
    let apply = &partial.apply;
    let items = &partial.items;
    quote! {
        #items
        #texts

        #[automatically_derived]
        #[allow(non_upper_case_globals, non_snake_case, unused_variables, unused_braces, clippy::all)]
        impl #impl_generics ::instructor_core::ResponseModel for #ident #ty_generics #where_clause {
            const GRAMMAR: #p::Grammar = #grammar;
            #gbnf
            const DESCRIPTION: ::core::option::Option<&'static str> = #description;
            type Partial = #partial_ty;

            fn json_schema(
                defs: &mut #json::Map<::std::string::String, #json::Value>,
            ) -> #json::Value {
                #schema
            }

            fn apply_partial(
                slot: &mut ::core::option::Option<Self::Partial>,
                path: &[::instructor_core::Seg<'_>],
                event: &::instructor_core::Event<'_>,
            ) {
                #apply
            }

            fn repeats_allowed(path: &[::instructor_core::Seg<'_>]) -> bool {
                #repeats
            }

            fn validate(&self, v: &mut ::instructor_core::Validator<'_>) {
                #validate
            }
        }
    }
}

/// The types of every field that appears in the JSON.
fn field_types<'a>(model: &'a Input<'a>) -> Vec<&'a syn::Type> {
    match &model.body {
        Body::Struct(shape) => shape.present().map(|f| f.ty).collect(),
        Body::Enum(variants, _) => variants
            .iter()
            .filter(|v| !v.skip)
            .flat_map(|v| v.shape.present().map(|f| f.ty))
            .collect(),
    }
}

fn mentions_self(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) => i == "Self",
        proc_macro2::TokenTree::Group(g) => mentions_self(g.stream()),
        _ => false,
    })
}

/// The types of constrained fields that mention a type parameter.
fn constrained_generic_types<'a>(model: &'a Input<'a>) -> Vec<&'a syn::Type> {
    let shapes: Vec<&ast::Shape> = match &model.body {
        Body::Struct(shape) => vec![shape],
        Body::Enum(variants, _) => variants
            .iter()
            .filter(|v| !v.skip)
            .map(|v| &v.shape)
            .collect(),
    };
    let mut out = Vec::new();
    for shape in shapes {
        for f in shape.present() {
            let c = &f.constraints;
            let measured =
                c.range.is_some() || c.length.is_some() || c.items.is_some() || c.pattern.is_some();
            if measured && mentions(f.ty.to_token_stream(), &model.type_params) {
                out.push(f.ty);
            }
        }
    }
    out
}

fn mentions(tokens: TokenStream, params: &[&syn::Ident]) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) => params.iter().any(|p| **p == i),
        proc_macro2::TokenTree::Group(g) => mentions(g.stream(), params),
        _ => false,
    })
}

/// The errors, plus an impl with an empty grammar: other code using the type as a
/// `ResponseModel` then compiles, so the user sees only the real problem (thiserror's
/// `fallback.rs` does the same).
///
/// The impl only applies when serde's derive succeeded: its bound has a dummy higher-ranked
/// lifetime, which keeps the compiler from checking it where the impl is written, so a failed
/// `Deserialize` adds no message of its own.
fn fallback(input: &DeriveInput, err: Option<syn::Error>) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    let json = quote!(#p::serde_json);
    let ident = &input.ident;
    let generics = bounded_generics(input);
    let mut generics = generics;
    let (_, ty_generics, _) = input.generics.split_for_impl();
    generics.make_where_clause().predicates.push(parse_quote!(
        for<'__workaround> #ident #ty_generics: #p::serde::de::DeserializeOwned
    ));
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let err = err.map(|e| e.to_compile_error());
    quote! {
        #err

        #[automatically_derived]
        #[allow(unused_variables)]
        impl #impl_generics ::instructor_core::ResponseModel for #ident #ty_generics #where_clause {
            const GRAMMAR: #p::Grammar = #p::Grammar::new();
            type Partial = ();

            fn json_schema(
                defs: &mut #json::Map<::std::string::String, #json::Value>,
            ) -> #json::Value {
                #json::Value::Null
            }

            fn apply_partial(
                slot: &mut ::core::option::Option<()>,
                path: &[::instructor_core::Seg<'_>],
                event: &::instructor_core::Event<'_>,
            ) {
            }
        }
    }
}
