//! Grounded extraction: fields whose values must be copied from the input (`#[instructor(verbatim)]`)
//! or taken from a list the application gives at run time (`#[instructor(choices = "name")]`).
//!
//! This module owns what happens at run time: the extractor's source texts and choice sets,
//! filling the rules the compile-time grammar leaves open (once per extraction, never per attempt
//! or token), the `enum` of choice fields in the JSON Schema, and the checks after parsing. It
//! must not touch the compile-time grammar beyond appending those rules: the derive's grammar
//! refers to them by name ([`External`]), and everything else in it stays constant.
//!
//! The checks after parsing repeat what the grammar guarantees, so a backend that only takes a
//! JSON Schema still gets a clear error and a re-ask.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::extractor::Extractor;
use crate::grammar::{
    push_json_str, push_lit, External, Grammar, Kind, Name, Text, BODY_CAP, SPACE,
};
use crate::validate::Validator;
use crate::{verbatim, Error, Message, ResponseModel, Role};

/// The schema key the derive marks a choices field with; the extraction replaces it by `enum`.
const CHOICES_MARK: &str = "x-instructor-choices";

/// What the extractor was told about sources and choice sets.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sets {
    /// Documents given with [`Extractor::verbatim_source`]; `None`: the user messages.
    sources: Option<Vec<String>>,
    choices: BTreeMap<String, Vec<String>>,
}

impl<L: ?Sized> Extractor<'_, L> {
    /// Gives the choice set `name`: a field marked `#[instructor(choices = "name")]` can only take
    /// one of `values` (the grammar allows nothing else, and validation checks it again).
    ///
    /// An extraction whose type needs a set that was not given fails before generating anything.
    ///
    /// ```no_run
    /// # fn demo(llm: &impl instructor_core::Llm) -> Result<(), instructor_core::Error> {
    /// use instructor_core::{Extractor, ResponseModel};
    ///
    /// #[derive(Debug, serde::Deserialize, ResponseModel)]
    /// struct Article {
    ///     #[instructor(choices = "topics")]
    ///     topic: String,
    /// }
    ///
    /// let a: Article = Extractor::new(llm)
    ///     .choices("topics", ["politics", "sports", "science"])
    ///     .extract("Classify: `The team won the cup.`")?;
    /// # Ok(()) }
    /// ```
    pub fn choices<S: Into<String>>(
        mut self,
        name: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        let mut values: Vec<String> = values.into_iter().map(Into::into).collect();
        let mut seen = std::collections::HashSet::new();
        values.retain(|v| seen.insert(v.clone()));
        self.grounding.choices.insert(name.into(), values);
        self
    }

    /// Names a text that `#[instructor(verbatim)]` fields copy from, instead of the user messages
    /// (the default): a document passed apart from the instruction, so values cannot be copied
    /// from the instruction's own words. Call it again to add more documents; a value must then
    /// be a substring of one of them.
    pub fn verbatim_source(mut self, text: impl Into<String>) -> Self {
        self.grounding
            .sources
            .get_or_insert_with(Vec::new)
            .push(text.into());
        self
    }
}

/// The source texts and choice sets of one extraction, as validation sees them.
///
/// Read it in a hand-written validator with [`Validator::grounding`].
#[derive(Debug, Clone, Default)]
pub struct Grounding {
    sources: Vec<String>,
    choices: BTreeMap<String, Vec<String>>,
}

impl Grounding {
    /// Grounding for validation outside an extraction: `sources` for verbatim fields, and the
    /// choice sets by name.
    pub fn new(
        sources: impl IntoIterator<Item = String>,
        choices: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> Self {
        Grounding {
            sources: sources.into_iter().collect(),
            choices: choices.into_iter().collect(),
        }
    }

    /// Whether `s` is a contiguous substring of one of the source texts.
    pub fn is_verbatim(&self, s: &str) -> bool {
        self.sources.iter().any(|src| src.contains(s))
    }

    /// The values of the choice set `name`, when it was given.
    pub fn choices(&self, name: &str) -> Option<&[String]> {
        self.choices.get(name).map(Vec::as_slice)
    }
}

/// The grammar, schema and grounding one extraction of `T` uses in every attempt.
pub(crate) struct Prepared {
    pub(crate) gbnf: Cow<'static, str>,
    pub(crate) schema: Value,
    pub(crate) grounding: Option<Arc<Grounding>>,
    /// A choice set the type needs and was not given: returned before the first attempt.
    pub(crate) error: Option<Error>,
}

impl Sets {
    /// Fills in the rules `T`'s grammar leaves open, from `messages` (the conversation as the
    /// caller gave it) and the sets. Types without grounded fields keep their constant grammar.
    pub(crate) fn prepare<T: ResponseModel>(&self, messages: &[Message]) -> Prepared {
        let mut schema = crate::json_schema::<T>();
        let externals = T::GRAMMAR.externals();
        if externals.is_empty() {
            return Prepared {
                gbnf: Cow::Borrowed(T::GBNF),
                schema,
                grounding: None,
                error: None,
            };
        }
        let sources: Vec<String> = match &self.sources {
            Some(docs) => docs.clone(),
            None => messages
                .iter()
                .filter(|m| m.role == Role::User)
                .map(|m| m.content.clone())
                .collect(),
        };
        let mut gbnf = String::from(T::GBNF);
        if !gbnf.ends_with('\n') {
            gbnf.push('\n');
        }
        let mut error = None;
        for e in externals {
            match e {
                External::Verbatim => {
                    let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
                    verbatim::push_rules(&mut gbnf, &refs);
                }
                External::Choices(set) => match self.choices.get(set.as_str()) {
                    Some(values) if !values.is_empty() => {
                        push_choices_rule(&mut gbnf, &e.rule(), values);
                    }
                    found => {
                        let name = set.as_str().to_owned();
                        error.get_or_insert(match found {
                            None => Error::MissingChoices { name },
                            Some(_) => Error::EmptyChoices { name },
                        });
                    }
                },
            }
        }
        fill_schema(&mut schema, &self.choices);
        Prepared {
            gbnf: Cow::Owned(gbnf),
            schema,
            grounding: Some(Arc::new(Grounding {
                sources,
                choices: self.choices.clone(),
            })),
            error,
        }
    }
}

/// `name ::= "\"a\"" | "\"b\""`: each value as `serde_json` writes it.
fn push_choices_rule(out: &mut String, name: &Name, values: &[String]) {
    out.push_str(name.as_str());
    out.push_str(" ::=");
    for (i, v) in values.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { " | " });
        let mut json = String::with_capacity(v.len() + 2);
        push_json_str(&mut json, v);
        push_lit(out, &json);
    }
    out.push('\n');
}

/// The rules [`Extractor`] appends for `sources`: `verbatim--src`, matching the JSON string of
/// every substring of one of the texts and nothing else, with a rule per state of their suffix
/// automaton (linear in the total length). Public for backends and measurements that build
/// requests by hand.
pub fn verbatim_rules(sources: &[&str]) -> String {
    let mut out = String::new();
    verbatim::push_rules(&mut out, sources);
    out
}

/// Replaces every choices mark with the `enum` of the set's values (an unknown set is left
/// marked; the extraction has already failed on it).
fn fill_schema(schema: &mut Value, choices: &BTreeMap<String, Vec<String>>) {
    match schema {
        Value::Object(obj) => {
            if let Some(Value::String(set)) = obj.get(CHOICES_MARK) {
                if let Some(values) = choices.get(set.as_str()) {
                    obj.remove(CHOICES_MARK);
                    obj.insert("enum".into(), json!(values));
                }
            }
            for v in obj.values_mut() {
                fill_schema(v, choices);
            }
        }
        Value::Array(items) => {
            for v in items {
                fill_schema(v, choices);
            }
        }
        _ => {}
    }
}

/// The grammar of a grounded field: `base` (a string, an optional string, or a list of strings)
/// with each string replaced by the rule of `e`, as a new rule called `name`. Any other field
/// type is a compile error (a constant-evaluation panic, reported at the attribute).
pub const fn ground(base: &Grammar, name: Name, e: External) -> Grammar {
    let value = e.rule();
    let mut body = Text::<BODY_CAP>::new();
    match base.kind() {
        Kind::String => body = body.text(&value),
        Kind::Array {
            item_string: true, ..
        } => {
            body = body
                .raw("\"[\" ( ")
                .text(&value)
                .raw(" ( \",\" ")
                .raw(SPACE)
                .raw(" ")
                .text(&value)
                .raw(" )* )? \"]\"");
        }
        _ => panic!(
            "instructor: `verbatim` and `choices` apply to strings only: String, Option<String>, Vec<String>, or a newtype of String"
        ),
    }
    if base.nullable() {
        body = body.raw(" | \"null\"");
    }
    let kind = base.kind();
    base.define(&name, &body).external(e).root(name, kind)
}

/// The string values of a field, for the checks of `verbatim` and `choices`: a `String`, each
/// item of a list, the content of an `Option` or `Box`, and (through the derive) the string of a
/// newtype.
#[diagnostic::on_unimplemented(
    message = "`verbatim` and `choices` need a string field, not `{Self}`",
    label = "not a String, Option<String>, Vec<String> or newtype of String",
    note = "the value must be text copied from the input or one of the given strings"
)]
pub trait Texts {
    /// Calls `f` with each string and, for list items, its index.
    fn texts(&self, f: &mut dyn FnMut(Option<usize>, &str));
}

impl Texts for String {
    fn texts(&self, f: &mut dyn FnMut(Option<usize>, &str)) {
        f(None, self)
    }
}

impl<T: Texts> Texts for Option<T> {
    fn texts(&self, f: &mut dyn FnMut(Option<usize>, &str)) {
        if let Some(v) = self {
            v.texts(f);
        }
    }
}

impl<T: Texts> Texts for Box<T> {
    fn texts(&self, f: &mut dyn FnMut(Option<usize>, &str)) {
        (**self).texts(f)
    }
}

impl<T: Texts> Texts for Vec<T> {
    fn texts(&self, f: &mut dyn FnMut(Option<usize>, &str)) {
        for (i, v) in self.iter().enumerate() {
            v.texts(&mut |_, s| f(Some(i), s));
        }
    }
}

/// Runs `check` on each string of `value`, under its list index when it has one.
fn each(
    v: &mut Validator<'_>,
    value: &impl Texts,
    mut check: impl FnMut(&mut Validator<'_>, &str),
) {
    let mut found = Vec::new();
    value.texts(&mut |i, s| found.push((i, s.to_owned())));
    for (i, s) in found {
        match i {
            Some(i) => v.index(i, |v| check(v, &s)),
            None => check(v, &s),
        }
    }
}

/// Checks a `verbatim` field: each string must occur in the extraction's source text. Outside
/// an extraction (no [`Grounding`] given to the validator) there is no source, and nothing to
/// check.
pub fn check_verbatim(v: &mut Validator<'_>, value: &impl Texts) {
    let Some(g) = v.grounding() else {
        return;
    };
    each(v, value, |v, s| {
        if !g.is_verbatim(s) {
            v.error(format!(
                "must be copied verbatim from the input, but {s:?} does not occur in it"
            ));
        }
    });
}

/// Checks a `choices = "set"` field: each string must be one of the set's values.
pub fn check_choices(v: &mut Validator<'_>, value: &impl Texts, set: &str) {
    let Some(g) = v.grounding() else {
        return;
    };
    let Some(values) = g.choices(set) else {
        v.error(format!("the choice set `{set}` was not given"));
        return;
    };
    each(v, value, |v, s| {
        if !values.iter().any(|x| x == s) {
            v.error(format!("must be one of {values:?}, not {s:?}"));
        }
    });
}

/// The note a verbatim field's schema description ends with.
pub(crate) const VERBATIM_NOTE: &str = "Copied verbatim from the input.";

/// Adds "copied verbatim from the input" to a verbatim field's schema description.
pub fn schema_verbatim(schema: &mut Value) {
    const NOTE: &str = VERBATIM_NOTE;
    if let Value::Object(obj) = schema {
        let text = match obj.get("description").and_then(Value::as_str) {
            Some(d) => format!("{d} {NOTE}"),
            None => NOTE.to_owned(),
        };
        obj.insert("description".into(), Value::String(text));
    }
}

/// Marks the string schema inside a choices field's schema (through `anyOf` with `null` and
/// list `items`) with the set's name; the extraction replaces the mark with its `enum`.
pub fn schema_choices(schema: &mut Value, set: &str) {
    let Value::Object(obj) = schema else { return };
    if let Some(Value::Array(alts)) = obj.get_mut("anyOf") {
        for alt in alts {
            if alt.get("type") != Some(&json!("null")) {
                schema_choices(alt, set);
            }
        }
        return;
    }
    if obj.get("type") == Some(&json!("array")) {
        if let Some(items) = obj.get_mut("items") {
            schema_choices(items, set);
        }
        return;
    }
    obj.insert(CHOICES_MARK.into(), json!(set));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_rules_quote_each_value_like_serde_json() {
        let mut rules = String::new();
        let set = External::Choices(Name::from_str("topics"));
        push_choices_rule(
            &mut rules,
            &set.rule(),
            &["a\"b".to_owned(), "é".to_owned()],
        );
        assert!(rules.starts_with("choices--topics-"), "{rules}");
        assert!(rules.contains(r#" ::= "\"a\\\"b\"" | "\"é\"""#), "{rules}");
    }

    #[test]
    fn schema_marks_are_filled_with_enums() {
        let mut s =
            json!({"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]});
        schema_choices(&mut s, "t");
        assert_eq!(s["anyOf"][0]["items"][CHOICES_MARK], "t");
        let mut sets = BTreeMap::new();
        sets.insert("t".to_owned(), vec!["x".to_owned()]);
        fill_schema(&mut s, &sets);
        assert_eq!(
            s["anyOf"][0]["items"],
            json!({"type": "string", "enum": ["x"]})
        );
    }
}
