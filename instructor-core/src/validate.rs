//! Validation after parsing: field paths, collected failures, and the checks behind the
//! `#[instructor(...)]` constraint attributes.
//!
//! The grammar already enforces what it can; these checks run again on the parsed value so a
//! backend that ignores the grammar (or a hand-written impl) cannot slip a violation through.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use crate::grammar::{Bound, Int};
use crate::ResponseModel;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// A struct field or map key (its JSON name).
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A validation failure at a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where: `items[1].quantity`; empty for the whole value.
    pub path: String,
    /// What is wrong, for a person: `must be at least 1`.
    pub message: String,
}

impl FieldError {
    /// An error at `path` (`items[1].quantity`; empty for the whole value).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Collects validation failures while walking a value.
pub struct Validator<'a> {
    path: Vec<PathSeg>,
    errors: Vec<FieldError>,
    context: Option<&'a (dyn Any + Send + Sync)>,
    grounding: Option<&'a crate::grounding::Grounding>,
}

impl<'a> Validator<'a> {
    /// A validator with an optional user context (see [`Validator::context`]).
    pub fn new(context: Option<&'a (dyn Any + Send + Sync)>) -> Self {
        Self {
            path: Vec::new(),
            errors: Vec::new(),
            context,
            grounding: None,
        }
    }

    /// The same validator, checking `verbatim` and `choices` fields against `grounding`.
    pub fn with_grounding(mut self, grounding: &'a crate::grounding::Grounding) -> Self {
        self.grounding = Some(grounding);
        self
    }

    /// The source texts and choice sets of the extraction, when there is one.
    pub fn grounding(&self) -> Option<&'a crate::grounding::Grounding> {
        self.grounding
    }

    /// The validation context given to the extraction, downcast to `C`.
    pub fn context<C: Any>(&self) -> Option<&C> {
        self.context.and_then(|c| c.downcast_ref::<C>())
    }

    /// Records a failure at the current path.
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: self.path_string(),
            message: message.into(),
        });
    }

    /// Runs `f` with `seg` appended to the path.
    pub fn at<R>(&mut self, seg: PathSeg, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(seg);
        let r = f(self);
        self.path.pop();
        r
    }

    /// Runs `f` under the key `key`.
    pub fn field<R>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.at(PathSeg::Key(key.to_owned()), f)
    }

    /// Runs `f` under the index `i`.
    pub fn index<R>(&mut self, i: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        self.at(PathSeg::Index(i), f)
    }

    /// The failures so far.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The failures, consuming the validator.
    pub fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }

    fn path_string(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            match seg {
                PathSeg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                PathSeg::Index(i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        s
    }
}

/// Validates `value` with its type's rules; `Err` lists every failure.
///
/// ```
/// let errors = instructor_core::validate(&vec![1u8, 2]).err();
/// assert!(errors.is_none());
/// ```
pub fn validate<T: ResponseModel>(value: &T) -> Result<(), Vec<FieldError>> {
    validate_with_context(value, None)
}

/// Like [`validate`], with a context that validators can read through [`Validator::context`].
pub fn validate_with_context<T: ResponseModel>(
    value: &T,
    context: Option<&(dyn Any + Send + Sync)>,
) -> Result<(), Vec<FieldError>> {
    validate_grounded(value, context, None)
}

/// Like [`validate_with_context`], checking `verbatim` and `choices` fields against `grounding`
/// (without one they are not checked: there is no source to copy from).
pub fn validate_grounded<T: ResponseModel>(
    value: &T,
    context: Option<&(dyn Any + Send + Sync)>,
    grounding: Option<&crate::grounding::Grounding>,
) -> Result<(), Vec<FieldError>> {
    let mut v = Validator::new(context);
    if let Some(g) = grounding {
        v = v.with_grounding(g);
    }
    value.validate(&mut v);
    let errors = v.into_errors();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A hand-written validation of a whole value, for rules across fields ("end after start").
///
/// Hook it in with `#[instructor(validate)]` on the type; the derive then calls it after the
/// field checks.
///
/// ```
/// use instructor_core::{ResponseModel, Validate, Validator};
///
/// #[derive(serde::Deserialize, ResponseModel)]
/// #[instructor(validate)]
/// struct Span { start: u32, end: u32 }
///
/// impl Validate for Span {
///     fn validate(&self, v: &mut Validator<'_>) {
///         if self.end < self.start {
///             v.field("end", |v| v.error("must not be before start"));
///         }
///     }
/// }
///
/// let bad: Span = serde_json::from_str(r#"{"start":5,"end":1}"#).unwrap();
/// let errors = instructor_core::validate(&bad).unwrap_err();
/// assert_eq!(errors[0].to_string(), "end: must not be before start");
/// ```
pub trait Validate {
    /// Records every failure in `v`.
    fn validate(&self, v: &mut Validator<'_>);
}

/// The quantity a constraint attribute measures on a field value; `None` for a `null` option.
#[derive(Debug, Clone, Copy)]
pub enum Measured<'a> {
    /// An integer value.
    Int(Int),
    /// A float value.
    Float(f64),
    /// A string value (length counts `char`s).
    Str(&'a str),
    /// A sequence's item count.
    Items(usize),
}

/// Types that constraint attributes (`range`, `length`, `items`, `pattern`) can check.
/// `Option` and `Box` see through to their content.
pub trait Measure {
    /// The measured quantity, or `None` when there is nothing to check (`None` options).
    fn measure(&self) -> Option<Measured<'_>>;
}

macro_rules! measure_int {
    ($($t:ty),*) => {$(
        impl Measure for $t {
            fn measure(&self) -> Option<Measured<'_>> {
                #[allow(clippy::unnecessary_cast, irrefutable_let_patterns)]
                let v = if let Ok(v) = i128::try_from(*self) { Int::from_i128(v) } else { Int::pos(*self as u128) };
                Some(Measured::Int(v))
            }
        }
    )*};
}
measure_int!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl Measure for f32 {
    fn measure(&self) -> Option<Measured<'_>> {
        Some(Measured::Float(f64::from(*self)))
    }
}
impl Measure for f64 {
    fn measure(&self) -> Option<Measured<'_>> {
        Some(Measured::Float(*self))
    }
}
impl Measure for String {
    fn measure(&self) -> Option<Measured<'_>> {
        Some(Measured::Str(self))
    }
}
impl<T> Measure for Vec<T> {
    fn measure(&self) -> Option<Measured<'_>> {
        Some(Measured::Items(self.len()))
    }
}
impl<T, const N: usize> Measure for [T; N] {
    fn measure(&self) -> Option<Measured<'_>> {
        Some(Measured::Items(N))
    }
}
impl<T: Measure> Measure for Option<T> {
    fn measure(&self) -> Option<Measured<'_>> {
        self.as_ref().and_then(Measure::measure)
    }
}
impl<T: Measure> Measure for Box<T> {
    fn measure(&self) -> Option<Measured<'_>> {
        (**self).measure()
    }
}

impl Bound {
    fn describe(self) -> String {
        match self {
            Bound::Int(i) => {
                if i.neg {
                    format!("-{}", i.mag)
                } else {
                    i.mag.to_string()
                }
            }
            Bound::Float(f) => f.to_string(),
        }
    }
}

fn at_least(m: Measured<'_>, b: Bound) -> bool {
    match (m, b) {
        (Measured::Int(v), Bound::Int(b)) => b.le(v),
        (Measured::Int(v), Bound::Float(b)) => v.as_f64() >= b,
        (Measured::Float(v), Bound::Int(b)) => v >= b.as_f64(),
        (Measured::Float(v), Bound::Float(b)) => v >= b,
        _ => true,
    }
}

fn at_most(m: Measured<'_>, b: Bound) -> bool {
    match (m, b) {
        (Measured::Int(v), Bound::Int(b)) => v.le(b),
        (Measured::Int(v), Bound::Float(b)) => v.as_f64() <= b,
        (Measured::Float(v), Bound::Int(b)) => v <= b.as_f64(),
        (Measured::Float(v), Bound::Float(b)) => v <= b,
        _ => true,
    }
}

/// Checks a `range(min = …, max = …)` constraint.
pub fn check_range(
    v: &mut Validator<'_>,
    value: &impl Measure,
    min: Option<Bound>,
    max: Option<Bound>,
) {
    let Some(m) = value.measure() else { return };
    if let Some(b) = min {
        if !at_least(m, b) {
            v.error(format!("must be at least {}", b.describe()));
        }
    }
    if let Some(b) = max {
        if !at_most(m, b) {
            v.error(format!("must be at most {}", b.describe()));
        }
    }
}

fn check_count(
    v: &mut Validator<'_>,
    n: usize,
    min: Option<usize>,
    max: Option<usize>,
    what: &str,
) {
    if let Some(min) = min {
        if n < min {
            v.error(format!("must have at least {min} {what} (has {n})"));
        }
    }
    if let Some(max) = max {
        if n > max {
            v.error(format!("must have at most {max} {what} (has {n})"));
        }
    }
}

/// Checks a `length(min = …, max = …)` constraint (in characters).
pub fn check_length(
    v: &mut Validator<'_>,
    value: &impl Measure,
    min: Option<usize>,
    max: Option<usize>,
) {
    if let Some(Measured::Str(s)) = value.measure() {
        check_count(v, s.chars().count(), min, max, "characters");
    }
}

/// Checks an `items(min = …, max = …)` constraint.
pub fn check_items(
    v: &mut Validator<'_>,
    value: &impl Measure,
    min: Option<usize>,
    max: Option<usize>,
) {
    if let Some(Measured::Items(n)) = value.measure() {
        check_count(v, n, min, max, "items");
    }
}

/// Checks a `pattern = "…"` constraint: the whole string must match.
pub fn check_pattern(v: &mut Validator<'_>, value: &impl Measure, pattern: &'static str) {
    let Some(Measured::Str(s)) = value.measure() else {
        return;
    };
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Option<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let re = {
        let mut map = match cache.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(pattern)
            .or_insert_with(|| regex::Regex::new(&format!("^(?:{pattern})$")).ok())
            .clone()
    };
    match re {
        Some(re) if re.is_match(s) => {}
        Some(_) => v.error(format!("must match the pattern {pattern:?}")),
        None => v.error(format!(
            "the pattern {pattern:?} is not a valid regular expression"
        )),
    }
}

/// Runs a `validate = path::to_fn` hook.
pub fn check_fn<T: ?Sized>(v: &mut Validator<'_>, value: &T, f: fn(&T) -> Result<(), String>) {
    if let Err(message) = f(value) {
        v.error(message);
    }
}
