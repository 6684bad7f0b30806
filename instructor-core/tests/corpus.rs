//! The derive's contract, checked on a corpus of representative types:
//!
//! 1. every valid value, serialized compactly by `serde_json`, is accepted by the type's grammar;
//! 2. every string a random walk of the grammar produces deserializes into the type;
//! 3. the JSON Schema agrees with the type on both sets: a sample is schema-valid exactly when
//!    it deserializes and passes validation.
//!
//! The grammar is run by the test recognizer in `support/gbnf.rs` (itself tested against
//! grammars of known languages in `gbnf_recognizer.rs`).

#[path = "support/gbnf.rs"]
mod gbnf;

#[path = "support/corpus_types.rs"]
mod corpus_types;

use std::fmt::Debug;

use corpus_types::*;
use instructor_core::{json_schema, validate, ResponseModel};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::Serialize;

/// A tiny deterministic PRNG for the random walks (xorshift64*).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// Is the JSON text a valid `T`: deserializes and passes validation.
fn valid_value<T: ResponseModel>(text: &str) -> bool {
    serde_json::from_str::<T>(text).is_ok_and(|v| validate(&v).is_ok())
}

fn check<T>(cases: u32, walks: u64)
where
    T: ResponseModel + Serialize + Arbitrary + Debug,
{
    let name = std::any::type_name::<T>();
    let grammar =
        gbnf::Grammar::parse(T::GBNF).unwrap_or_else(|e| panic!("{name}: {e}\n{}", T::GBNF));
    let schema_json = json_schema::<T>();
    let schema = jsonschema::validator_for(&schema_json)
        .unwrap_or_else(|e| panic!("{name}: bad schema {e}: {schema_json}"));

    // (1) valid values → accepted by the grammar; (3) and by the schema.
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&any::<T>(), |value| {
            prop_assert!(
                validate(&value).is_ok(),
                "generated value fails validation: {:?}",
                validate(&value)
            );
            let text = serde_json::to_string(&value).unwrap();
            prop_assert!(
                grammar.accepts(&text),
                "{} grammar rejects serialized value {}\n{}",
                name,
                text,
                T::GBNF
            );
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert!(
                schema.is_valid(&json),
                "{} schema rejects serialized value {}\n{}",
                name,
                text,
                schema_json
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));

    // (2) random walks of the grammar → deserialize; (3) schema-valid exactly when valid.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for walk in 0..walks {
        let Some(text) = grammar.generate(&mut |n| rng.below(n), 12) else {
            panic!("{name}: walk {walk} did not terminate");
        };
        let parsed = serde_json::from_str::<T>(&text);
        assert!(
            parsed.is_ok(),
            "{name}: grammar produced {text:?}, which serde rejects: {:?}",
            parsed.err()
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            schema.is_valid(&json),
            valid_value::<T>(&text),
            "{name}: schema and type disagree on {text}\nschema: {schema_json}"
        );
    }
}

macro_rules! corpus {
    ($($test:ident: $t:ty,)*) => {$(
        #[test]
        fn $test() {
            check::<$t>(192, 192);
        }
    )*};
}

corpus! {
    user_detail: UserDetail,
    address: Address,
    line_item: LineItem,
    order: Order,
    sentiment: Sentiment,
    shape_externally_tagged: Shape,
    event_internally_tagged: Event,
    envelope_adjacently_tagged: Envelope,
    loose_untagged: Loose,
    renamed: Renamed,
    with_defaults: WithDefaults,
    all_default: AllDefault,
    skipping: Skipping,
    maps: Maps,
    tuples: Tuples,
    meters_newtype: Meters,
    pairish_tuple_struct: Pairish,
    boxed: Boxed,
    any_json: AnyJson,
    constrained: Constrained,
    deep: Deep,
    command_rename_all_fields: Command,
    strict_numbers: Strict,
    priority_renames: Priority,
    ticket: Ticket,
    vec_of_orders: Vec<Order>,
    option_of_event: Option<Event>,
}

#[test]
fn integer_grammars_accept_exactly_their_range() {
    // Boundaries of every width, and just outside them (which must be rejected).
    fn check_int<T: ResponseModel + Copy + Into<i128>>(min: i128, max: i128) {
        let g = gbnf::Grammar::parse(T::GBNF).unwrap();
        for v in [min, min + 1, max - 1, max, 0, 1, 9, 10, 99, 100] {
            if v >= min && v <= max {
                assert!(
                    g.accepts(&v.to_string()),
                    "{} rejects {v}",
                    std::any::type_name::<T>()
                );
            }
        }
        for v in [min - 1, max + 1] {
            assert!(
                !g.accepts(&v.to_string()),
                "{} accepts {v}",
                std::any::type_name::<T>()
            );
        }
        for bad in ["01", "-0", "00", "+1", "1.0", "", "-"] {
            assert!(
                !g.accepts(bad),
                "{} accepts {bad:?}",
                std::any::type_name::<T>()
            );
        }
    }
    check_int::<u8>(0, 255);
    check_int::<i8>(-128, 127);
    check_int::<u16>(0, 65535);
    check_int::<i16>(-32768, 32767);
    check_int::<u32>(0, u32::MAX.into());
    check_int::<i32>(i32::MIN.into(), i32::MAX.into());
    check_int::<i64>(i64::MIN.into(), i64::MAX.into());
    check_int::<u64>(0, u64::MAX.into());
    let g = gbnf::Grammar::parse(<u128 as ResponseModel>::GBNF).unwrap();
    assert!(g.accepts(&u128::MAX.to_string()));
    assert!(!g.accepts("340282366920938463463374607431768211456"));
    let g = gbnf::Grammar::parse(<i128 as ResponseModel>::GBNF).unwrap();
    assert!(g.accepts(&i128::MIN.to_string()));
    assert!(!g.accepts("-170141183460469231731687303715884105729"));
}

#[test]
fn every_integer_in_random_ranges_is_accepted_and_nothing_else() {
    use instructor_core::__private::grammar::{int_range_body, Int};
    let mut rng = Rng(42);
    for _ in 0..300 {
        let a = rng.below(4000) as i128 - 2000;
        let b = a + rng.below(3000) as i128;
        let body = int_range_body(Int::from_i128(a), Int::from_i128(b));
        let g = gbnf::Grammar::parse(&format!("root ::= {}", body.as_str())).unwrap();
        for v in (a - 30)..=(b + 30) {
            assert_eq!(
                g.accepts(&v.to_string()),
                v >= a && v <= b,
                "range {a}..={b}, value {v}: {}",
                body.as_str()
            );
        }
    }
}

#[test]
fn strings_reject_raw_control_characters_and_lone_surrogates() {
    let g = gbnf::Grammar::parse(<String as ResponseModel>::GBNF).unwrap();
    for ok in [
        r#""""#,
        r#""a\"b""#,
        r#""\u00e9\n\t""#,
        r#""\ud83d\ude00""#,
        "\"é中😀\"",
    ] {
        assert!(g.accepts(ok), "{ok}");
        assert!(serde_json::from_str::<String>(ok).is_ok());
    }
    for bad in [
        "\"\u{1}\"",
        "\"a\nb\"",
        r#""\ud83d""#,
        r#""\ude00""#,
        r#""\x""#,
        r#""unterminated"#,
    ] {
        assert!(!g.accepts(bad), "{bad:?}");
    }
}
