//! Code for `ResponseModel::Partial` and `apply_partial`: the value while it streams.
//!
//! A struct with named fields gets a `Partial<Name>` struct with every field optional, filled
//! in place as parser events arrive (each event is routed by its JSON key to the field type's own
//! `apply_partial`, so a token costs the same however long the output is). A newtype or
//! transparent struct streams as its inner value. Enums, tuple structs and unit structs only
//! appear once complete, so their partial type is the type itself.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;

use crate::ast::{Body, Input, Style};
use crate::grammar::rm;

/// What the impl needs: the `type Partial` and the body of `apply_partial`, plus items to emit
/// next to the impl (the partial struct).
pub struct Partial {
    /// The partial type.
    pub ty: TokenStream,
    /// The body of `fn apply_partial(slot, path, event)`.
    pub apply: TokenStream,
    /// Items emitted before the impl.
    pub items: TokenStream,
}

/// Generates the partial type of `input`. `generics` are the input's generics with every type
/// parameter bounded by `ResponseModel`.
pub fn partial(
    input: &Input<'_>,
    generics: &syn::Generics,
    original: &syn::DeriveInput,
) -> Partial {
    let p = quote!(::instructor_core::__private);
    let shape = match &input.body {
        Body::Struct(shape) if shape.style == Style::Named || shape.inner().is_some() => shape,
        _ => {
            let span = input.ident.span();
            return Partial {
                // Shared, so snapshots of a complete enum cost a reference count, not a clone,
                // and the type need not be `Clone`.
                ty: quote_spanned!(span=> ::std::sync::Arc<Self>),
                apply: quote!(#p::apply_atomic_shared::<Self>(slot, path, event)),
                items: TokenStream::new(),
            };
        }
    };
    if let Some(inner) = shape.inner() {
        let ty = rm(inner.ty, "Partial");
        let apply = rm(inner.ty, "apply_partial");
        return Partial {
            ty,
            apply: quote!(#apply(slot, path, event)),
            items: TokenStream::new(),
        };
    }

    let ident = input.ident;
    let name = format_ident!("Partial{}", ident.unraw());
    let vis = input.vis;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let params = &generics.params;
    let syn_fields: Vec<&syn::Field> = match &original.data {
        syn::Data::Struct(s) => s.fields.iter().collect(),
        _ => Vec::new(),
    };

    let mut decls = Vec::new();
    let mut defaults = Vec::new();
    let mut debug = Vec::new();
    let mut arms = Vec::new();
    for f in shape.present() {
        let member = &f.member;
        let partial_ty = rm(f.ty, "Partial");
        let apply = rm(f.ty, "apply_partial");
        let field = syn_fields[f.index];
        let fvis = &field.vis;
        let docs = field.attrs.iter().filter(|a| a.path().is_ident("doc"));
        decls.push(quote! {
            #(#docs)*
            #fvis #member: ::core::option::Option<#partial_ty>,
        });
        defaults.push(quote!(#member: ::core::option::Option::None,));
        let label = f.rule_suffix();
        debug.push(quote!(.field(#label, &self.#member)));
        let keys = std::iter::once(&f.name).chain(&f.aliases);
        arms.push(quote! {
            #(#keys)|* => #apply(&mut __partial.#member, __rest, event),
        });
    }
    // A type parameter used only by skipped fields would otherwise be unused.
    let marker = (!input.type_params.is_empty()).then(|| {
        let tps = &input.type_params;
        quote! {
            #[doc(hidden)]
            pub __marker: ::core::marker::PhantomData<fn() -> (#(#tps,)*)>,
        }
    });
    let marker_default = marker
        .as_ref()
        .map(|_| quote!(__marker: ::core::marker::PhantomData,));
    let marker_clone = marker
        .as_ref()
        .map(|_| quote!(__marker: ::core::marker::PhantomData,));
    let clones = shape.present().map(|f| {
        let member = &f.member;
        quote!(#member: ::core::clone::Clone::clone(&self.#member),)
    });
    let doc = format!(
        "`{ident}` while it is still being generated: every field is `None` until its value \
         starts (strings, sequences and nested structs fill in as they stream).",
    );
    let label = name.to_string();
    let items = quote! {
        #[doc = #doc]
        #vis struct #name <#params> #where_clause {
            #(#decls)*
            #marker
        }

        #[automatically_derived]
        impl #impl_generics ::core::default::Default for #name #ty_generics #where_clause {
            fn default() -> Self {
                Self { #(#defaults)* #marker_default }
            }
        }

        #[automatically_derived]
        impl #impl_generics ::core::clone::Clone for #name #ty_generics #where_clause {
            fn clone(&self) -> Self {
                Self { #(#clones)* #marker_clone }
            }
        }

        #[automatically_derived]
        impl #impl_generics ::core::fmt::Debug for #name #ty_generics #where_clause {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#label) #(#debug)* .finish()
            }
        }
    };
    let route = if arms.is_empty() {
        TokenStream::new()
    } else {
        quote! {
            let __partial = slot.get_or_insert_with(::core::default::Default::default);
            match *__key {
                #(#arms)*
                _ => {}
            }
        }
    };
    let apply = quote! {
        match path.split_first() {
            ::core::option::Option::None => {
                if let ::instructor_core::Event::ObjectStart = event {
                    if slot.is_none() {
                        *slot = ::core::option::Option::Some(::core::default::Default::default());
                    }
                }
            }
            ::core::option::Option::Some((::instructor_core::Seg::Key(__key), __rest)) => {
                let _ = (__key, __rest);
                #route
            }
            ::core::option::Option::Some(_) => {}
        }
    };
    Partial {
        ty: quote!(#name #ty_generics),
        apply,
        items,
    }
}
