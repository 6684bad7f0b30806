//! Code for `ResponseModel::repeats_allowed`: where the answer's lists may repeat an item.
//!
//! A backend's repetition guard cuts a list item that equals an earlier one as a loop; a type
//! opts out with `#[instructor(allow_repeats)]` on a field (every list in that field's value) or
//! on the type (every list in it). Elsewhere the question goes, by JSON path, to the type of the
//! value at that path, as `apply_partial` routes events.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::{Body, Input, Style};
use crate::grammar::rm;

/// The body of `fn repeats_allowed(path: &[Seg<'_>]) -> bool`.
pub fn repeats_allowed(input: &Input<'_>) -> TokenStream {
    if input.attrs.allow_repeats {
        return quote!(true);
    }
    let seg = quote!(::instructor_core::Seg);
    match &input.body {
        Body::Struct(shape) => {
            if let Some(inner) = shape.inner() {
                if inner.allow_repeats {
                    return quote!(true);
                }
                let f = rm(inner.ty, "repeats_allowed");
                return quote!(#f(path));
            }
            match shape.style {
                Style::Named => {
                    let arms = shape.present().map(|f| {
                        let keys = std::iter::once(&f.name).chain(&f.aliases);
                        let answer = if f.allow_repeats {
                            quote!(true)
                        } else {
                            let g = rm(f.ty, "repeats_allowed");
                            quote!(#g(__rest))
                        };
                        quote!(#(#keys)|* => #answer,)
                    });
                    quote! {
                        match path {
                            [#seg::Key(__key), __rest @ ..] => match *__key {
                                #(#arms)*
                                _ => false,
                            },
                            _ => false,
                        }
                    }
                }
                // A JSON array of fixed length: equal elements are no loop.
                Style::Tuple | Style::Newtype | Style::Unit => {
                    let arms = shape.present().enumerate().map(|(i, f)| {
                        let answer = if f.allow_repeats {
                            quote!(true)
                        } else {
                            let g = rm(f.ty, "repeats_allowed");
                            quote!(#g(__rest))
                        };
                        quote!([#seg::Index(#i), __rest @ ..] => #answer,)
                    });
                    quote! {
                        match path {
                            [] => true,
                            #(#arms)*
                            _ => false,
                        }
                    }
                }
            }
        }
        // Variants nest their fields under tags whose layout depends on the representation: a
        // field that opts out opts the whole enum out.
        Body::Enum(variants, _) => {
            let any = variants
                .iter()
                .any(|v| v.shape.fields.iter().any(|f| f.allow_repeats));
            quote!(#any)
        }
    }
}
