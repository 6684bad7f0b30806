//! Code for `ResponseModel::GRAMMAR` and `ResponseModel::GBNF`.
//!
//! The derive writes a constant expression that builds the type's grammar with
//! `instructor_core::grammar`'s `const fn` builders: it merges the grammar of every field type
//! (`<F as ResponseModel>::GRAMMAR`), narrows the constrained ones with `grammar::constrain`, and
//! defines the type's own rules from bodies built piece by piece. The macro never needs to know
//! a field type's grammar; it only names the rule that matches it.
//!
//! Keys come in declaration order, with at most one optional space after each `:` and `,`
//! (`SPACE`, the same text as core's `grammar::SPACE`: the layout models write), and adjacent
//! literals are merged (`"{\"name\":" " "? string "," " "? "\"age\":" " "? age "}"`) so
//! speculative drafting sees the longest fixed runs. Optional members use comma-prefixed tails so that no comma can dangle and no choice is
//! ambiguous (see [`Gen::object`]).

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::Ident;

use crate::ast::{Body, Field, Input, Repr, Shape, Style, Variant};
use crate::attr::Constraints;
use crate::escape::{json_string, mangle};
use crate::tokens::{bound_tokens, count_tokens};

mod body;
use body::{Member, Seq};

/// `<Ty as ::instructor_core::ResponseModel>::item`, every token spanned at the type so that a
/// type without an impl is reported there.
pub fn rm(ty: &syn::Type, item: &str) -> TokenStream {
    let span = ty.span();
    let item = Ident::new(item, span);
    quote_spanned!(span=> <#ty as ::instructor_core::ResponseModel>::#item)
}

/// The expression for `const GRAMMAR`.
pub fn grammar(input: &Input<'_>) -> TokenStream {
    let mut g = Gen::new(input);
    let kind = match &input.body {
        Body::Struct(shape) => {
            if let Some(inner) = shape.inner() {
                // A newtype or transparent struct is its inner value: same rules, kind, nullability.
                let expr = g.field_grammar(inner, "");
                return g.finish_passthrough(expr);
            }
            g.struct_rules(shape)
        }
        Body::Enum(variants, repr) => g.enum_rules(variants, repr),
    };
    g.finish(kind)
}

/// The item for `const GBNF`, exactly sized, for types without type parameters (a generic
/// type's nested constants could not name the concrete type; those keep the trait default).
pub fn gbnf(input: &Input<'_>) -> TokenStream {
    if !input.type_params.is_empty() {
        return TokenStream::new();
    }
    let ident = input.ident;
    let p = quote!(::instructor_core::__private);
    quote! {
        const GBNF: &'static str = {
            const FULL: &#p::Text<{ #p::CAP }> =
                &<#ident as ::instructor_core::ResponseModel>::GRAMMAR.with_root_rule();
            const LEN: usize = FULL.len();
            const BYTES: [u8; LEN] = #p::grammar::trimmed::<LEN>(FULL);
            #p::grammar::str_of(&BYTES)
        };
    }
}

/// The state of one `GRAMMAR` expression being generated.
struct Gen<'a> {
    input: &'a Input<'a>,
    /// Nested `const` items (non-generic types): constrained fields, tag members.
    consts: Vec<TokenStream>,
    /// `let` statements, after `__name` is bound.
    lets: Vec<TokenStream>,
    /// Grammars to merge, deduplicated by their tokens.
    merges: Vec<TokenStream>,
    merged: HashSet<String>,
    /// The type's own rules: name local and body.
    rules: Vec<(Ident, Seq)>,
    /// Rule-name suffixes in use, so that no two rules of this type share a name.
    used: HashSet<String>,
    counter: usize,
}

impl<'a> Gen<'a> {
    fn new(input: &'a Input<'a>) -> Self {
        Gen {
            input,
            consts: Vec::new(),
            lets: Vec::new(),
            merges: Vec::new(),
            merged: HashSet::new(),
            rules: Vec::new(),
            used: HashSet::new(),
            counter: 0,
        }
    }

    fn generic(&self) -> bool {
        !self.input.type_params.is_empty()
    }

    fn fresh(&mut self, prefix: &str) -> Ident {
        self.counter += 1;
        format_ident!("__{}{}", prefix, self.counter)
    }

    /// A rule-name suffix no other rule of this type uses.
    fn reserve(&mut self, wanted: &str) -> String {
        let base = match mangle(wanted) {
            m if m.is_empty() => String::from("x"),
            m => m,
        };
        let mut candidate = base.clone();
        let mut k = 2;
        while !self.used.insert(candidate.clone()) {
            candidate = format!("{base}-{k}");
            k += 1;
        }
        candidate
    }

    /// Binds a local to the name `Self-suffix` and returns the local.
    fn rule_name(&mut self, suffix: &str) -> Ident {
        let var = self.fresh("n");
        let p = quote!(::instructor_core::__private);
        self.lets.push(quote! {
            let #var: #p::Name = #p::grammar::name(&[__name.as_str(), #suffix]);
        });
        var
    }

    fn merge(&mut self, expr: TokenStream) {
        if self.merged.insert(expr.to_string()) {
            self.merges.push(expr);
        }
    }

    /// The grammar of a field's value (narrowed by its constraints), merged into this one; the
    /// returned expression is that grammar.
    fn field_grammar(&mut self, f: &Field<'_>, prefix: &str) -> TokenStream {
        let base = rm(f.ty, "GRAMMAR");
        if !f.constraints.any() && f.ground.is_none() {
            let expr = base;
            self.merge(expr.clone());
            return expr;
        }
        let suffix = self.reserve(&format!("{prefix}{}", f.rule_suffix()));
        let c = self.fresh("c");
        let span = f.constraints.span();
        let cons = constraints(&f.constraints);
        let p = quote!(::instructor_core::__private);
        if let Some(g) = &f.ground {
            // Grounded: the value's rule is filled in at run time (see `grounding.rs`).
            let name = if self.generic() {
                quote!(#p::grammar::name(&[__name.as_str(), #suffix]))
            } else {
                let ident = self.input.ident.unraw().to_string();
                quote!(#p::grammar::name(&[
                    #p::grammar::user_type_name(::core::module_path!(), #ident).as_str(),
                    #suffix,
                ]))
            };
            let expr = crate::grounding::narrow(g, &base, name);
            if self.generic() {
                self.lets.push(quote!(let #c: #p::Grammar = #expr;));
            } else {
                self.consts
                    .push(quote_spanned!(g.span=> const #c: #p::Grammar = #expr;));
            }
        } else if self.generic() {
            self.lets.push(quote_spanned! {span=>
                let #c: ::instructor_core::__private::Grammar = ::instructor_core::__private::grammar::constrain(
                    &#base,
                    #p::grammar::name(&[__name.as_str(), #suffix]),
                    #cons,
                );
            });
        } else {
            // Its own constant, spanned at the attribute: a constraint that does not fit the
            // field type is a constant-evaluation panic, reported where the constraint is written.
            // (The callee path is spelled out here: interpolated tokens keep their own spans, and
            // the call's span is that of its first and last tokens.)
            let ident = self.input.ident.unraw().to_string();
            self.consts.push(quote_spanned! {span=>
                const #c: ::instructor_core::__private::Grammar = ::instructor_core::__private::grammar::constrain(
                    &#base,
                    #p::grammar::name(&[
                        #p::grammar::user_type_name(::core::module_path!(), #ident).as_str(),
                        #suffix,
                    ]),
                    #cons,
                );
            });
        }
        let expr = quote!(#c);
        self.merge(expr.clone());
        expr
    }

    /// A local holding the name of the rule matching a field's value.
    fn value(&mut self, f: &Field<'_>, prefix: &str) -> Ident {
        let g = self.field_grammar(f, prefix);
        let var = self.fresh("r");
        let p = quote!(::instructor_core::__private);
        self.lets.push(quote!(let #var: #p::Name = *#g.name();));
        var
    }

    fn members(&mut self, shape: &Shape<'_>, prefix: &str) -> Vec<Member> {
        let fields: Vec<&Field> = shape.present().collect();
        fields
            .into_iter()
            .map(|f| Member {
                key: json_string(&f.name),
                rule: self.value(f, prefix),
                optional: f.optional,
            })
            .collect()
    }

    /// The object `{…}` holding `members`.
    ///
    /// When the first member is required it is one sequence (`"{" kv1 "," kv2 ( "," kv3 )? "}"`).
    /// Otherwise the first member written decides the alternative: `"{" ( kv1 t2 | kv2 t3 | … )
    /// "}"`, one alternative per member up to the first required one (plus the empty object when
    /// all are optional), where the tail rule `t{j}` is the comma-prefixed rest from member `j`
    /// on. Every alternative starts with a different key, so the grammar is never ambiguous and
    /// no comma can dangle.
    fn object(&mut self, members: &[Member], tail_prefix: &str) -> Seq {
        let mut seq = Seq::default();
        if members.first().is_none_or(|m| !m.optional) {
            // The first member is always written: one sequence, later optional members as
            // `( "," kv )?`.
            seq.lit("{");
            for (i, m) in members.iter().enumerate() {
                if i == 0 {
                    m.kv(&mut seq, false);
                } else {
                    m.tail(&mut seq);
                }
            }
            seq.lit("}");
            return seq;
        }
        let n = members.len();
        let first_required = members.iter().position(|m| !m.optional);
        let last_alt = first_required.unwrap_or(n - 1);
        // Tails t{j+1} start at member j (0-based), for j = 1 ..= last_alt + 1 within bounds.
        let last_tail = (last_alt + 1).min(n - 1);
        let mut tails = vec![None; n];
        for (j, slot) in tails.iter_mut().enumerate().take(last_tail + 1).skip(1) {
            let suffix = format!("{tail_prefix}t{}", j + 1);
            let suffix = self.reserve(&suffix);
            *slot = Some(self.rule_name(&suffix));
        }
        for j in 1..=last_tail {
            let mut body = Seq::default();
            if j < last_tail {
                // Chained, so the tails of a long optional prefix stay linear in size.
                members[j].tail(&mut body);
                if let Some(next) = &tails[j + 1] {
                    body.rule(next);
                }
            } else {
                for m in &members[j..] {
                    m.tail(&mut body);
                }
            }
            if let Some(name) = tails[j].clone() {
                self.rules.push((name, body));
            }
        }
        seq.lit("{");
        seq.op("(");
        for (i, m) in members.iter().enumerate().take(last_alt + 1) {
            if i > 0 {
                seq.op("|");
            }
            m.kv(&mut seq, false);
            if let Some(Some(tail)) = tails.get(i + 1) {
                seq.rule(tail);
            }
        }
        seq.op(if first_required.is_some() { ")" } else { ")?" });
        seq.lit("}");
        seq
    }

    /// `[A,B]` for the present fields of a tuple shape.
    fn array(&mut self, shape: &Shape<'_>, prefix: &str) -> Seq {
        let mut seq = Seq::default();
        seq.lit("[");
        let fields: Vec<&Field> = shape.present().collect();
        for (i, f) in fields.into_iter().enumerate() {
            if i > 0 {
                seq.lit(",");
                seq.space();
            }
            let r = self.value(f, prefix);
            seq.rule(&r);
        }
        seq.lit("]");
        seq
    }

    /// A struct's own rules; returns its `Kind`.
    fn struct_rules(&mut self, shape: &Shape<'_>) -> TokenStream {
        let p = quote!(::instructor_core::__private);
        let name = format_ident!("__name");
        match shape.style {
            Style::Named => {
                // Reserved before the fields' rules, so it keeps its plain spelling.
                let mc_suffix = self.reserve("mc");
                let members = self.members(shape, "");
                let body = self.object(&members, "");
                self.rules.insert(0, (name, body));
                let mc = self.rule_name(&mc_suffix);
                let mut mc_body = Seq::default();
                for m in &members {
                    m.tail(&mut mc_body);
                }
                self.rules.push((mc.clone(), mc_body));
                quote!(#p::Kind::Object { members: #mc })
            }
            Style::Tuple => {
                let body = self.array(shape, "");
                self.rules.insert(0, (name, body));
                quote!(#p::Kind::Other)
            }
            Style::Unit | Style::Newtype => {
                // Newtypes never get here (they pass their inner grammar through).
                let mut body = Seq::default();
                body.lit("null");
                self.rules.insert(0, (name, body));
                quote!(#p::Kind::Other)
            }
        }
    }

    /// The content of a variant: its value after the tag, or the whole value when untagged.
    fn content(&mut self, v: &Variant<'_>, prefix: &str) -> Seq {
        match v.shape.style {
            Style::Unit => {
                let mut seq = Seq::default();
                seq.lit("null");
                seq
            }
            Style::Newtype => {
                let mut seq = Seq::default();
                if let Some(inner) = v.shape.inner() {
                    let r = self.value(inner, prefix);
                    seq.rule(&r);
                }
                seq
            }
            Style::Tuple => self.array(&v.shape, prefix),
            Style::Named => {
                let members = self.members(&v.shape, prefix);
                self.object(&members, prefix)
            }
        }
    }

    /// An enum's alternatives, one per variant serde can deserialize, in declaration order.
    fn enum_rules(&mut self, variants: &[Variant<'_>], repr: &Repr) -> TokenStream {
        let mut body = Seq::default();
        let live: Vec<&Variant> = variants.iter().filter(|v| !v.skip).collect();
        for (i, v) in live.into_iter().enumerate() {
            if i > 0 {
                body.op("|");
            }
            let prefix = format!("{}-", v.ident.unraw());
            let name = json_string(&v.name);
            let mut alt = Seq::default();
            match repr {
                Repr::External => {
                    if v.shape.style == Style::Unit {
                        alt.lit(&name);
                    } else {
                        alt.lit(&format!("{{{name}:"));
                        alt.space();
                        alt.extend(self.content(v, &prefix));
                        alt.lit("}");
                    }
                }
                Repr::Internal { tag } => {
                    alt.lit(&format!("{{{}:", json_string(tag)));
                    alt.space();
                    alt.lit(&name);
                    match v.shape.style {
                        Style::Named => {
                            let members = self.members(&v.shape, &prefix);
                            for m in &members {
                                m.tail(&mut alt);
                            }
                        }
                        Style::Newtype => {
                            if let Some(inner) = v.shape.inner() {
                                let members = self.tag_members(v, inner);
                                alt.rule(&members);
                            }
                        }
                        // Rejected while reading the input.
                        Style::Unit | Style::Tuple => {}
                    }
                    alt.lit("}");
                }
                Repr::Adjacent { tag, content } => {
                    alt.lit(&format!("{{{}:", json_string(tag)));
                    alt.space();
                    alt.lit(&name);
                    if v.shape.style != Style::Unit {
                        alt.lit(",");
                        alt.space();
                        alt.lit(&format!("{}:", json_string(content)));
                        alt.space();
                        alt.extend(self.content(v, &prefix));
                    }
                    alt.lit("}");
                }
                Repr::Untagged => alt.extend(self.content(v, &prefix)),
            }
            body.extend(alt);
        }
        self.rules.insert(0, (format_ident!("__name"), body));
        let p = quote!(::instructor_core::__private);
        quote!(#p::Kind::Other)
    }

    /// For an internally tagged newtype variant: the comma-prefixed members rule of the struct it
    /// holds, which follow the tag inside the same object. Anything but a struct with named
    /// fields is a constant-evaluation error reported at the variant.
    fn tag_members(&mut self, v: &Variant<'_>, inner: &Field<'_>) -> Ident {
        let g = self.field_grammar(inner, &format!("{}-", v.ident.unraw()));
        let var = self.fresh("m");
        let p = quote!(::instructor_core::__private);
        let msg = format!(
            "instructor: the internally tagged variant `{}` must hold a struct with named fields \
             (its fields go next to the tag)",
            v.ident
        );
        let span = v.ident.span();
        let expr = quote_spanned! {span=>
            match #g.kind() {
                #p::Kind::Object { members } => members,
                _ => ::core::panic!(#msg),
            }
        };
        if self.generic() {
            self.lets.push(quote!(let #var: #p::Name = #expr;));
        } else {
            self.consts
                .push(quote_spanned!(span=> const #var: #p::Name = #expr;));
        }
        var
    }

    /// The local binding of `__name`, the type's rule name.
    fn name_binding(&self) -> TokenStream {
        let p = quote!(::instructor_core::__private);
        let ident = self.input.ident.unraw().to_string();
        let base = quote!(#p::grammar::user_type_name(::core::module_path!(), #ident));
        if !self.generic() {
            return quote!(let __name: #p::Name = #base;);
        }
        // Each instantiation gets its own rules: `Pair-hhhhhh-u8` and `Pair-hhhhhh-string`.
        let params = self
            .input
            .type_params
            .iter()
            .map(|t| quote!(<#t as ::instructor_core::ResponseModel>::GRAMMAR.name().as_str()));
        quote! {
            let __base: #p::Name = #base;
            let __name: #p::Name = #p::grammar::name(&[__base.as_str(), #(#params),*]);
        }
    }

    fn finish(self, kind: TokenStream) -> TokenStream {
        let p = quote!(::instructor_core::__private);
        let name = self.name_binding();
        let Gen {
            consts,
            lets,
            merges,
            rules,
            ..
        } = self;
        let defines = rules.iter().map(|(var, body)| {
            let body = body.emit();
            quote!(.define(&#var, &#body))
        });
        quote! {{
            #(#consts)*
            #name
            #(#lets)*
            #p::Grammar::new()
                #(.merge(&#merges))*
                #(#defines)*
                .root(__name, #kind)
        }}
    }

    fn finish_passthrough(self, expr: TokenStream) -> TokenStream {
        let name = self.name_binding();
        let Gen { consts, lets, .. } = self;
        quote! {{
            #(#consts)*
            #name
            #(#lets)*
            let _ = __name;
            #expr
        }}
    }
}

/// A `grammar::Constraints` literal.
fn constraints(c: &Constraints) -> TokenStream {
    let p = quote!(::instructor_core::__private);
    let (min, max) = match &c.range {
        Some(r) => (bound_tokens(r.min), bound_tokens(r.max)),
        None => (bound_tokens(None), bound_tokens(None)),
    };
    let length = count_tokens(&c.length);
    let items = count_tokens(&c.items);
    let pattern = match &c.pattern {
        None => quote!(::core::option::Option::None),
        Some(p) => {
            let g = &p.gbnf;
            quote!(::core::option::Option::Some(#g))
        }
    };
    quote! {
        #p::grammar::Constraints { min: #min, max: #max, length: #length, items: #items, pattern: #pattern }
    }
}
