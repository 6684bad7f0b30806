//! Attribute values as the Rust tokens the generated code hands to `instructor_core`: a
//! `range` bound as `Option<Bound>`, a `length`/`items` count as `Option<(usize,
//! Option<usize>)>`. The grammar, schema and validation code all write them through here, so
//! the three agree on every bound. Must not decide what a constraint means.

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::Num;

/// A `range(min = …)` or `range(max = …)` bound as `Option<__private::Bound>` tokens.
pub fn bound_tokens(n: Option<Num>) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    match n {
        None => quote!(::core::option::Option::None),
        Some(Num::Int { .. }) => {
            let int = int_tokens(n);
            quote!(::core::option::Option::Some(#p::Bound::Int(#int)))
        }
        Some(Num::Float(f)) => {
            let f = float_tokens(f);
            quote!(::core::option::Option::Some(#p::Bound::Float(#f)))
        }
    }
}

/// A `length(...)` / `items(...)` attribute as `Option<(usize, Option<usize>)>` tokens, the form
/// both `grammar::Constraints` and `schema::constrain_schema` take.
pub fn count_tokens(a: &Option<crate::attr::CountAttr>) -> TokenStream {
    match a {
        None => quote!(::core::option::Option::None),
        Some(a) => {
            let min = a.min.unwrap_or(0);
            let max = opt_usize(a.max);
            quote!(::core::option::Option::Some((#min, #max)))
        }
    }
}

/// `Some(n)` / `None` as `Option<usize>` tokens.
pub fn opt_usize(n: Option<usize>) -> TokenStream {
    match n {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    }
}

/// An `Int` constant for an integer bound.
pub fn int_tokens(n: Option<Num>) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    match n {
        Some(Num::Int { neg: true, mag }) => quote!(#p::Int::neg(#mag)),
        Some(Num::Int { neg: false, mag }) => quote!(#p::Int::pos(#mag)),
        _ => quote!(#p::Int::pos(0)),
    }
}

/// An `f64` literal, negated outside the literal (a literal token cannot carry a sign).
pub fn float_tokens(f: f64) -> TokenStream {
    let lit = proc_macro2::Literal::f64_suffixed(f.abs());
    if f.is_sign_negative() {
        quote!(-#lit)
    } else {
        quote!(#lit)
    }
}
