//! Rule bodies while the derive writes them: a [`Seq`] of literal JSON text, references to
//! other rules and grammar operators, with adjacent literals merged so speculative drafting
//! sees the longest fixed runs, emitted as one `Text<BODY_CAP>` builder expression; and an
//! object [`Member`] as a piece of one. Must not decide which rules a type has (`mod.rs` does).

use proc_macro2::TokenStream;
use quote::quote;
use syn::Ident;

/// One piece of a rule body.
pub(super) enum Piece {
    /// Literal JSON text (GBNF-quoted when emitted).
    Lit(String),
    /// A reference to the rule whose `Name` is in this local.
    Rule(Ident),
    /// Grammar syntax: `(`, `)`, `)?`, `|`, and the optional space [`SPACE`].
    Op(&'static str),
}

/// The optional space after `:` and `,`: must equal `instructor_core::__private::grammar::SPACE`
/// (the derive cannot name core's constant inside the rule text it writes; a test in
/// `instructor-core/tests/derive.rs` checks that the two agree).
pub(super) const SPACE: &str = "\" \"?";

/// A rule body under construction; adjacent literals merge.
#[derive(Default)]
pub(super) struct Seq(pub(super) Vec<Piece>);

impl Seq {
    pub(super) fn lit(&mut self, s: &str) {
        if let Some(Piece::Lit(prev)) = self.0.last_mut() {
            prev.push_str(s);
        } else {
            self.0.push(Piece::Lit(s.to_owned()));
        }
    }

    pub(super) fn rule(&mut self, id: &Ident) {
        self.0.push(Piece::Rule(id.clone()));
    }

    pub(super) fn op(&mut self, op: &'static str) {
        self.0.push(Piece::Op(op));
    }

    /// The optional space JSON allows after a key's `:` and a separating `,`; see
    /// `instructor_core::__private::grammar::SPACE` for why at most one.
    pub(super) fn space(&mut self) {
        self.0.push(Piece::Op(SPACE));
    }

    pub(super) fn extend(&mut self, other: Seq) {
        for piece in other.0 {
            match piece {
                Piece::Lit(s) => self.lit(&s),
                other => self.0.push(other),
            }
        }
    }

    /// The `Text<BODY_CAP>` builder expression for this body, pieces separated by one space.
    pub(super) fn emit(&self) -> TokenStream {
        let p = quote!(::instructor_core::__private);
        let mut calls = Vec::new();
        let mut raw = String::new();
        let flush = |raw: &mut String, calls: &mut Vec<TokenStream>| {
            if !raw.is_empty() {
                calls.push(quote!(.raw(#raw)));
                raw.clear();
            }
        };
        if self.0.is_empty() {
            calls.push(quote!(.lit("")));
        }
        for (i, piece) in self.0.iter().enumerate() {
            if i > 0 {
                raw.push(' ');
            }
            match piece {
                Piece::Op(op) => raw.push_str(op),
                Piece::Lit(s) => {
                    flush(&mut raw, &mut calls);
                    calls.push(quote!(.lit(#s)));
                }
                Piece::Rule(id) => {
                    flush(&mut raw, &mut calls);
                    calls.push(quote!(.text(&#id)));
                }
            }
        }
        flush(&mut raw, &mut calls);
        quote!(#p::Text::<{ #p::BODY_CAP }>::new() #(#calls)*)
    }
}

/// A member of a JSON object: key, value rule, and whether it may be left out.
pub(super) struct Member {
    pub(super) key: String,
    pub(super) rule: Ident,
    pub(super) optional: bool,
}

impl Member {
    /// `"key": value`, with a leading comma when `comma` (each followed by an optional space).
    pub(super) fn kv(&self, seq: &mut Seq, comma: bool) {
        if comma {
            seq.lit(",");
            seq.space();
        }
        seq.lit(&format!("{}:", self.key));
        seq.space();
        seq.rule(&self.rule);
    }

    /// The member as it follows another: `"," kv`, or `( "," kv )?` when optional.
    pub(super) fn tail(&self, seq: &mut Seq) {
        if self.optional {
            seq.op("(");
            self.kv(seq, true);
            seq.op(")?");
        } else {
            self.kv(seq, true);
        }
    }
}
