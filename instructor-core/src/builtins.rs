//! [`ResponseModel`] for the standard types: the leaves and containers user types compose.
//!
//! Each impl's grammar matches exactly the JSON that `serde_json` writes for the type, plus at
//! most one space after each `:` and `,` ([`grammar::SPACE`]), and accepts back (integers bounded to the type's range, strings without raw control
//! characters, surrogate escapes only in pairs), and its schema describes the same language.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use crate::grammar::{
    self, Grammar, Int, Kind, Name, Text, BODY_CAP, FLOAT32_RULES, FLOAT_RULES, JSON_CHAR_RULES,
    SPACE,
};
use crate::partial::{Event, Seg};
use crate::schema::int_schema;
use crate::validate::Validator;
use crate::ResponseModel;

/// Sets `slot` when the value at this level is complete: for values that only appear whole
/// (numbers, booleans, enums, maps, tuples).
pub fn apply_atomic<T: serde::de::DeserializeOwned>(
    slot: &mut Option<T>,
    path: &[Seg<'_>],
    event: &Event<'_>,
) {
    if let ([], Event::End { raw, .. }) = (path, event) {
        if let Ok(v) = serde_json::from_str(raw) {
            *slot = Some(v);
        }
    }
}

/// [`apply_atomic`] for values shared behind an `Arc` (the partial of derived enums).
pub fn apply_atomic_shared<T: serde::de::DeserializeOwned>(
    slot: &mut Option<std::sync::Arc<T>>,
    path: &[Seg<'_>],
    event: &Event<'_>,
) {
    if let ([], Event::End { raw, .. }) = (path, event) {
        if let Ok(v) = serde_json::from_str(raw) {
            *slot = Some(std::sync::Arc::new(v));
        }
    }
}

const fn body(s: &str) -> Text<BODY_CAP> {
    Text::from_str(s)
}

const fn leaf(rule: &str, rules: &str, kind: Kind) -> Grammar {
    Grammar::new()
        .define_text(rules)
        .root(Name::from_str(rule), kind)
}

const STRING_RULES: &str = "string ::= \"\\\"\" jchar* \"\\\"\"\n";

impl ResponseModel for String {
    const GRAMMAR: Grammar =
        leaf("string", STRING_RULES, Kind::String).define_text(JSON_CHAR_RULES);
    type Partial = String;
    fn json_schema(_: &mut Map<String, Value>) -> Value {
        json!({"type": "string"})
    }
    fn apply_partial(slot: &mut Option<String>, path: &[Seg<'_>], event: &Event<'_>) {
        if !path.is_empty() {
            return;
        }
        match event {
            Event::Str(chunk) => slot.get_or_insert_with(String::new).push_str(chunk),
            Event::End { raw, .. } => {
                if let Ok(s) = serde_json::from_str::<String>(raw) {
                    *slot = Some(s);
                }
            }
            _ => {}
        }
    }
}

impl ResponseModel for char {
    const GRAMMAR: Grammar = leaf("char", "char ::= \"\\\"\" jchar \"\\\"\"\n", Kind::Other)
        .define_text(JSON_CHAR_RULES);
    type Partial = char;
    fn json_schema(_: &mut Map<String, Value>) -> Value {
        json!({"type": "string", "minLength": 1, "maxLength": 1})
    }
    fn apply_partial(slot: &mut Option<char>, path: &[Seg<'_>], event: &Event<'_>) {
        apply_atomic(slot, path, event)
    }
}

impl ResponseModel for bool {
    const GRAMMAR: Grammar = leaf("bool", "bool ::= \"true\" | \"false\"\n", Kind::Bool);
    type Partial = bool;
    fn json_schema(_: &mut Map<String, Value>) -> Value {
        json!({"type": "boolean"})
    }
    fn apply_partial(slot: &mut Option<bool>, path: &[Seg<'_>], event: &Event<'_>) {
        apply_atomic(slot, path, event)
    }
}

const fn int_grammar(rule: &str, min: Int, max: Int) -> Grammar {
    let name = Name::from_str(rule);
    Grammar::new()
        .define(&name, &grammar::int_range_body(min, max))
        .root(name, Kind::Integer { min, max })
}

macro_rules! int_impls {
    ($($t:ident),*) => {$(
        impl ResponseModel for $t {
            const GRAMMAR: Grammar = int_grammar(
                stringify!($t),
                Int::from_i128_or_max($t::MIN as i128, $t::MIN == 0),
                Int::pos($t::MAX as u128),
            );
            type Partial = $t;
            fn json_schema(_: &mut Map<String, Value>) -> Value {
                match Self::GRAMMAR.kind() {
                    Kind::Integer { min, max } => int_schema(min, max),
                    _ => json!({"type": "integer"}),
                }
            }
            fn apply_partial(slot: &mut Option<$t>, path: &[Seg<'_>], event: &Event<'_>) {
                apply_atomic(slot, path, event)
            }
        }
    )*};
}

impl Int {
    /// `v` as a bound; `unsigned` types pass `true` so their minimum is exactly zero.
    #[doc(hidden)]
    pub const fn from_i128_or_max(v: i128, unsigned: bool) -> Int {
        if unsigned {
            Int::pos(0)
        } else {
            Int::from_i128(v)
        }
    }
}

int_impls!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, isize);

impl ResponseModel for i128 {
    const GRAMMAR: Grammar = int_grammar(
        "i128",
        Int::neg(i128::MIN.unsigned_abs()),
        Int::pos(i128::MAX as u128),
    );
    type Partial = i128;
    fn json_schema(_: &mut Map<String, Value>) -> Value {
        int_schema(
            Int::neg(i128::MIN.unsigned_abs()),
            Int::pos(i128::MAX as u128),
        )
    }
    fn apply_partial(slot: &mut Option<i128>, path: &[Seg<'_>], event: &Event<'_>) {
        apply_atomic(slot, path, event)
    }
}

macro_rules! float_impls {
    ($($t:ident: $rules:expr, $rule:literal, $single:literal;)*) => {$(
        impl ResponseModel for $t {
            const GRAMMAR: Grammar =
                Grammar::new().define_text($rules).root(Name::from_str($rule), Kind::Float { single: $single });
            type Partial = $t;
            fn json_schema(_: &mut Map<String, Value>) -> Value {
                json!({"type": "number"})
            }
            fn apply_partial(slot: &mut Option<$t>, path: &[Seg<'_>], event: &Event<'_>) {
                apply_atomic(slot, path, event)
            }
        }
    )*};
}
float_impls! {
    f32: FLOAT32_RULES, "jfloat32", true;
    f64: FLOAT_RULES, "jfloat", false;
}

impl<T: ResponseModel> ResponseModel for Option<T> {
    const GRAMMAR: Grammar = {
        let name = grammar::name(&["opt", T::GRAMMAR.name().as_str()]);
        let b = body("").text(T::GRAMMAR.name()).raw(" | \"null\"");
        Grammar::new()
            .merge(&T::GRAMMAR)
            .define(&name, &b)
            .root(name, T::GRAMMAR.kind())
            .with_nullable(true)
    };
    /// `Some(None)` is a `null` already written; `None` is nothing yet.
    type Partial = Option<T::Partial>;
    fn json_schema(defs: &mut Map<String, Value>) -> Value {
        json!({"anyOf": [T::json_schema(defs), {"type": "null"}]})
    }
    fn apply_partial(slot: &mut Option<Self::Partial>, path: &[Seg<'_>], event: &Event<'_>) {
        if let ([], Event::End { raw: "null", .. }) = (path, event) {
            *slot = Some(None);
            return;
        }
        let mut inner = slot.take().flatten();
        T::apply_partial(&mut inner, path, event);
        *slot = inner.map(Some);
    }
    fn repeats_allowed(path: &[Seg<'_>]) -> bool {
        T::repeats_allowed(path)
    }
    fn validate(&self, v: &mut Validator<'_>) {
        if let Some(x) = self {
            x.validate(v)
        }
    }
}

impl<T: ResponseModel> ResponseModel for Box<T> {
    const GRAMMAR: Grammar = T::GRAMMAR;
    const DESCRIPTION: Option<&'static str> = T::DESCRIPTION;
    type Partial = T::Partial;
    fn json_schema(defs: &mut Map<String, Value>) -> Value {
        T::json_schema(defs)
    }
    fn apply_partial(slot: &mut Option<T::Partial>, path: &[Seg<'_>], event: &Event<'_>) {
        T::apply_partial(slot, path, event)
    }
    fn repeats_allowed(path: &[Seg<'_>]) -> bool {
        T::repeats_allowed(path)
    }
    fn validate(&self, v: &mut Validator<'_>) {
        (**self).validate(v)
    }
}

/// Routes an event for item `i` of a partial sequence: only the last item can still change,
/// so earlier items are never touched again.
fn apply_item<T: ResponseModel>(
    items: &mut Vec<T::Partial>,
    i: usize,
    rest: &[Seg<'_>],
    event: &Event<'_>,
) {
    if i + 1 == items.len() {
        let mut slot = items.pop();
        T::apply_partial(&mut slot, rest, event);
        if let Some(item) = slot {
            items.push(item);
        }
    } else if i == items.len() {
        let mut slot = None;
        T::apply_partial(&mut slot, rest, event);
        if let Some(item) = slot {
            items.push(item);
        }
    }
}

fn apply_seq<T: ResponseModel>(
    slot: &mut Option<Vec<T::Partial>>,
    path: &[Seg<'_>],
    event: &Event<'_>,
) {
    match path {
        [] => {
            if let Event::ArrayStart = event {
                slot.get_or_insert_with(Vec::new);
            }
        }
        [Seg::Index(i), rest @ ..] => {
            apply_item::<T>(slot.get_or_insert_with(Vec::new), *i, rest, event)
        }
        _ => {}
    }
}

/// The question for a list of `T` at `path`: the list itself repeats nothing by default; inside
/// an item, the item's type answers.
fn item_repeats_allowed<T: ResponseModel>(path: &[Seg<'_>]) -> bool {
    match path {
        [Seg::Index(_), rest @ ..] => T::repeats_allowed(rest),
        _ => false,
    }
}

impl<T: ResponseModel> ResponseModel for Vec<T> {
    const GRAMMAR: Grammar = {
        let item = T::GRAMMAR.name();
        let name = grammar::name(&["vec", item.as_str()]);
        let b = body("\"[\" ( ")
            .text(item)
            .raw(" ( \",\" ")
            .raw(SPACE)
            .raw(" ")
            .text(item)
            .raw(" )* )? \"]\"");
        Grammar::new().merge(&T::GRAMMAR).define(&name, &b).root(
            name,
            Kind::Array {
                item: *item,
                item_string: matches!(T::GRAMMAR.kind(), Kind::String),
            },
        )
    };
    type Partial = Vec<T::Partial>;
    fn json_schema(defs: &mut Map<String, Value>) -> Value {
        json!({"type": "array", "items": T::json_schema(defs)})
    }
    fn apply_partial(slot: &mut Option<Self::Partial>, path: &[Seg<'_>], event: &Event<'_>) {
        apply_seq::<T>(slot, path, event)
    }
    fn repeats_allowed(path: &[Seg<'_>]) -> bool {
        item_repeats_allowed::<T>(path)
    }
    fn validate(&self, v: &mut Validator<'_>) {
        for (i, x) in self.iter().enumerate() {
            v.index(i, |v| x.validate(v));
        }
    }
}

impl<T: ResponseModel, const N: usize> ResponseModel for [T; N]
where
    [T; N]: serde::de::DeserializeOwned,
{
    const GRAMMAR: Grammar = {
        let item = T::GRAMMAR.name();
        let n = Text::<24>::new().raw("arr").uint(N as u128);
        let name = grammar::name(&[n.as_str(), item.as_str()]);
        let mut b = body("\"[\"");
        if N > 0 {
            b = b.raw(" ").text(item);
            if N > 1 {
                b = b
                    .raw(" ( \",\" ")
                    .raw(SPACE)
                    .raw(" ")
                    .text(item)
                    .raw(" ){")
                    .uint((N - 1) as u128)
                    .raw("}");
            }
        }
        b = b.raw(" \"]\"");
        Grammar::new().merge(&T::GRAMMAR).define(&name, &b).root(
            name,
            Kind::Array {
                item: *item,
                item_string: matches!(T::GRAMMAR.kind(), Kind::String),
            },
        )
    };
    type Partial = Vec<T::Partial>;
    fn json_schema(defs: &mut Map<String, Value>) -> Value {
        json!({"type": "array", "items": T::json_schema(defs), "minItems": N, "maxItems": N})
    }
    fn apply_partial(slot: &mut Option<Self::Partial>, path: &[Seg<'_>], event: &Event<'_>) {
        apply_seq::<T>(slot, path, event)
    }
    fn repeats_allowed(path: &[Seg<'_>]) -> bool {
        // A fixed-length array cannot end early, and equal elements are its business.
        path.is_empty() || item_repeats_allowed::<T>(path)
    }
    fn validate(&self, v: &mut Validator<'_>) {
        for (i, x) in self.iter().enumerate() {
            v.index(i, |v| x.validate(v));
        }
    }
}

const fn map_grammar(value: &Grammar) -> Grammar {
    let item = value.name();
    let name = grammar::name(&["map", item.as_str()]);
    let b = body("\"{\" ( string \":\" ")
        .raw(SPACE)
        .raw(" ")
        .text(item)
        .raw(" ( \",\" ")
        .raw(SPACE)
        .raw(" string \":\" ")
        .raw(SPACE)
        .raw(" ")
        .text(item)
        .raw(" )* )? \"}\"");
    Grammar::new()
        .merge(&<String as ResponseModel>::GRAMMAR)
        .merge(value)
        .define(&name, &b)
        .root(name, Kind::Other)
}

macro_rules! map_impl {
    ($map:ident) => {
        impl<T: ResponseModel> ResponseModel for $map<String, T> {
            const GRAMMAR: Grammar = map_grammar(&T::GRAMMAR);
            type Partial = $map<String, T::Partial>;
            fn json_schema(defs: &mut Map<String, Value>) -> Value {
                json!({"type": "object", "additionalProperties": T::json_schema(defs)})
            }
            fn apply_partial(slot: &mut Option<Self::Partial>, path: &[Seg<'_>], event: &Event<'_>) {
                match path {
                    [] => {
                        if let Event::ObjectStart = event {
                            slot.get_or_insert_with(Default::default);
                        }
                    }
                    [Seg::Key(k), rest @ ..] => {
                        let map = slot.get_or_insert_with(Default::default);
                        let mut item = map.remove(*k);
                        T::apply_partial(&mut item, rest, event);
                        if let Some(item) = item {
                            map.insert((*k).to_owned(), item);
                        }
                    }
                    _ => {}
                }
            }
            fn repeats_allowed(path: &[Seg<'_>]) -> bool {
                match path {
                    [Seg::Key(_), rest @ ..] => T::repeats_allowed(rest),
                    _ => false,
                }
            }
            fn validate(&self, v: &mut Validator<'_>) {
                for (k, x) in self {
                    v.field(k, |v| x.validate(v));
                }
            }
        }
    };
}
map_impl!(HashMap);
map_impl!(BTreeMap);

macro_rules! tuple_impl {
    ($($t:ident $i:tt),+) => {
        impl<$($t: ResponseModel),+> ResponseModel for ($($t,)+) {
            const GRAMMAR: Grammar = {
                let name = grammar::name(&["tup", $($t::GRAMMAR.name().as_str()),+]);
                let mut b = body("\"[\"");
                let mut first = true;
                $(
                    if !first { b = b.raw(" \",\" ").raw(SPACE); }
                    first = false;
                    b = b.raw(" ").text($t::GRAMMAR.name());
                )+
                let _ = first;
                b = b.raw(" \"]\"");
                Grammar::new()$(.merge(&$t::GRAMMAR))+.define(&name, &b).root(name, Kind::Other)
            };
            type Partial = ($(Option<$t::Partial>,)+);
            fn json_schema(defs: &mut Map<String, Value>) -> Value {
                let items = vec![$($t::json_schema(defs)),+];
                let n = items.len();
                json!({"type": "array", "prefixItems": items, "items": false, "minItems": n, "maxItems": n})
            }
            fn apply_partial(slot: &mut Option<Self::Partial>, path: &[Seg<'_>], event: &Event<'_>) {
                match path {
                    [] => {
                        if let Event::ArrayStart = event {
                            slot.get_or_insert_with(Default::default);
                        }
                    }
                    [Seg::Index(i), rest @ ..] => {
                        let t = slot.get_or_insert_with(Default::default);
                        match *i {
                            $($i => $t::apply_partial(&mut t.$i, rest, event),)+
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            fn repeats_allowed(path: &[Seg<'_>]) -> bool {
                match path {
                    // A tuple has its length fixed: equal elements are no loop.
                    [] => true,
                    $([Seg::Index($i), rest @ ..] => $t::repeats_allowed(rest),)+
                    _ => false,
                }
            }
            fn validate(&self, v: &mut Validator<'_>) {
                $(v.index($i, |v| self.$i.validate(v));)+
            }
        }
    };
}
tuple_impl!(A 0);
tuple_impl!(A 0, B 1);
tuple_impl!(A 0, B 1, C 2);
tuple_impl!(A 0, B 1, C 2, D 3);

const VALUE_RULES: &str = concat!(
    "json-value ::= json-object | json-array | string | json-number | \"true\" | \"false\" | \"null\"\n",
    // Integers up to 20 digits (all of u64 and i64), or anything a float may be.
    "json-number ::= \"-\"? ( jfloat-nn | [1-9] [0-9]{16,19} )\n",
    // The optional spaces are `grammar::SPACE`, spelled out because `concat!` takes literals.
    "json-object ::= \"{\" ( string \":\" \" \"? json-value ( \",\" \" \"? string \":\" \" \"? json-value )* )? \"}\"\n",
    "json-array ::= \"[\" ( json-value ( \",\" \" \"? json-value )* )? \"]\"\n",
);

impl ResponseModel for Value {
    const GRAMMAR: Grammar = Grammar::new()
        .define_text(VALUE_RULES)
        .merge(&<String as ResponseModel>::GRAMMAR)
        .define_text(FLOAT_RULES)
        .root(Name::from_str("json-value"), Kind::Other);
    type Partial = Value;
    fn json_schema(_: &mut Map<String, Value>) -> Value {
        json!({})
    }
    fn apply_partial(slot: &mut Option<Value>, path: &[Seg<'_>], event: &Event<'_>) {
        apply_atomic(slot, path, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_rules_spell_the_optional_space_as_grammar_space() {
        // One after each `:` and each `,` of `json-object` and `json-array`.
        assert_eq!(VALUE_RULES.matches(SPACE).count(), 4);
        assert!(!VALUE_RULES.contains("\" \"*"), "never a run of spaces");
    }
}
