//! Code for `ResponseModel::json_schema`.
//!
//! The schema describes the same values as the grammar (`grammar/`): objects with
//! `additionalProperties: false`, every key the grammar always writes listed in `required`
//! (`Option` fields too: the grammar writes them, as `null` when absent), and enums in the shape
//! of their serde representation. A user type puts its schema in `$defs` under its identifier
//! (or, when another type took that name, under its grammar rule name, which is unique) and
//! returns a `$ref`, so a type used twice is described once.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;

use crate::ast::{Body, Field, Input, Repr, Shape, Style, Variant};
use crate::grammar::rm;
use crate::tokens::{bound_tokens, count_tokens};

/// The body of `fn json_schema(defs: &mut Map<String, Value>) -> Value`.
pub fn json_schema(input: &Input<'_>) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    let json = quote!(#p::serde_json);
    let build = match &input.body {
        Body::Struct(shape) => match shape.inner() {
            Some(inner) => field_schema(inner),
            None => shape_schema(shape),
        },
        Body::Enum(variants, repr) => enum_schema(variants, repr),
    };
    let describe = input
        .attrs
        .description
        .as_ref()
        .map(|d| quote!(#p::schema::describe(&mut __schema, #d);));
    let ident = input.ident.unraw().to_string();
    quote! {
        let mut __schema: #json::Value = #build;
        #describe
        // Another type may already have this identifier (same name, other module, or another
        // instantiation of a generic type): then the unique grammar rule name is the key.
        let __key: ::std::string::String = match defs.get(#ident) {
            ::core::option::Option::Some(__other) if *__other != __schema => {
                ::std::string::String::from(
                    <Self as ::instructor_core::ResponseModel>::GRAMMAR.name().as_str(),
                )
            }
            _ => ::std::string::String::from(#ident),
        };
        #p::schema::define(defs, &__key, __schema)
    }
}

/// A field's value schema, with its description and constraint keywords.
fn field_schema(f: &Field<'_>) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    let schema = rm(f.ty, "json_schema");
    let describe = f
        .description
        .as_ref()
        .map(|d| quote!(#p::schema::describe(&mut __s, #d);));
    let c = &f.constraints;
    let constrain = c.any().then(|| {
        let (min, max) = match &c.range {
            Some(r) => (bound_tokens(r.min), bound_tokens(r.max)),
            None => (bound_tokens(None), bound_tokens(None)),
        };
        let length = count_tokens(&c.length);
        let items = count_tokens(&c.items);
        let pattern = match &c.pattern {
            Some(pat) => {
                let re = &pat.regex;
                quote!(::core::option::Option::Some(#re))
            }
            None => quote!(::core::option::Option::None),
        };
        quote!(#p::schema::constrain_schema(&mut __s, #min, #max, #length, #items, #pattern);)
    });
    let ground = f.ground.as_ref().map(crate::grounding::schema);
    quote! {{
        let mut __s = #schema(defs);
        #describe
        #constrain
        #ground
        __s
    }}
}

/// `{"type":"object",...}` for named fields, with `extra` properties first (an internal tag).
fn object_schema(shape: &Shape<'_>, tag: Option<(&str, &str)>) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    let json = quote!(#p::serde_json);
    let mut props = Vec::new();
    let mut required = Vec::new();
    if let Some((tag, name)) = tag {
        props.push(quote!(__props.insert(::std::string::String::from(#tag), #json::json!({"type": "string", "const": #name}));));
        required.push(quote!(#tag));
    }
    for f in shape.present() {
        let key = &f.name;
        let schema = field_schema(f);
        props.push(quote!(__props.insert(::std::string::String::from(#key), #schema);));
        if !f.optional {
            required.push(quote!(#key));
        }
    }
    quote! {{
        let mut __props = #json::Map::new();
        #(#props)*
        #json::json!({
            "type": "object",
            "properties": __props,
            "required": [#(#required),*],
            "additionalProperties": false,
        })
    }}
}

/// The schema of a struct or variant body.
fn shape_schema(shape: &Shape<'_>) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    let json = quote!(#p::serde_json);
    match shape.style {
        Style::Named => object_schema(shape, None),
        Style::Newtype => match shape.inner() {
            Some(inner) => field_schema(inner),
            None => quote!(#json::json!({})),
        },
        Style::Tuple => {
            // Parenthesized: `json!` would read a bare block as an object literal.
            let items: Vec<TokenStream> = shape.present().map(|f| paren(field_schema(f))).collect();
            let n = items.len();
            quote! {
                #json::json!({
                    "type": "array",
                    "prefixItems": [#(#items),*],
                    "items": false,
                    "minItems": #n,
                    "maxItems": #n,
                })
            }
        }
        Style::Unit => quote!(#json::json!({"type": "null"})),
    }
}

fn enum_schema(variants: &[Variant<'_>], repr: &Repr) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    let json = quote!(#p::serde_json);
    let live: Vec<&Variant> = variants.iter().filter(|v| !v.skip).collect();
    let mut alternatives = Vec::new();
    // Unit variants without a description collapse into one `enum` of names.
    let mut plain_units = Vec::new();
    let mut needs_tag_helper = false;
    for v in &live {
        let name = &v.name;
        let alt = match repr {
            Repr::External => {
                if v.shape.style == Style::Unit {
                    if v.description.is_none() {
                        plain_units.push(name.clone());
                        continue;
                    }
                    quote!(#json::json!({"type": "string", "const": #name}))
                } else {
                    let content = paren(shape_schema(&v.shape));
                    quote! {
                        #json::json!({
                            "type": "object",
                            "properties": { #name: #content },
                            "required": [#name],
                            "additionalProperties": false,
                        })
                    }
                }
            }
            Repr::Internal { tag } => match v.shape.style {
                Style::Named => object_schema(&v.shape, Some((tag, name))),
                Style::Newtype => {
                    needs_tag_helper = true;
                    let inner = v
                        .shape
                        .inner()
                        .map(field_schema)
                        .unwrap_or_else(|| quote!(#json::json!({})));
                    quote!(__with_tag(#inner, defs, #tag, #name))
                }
                Style::Unit | Style::Tuple => quote! {
                    #json::json!({
                        "type": "object",
                        "properties": { #tag: {"type": "string", "const": #name} },
                        "required": [#tag],
                        "additionalProperties": false,
                    })
                },
            },
            Repr::Adjacent { tag, content } => {
                if v.shape.style == Style::Unit {
                    quote! {
                        #json::json!({
                            "type": "object",
                            "properties": { #tag: {"type": "string", "const": #name} },
                            "required": [#tag],
                            "additionalProperties": false,
                        })
                    }
                } else {
                    let inner = paren(shape_schema(&v.shape));
                    quote! {
                        #json::json!({
                            "type": "object",
                            "properties": { #tag: {"type": "string", "const": #name}, #content: #inner },
                            "required": [#tag, #content],
                            "additionalProperties": false,
                        })
                    }
                }
            }
            Repr::Untagged => shape_schema(&v.shape),
        };
        let alt = match &v.description {
            Some(d) => quote!({
                let mut __v = #alt;
                #p::schema::describe(&mut __v, #d);
                __v
            }),
            None => alt,
        };
        alternatives.push(paren(alt));
    }
    if !plain_units.is_empty() {
        alternatives.insert(
            0,
            quote!(#json::json!({"type": "string", "enum": [#(#plain_units),*]})),
        );
    }
    let combinator = if matches!(repr, Repr::Untagged) {
        "anyOf"
    } else {
        "oneOf"
    };
    let combined = if alternatives.len() == 1 {
        alternatives.remove(0)
    } else {
        // Every alternative is already parenthesized for `json!`.
        quote!(#json::json!({ #combinator: [#(#alternatives),*] }))
    };
    let helper = needs_tag_helper.then(|| {
        quote! {
            // The struct a newtype variant holds, inlined with the tag as one more required
            // property (a `$ref` next to the tag would forbid the tag: the struct's schema has
            // `additionalProperties: false`).
            fn __with_tag(
                mut schema: #json::Value,
                defs: &#json::Map<::std::string::String, #json::Value>,
                tag: &str,
                name: &str,
            ) -> #json::Value {
                let target = schema
                    .get("$ref")
                    .and_then(#json::Value::as_str)
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .and_then(|key| defs.get(key))
                    .cloned();
                if let ::core::option::Option::Some(target) = target {
                    schema = target;
                }
                if let #json::Value::Object(obj) = &mut schema {
                    if let ::core::option::Option::Some(#json::Value::Object(props)) = obj.get_mut("properties") {
                        props.insert(::std::string::String::from(tag), #json::json!({"type": "string", "const": name}));
                    }
                    if let ::core::option::Option::Some(#json::Value::Array(required)) = obj.get_mut("required") {
                        required.insert(0, #json::Value::from(tag));
                    }
                }
                schema
            }
        }
    });
    quote! {{
        #helper
        #combined
    }}
}

fn paren(expr: TokenStream) -> TokenStream {
    quote!((#expr))
}
