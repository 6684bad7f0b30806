//! Error collection for one derive invocation.
//!
//! Reading the input never stops at the first problem: every `syn::Error` is collected here
//! with the span of the offending token and reported together, so one `cargo build` shows the
//! user everything that is wrong (serde_derive's `internals/ctxt.rs` works the same way).

use std::cell::{Cell, RefCell};
use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

/// The errors found so far.
#[derive(Default)]
pub struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
    serde_rejects: Cell<bool>,
}

impl Ctxt {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `msg` spanned over the tokens of `obj`.
    pub fn error_spanned_by<A: ToTokens, T: Display>(&self, obj: A, msg: T) {
        self.errors
            .borrow_mut()
            .push(syn::Error::new_spanned(obj.into_token_stream(), msg));
    }

    /// Records `msg` at `span`.
    pub fn error_at<T: Display>(&self, span: Span, msg: T) {
        self.errors.borrow_mut().push(syn::Error::new(span, msg));
    }

    /// Notes a problem serde's own derive reports (an unknown rename rule, a tag clashing with a
    /// field, ...): repeating it would only add a second message for the same mistake.
    pub fn serde_rejects(&self) {
        self.serde_rejects.set(true);
    }

    /// Whether serde's derive will fail on this input.
    pub fn serde_will_fail(&self) -> bool {
        self.serde_rejects.get()
    }

    /// Records an error `syn` produced while parsing.
    pub fn syn_error(&self, err: syn::Error) {
        self.errors.borrow_mut().push(err);
    }

    /// All errors combined into one, or `Ok` when there were none.
    pub fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.into_inner().into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for rest in errors {
            combined.combine(rest);
        }
        Err(combined)
    }
}
