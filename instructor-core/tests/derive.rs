//! What `#[derive(ResponseModel)]` generates, checked directly: exact grammars for the shapes
//! that matter (snapshots), the grammar recognizer on hand-picked members and non-members, the
//! serde attributes the grammar follows, descriptions and schemas, validation paths, and partial
//! values filling from a stream.
//!
//! The randomized contract (grammar, serde and schema agree on generated values) lives in
//! `corpus.rs`; this file pins down the details a corpus would not name.

#[path = "support/gbnf.rs"]
mod gbnf;

use instructor_core::PartialValue;
use instructor_core::{json_schema, validate, ResponseModel, Validate, Validator};
use serde::Deserialize;
use serde_json::json;

/// The type's own rules: lines of its GBNF whose rule name starts with `prefix`.
fn own_rules<T: ResponseModel>(prefix: &str) -> Vec<String> {
    T::GBNF
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| l.to_owned())
        .collect()
}

fn recognizer<T: ResponseModel>() -> gbnf::Grammar {
    gbnf::Grammar::parse(T::GBNF).unwrap_or_else(|e| panic!("{e}\n{}", T::GBNF))
}

/// The grammar accepts every string of `yes` (each of which serde parses) and none of `no`.
fn check_language<T: ResponseModel + std::fmt::Debug>(yes: &[&str], no: &[&str]) {
    let g = recognizer::<T>();
    for text in yes {
        assert!(g.accepts(text), "grammar rejects {text}\n{}", T::GBNF);
        serde_json::from_str::<T>(text).unwrap_or_else(|e| panic!("serde rejects {text}: {e}"));
    }
    for text in no {
        assert!(!g.accepts(text), "grammar accepts {text}\n{}", T::GBNF);
    }
    // A few random members: serde must take all of them.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..64 {
        let text = g
            .generate(
                &mut |n| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % n as u64) as usize
                },
                8,
            )
            .expect("the language is not empty");
        serde_json::from_str::<T>(&text)
            .unwrap_or_else(|e| panic!("grammar produced {text}, serde says {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// The example from the README

/// A person mentioned in the text.
#[derive(Debug, Deserialize, ResponseModel)]
struct UserDetail {
    /// The person's first name.
    name: String,
    #[instructor(range(min = 0, max = 150))]
    age: u8,
}

#[test]
fn user_detail_grammar() {
    assert_eq!(
        UserDetail::GBNF,
        concat!(
            "root ::= UserDetail-9dcbe5\n",
            "string ::= \"\\\"\" jchar* \"\\\"\"\n",
            "jchar ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" jesc\n",
            "jesc ::= [\"\\\\/bfnrt] | \"u\" ( [0-9a-cA-Ce-fE-F] jhex jhex jhex | [dD] [0-7] jhex jhex | [dD] [89abAB] jhex jhex \"\\\\u\" [dD] [c-fC-F] jhex jhex )\n",
            "jhex ::= [0-9a-fA-F]\n",
            "u8 ::= [0-9] | [1-9] [0-9] | \"1\" [0-9]{2} | \"2\" [0-4] [0-9] | \"25\" [0-5]\n",
            "UserDetail-9dcbe5-age ::= ( [0-9] | [1-9] [0-9] | \"1\" [0-4] [0-9] | \"150\" )\n",
            "UserDetail-9dcbe5 ::= \"{\\\"name\\\":\" \" \"? string \",\" \" \"? \"\\\"age\\\":\" \" \"? UserDetail-9dcbe5-age \"}\"\n",
            "UserDetail-9dcbe5-mc ::= \",\" \" \"? \"\\\"name\\\":\" \" \"? string \",\" \" \"? \"\\\"age\\\":\" \" \"? UserDetail-9dcbe5-age\n",
        )
    );
    check_language::<UserDetail>(
        &[
            r#"{"name":"Jason","age":30}"#,
            r#"{"name":"","age":150}"#,
            r#"{"name":"a\"b","age":0}"#,
            // The layout models write: one optional space after `:` and `,`.
            r#"{"name": "Jason", "age": 30}"#,
            r#"{"name": "Jason","age":30}"#,
        ],
        &[
            r#"{"name":"Jason","age":151}"#,
            r#"{"age":30,"name":"Jason"}"#,
            r#"{"name":"Jason"}"#,
            // At most one space, and only after `:` and `,`.
            r#"{"name":"J",  "age":3}"#,
            r#"{"name":  "J","age":3}"#,
            r#"{ "name":"J","age":3}"#,
            r#"{"name" :"J","age":3}"#,
            r#"{"name":"J","age":3 }"#,
        ],
    );
}

#[test]
fn the_derive_writes_the_optional_space_as_core_does() {
    // The derive spells `grammar::SPACE` itself (it writes rule text, not Rust that names the
    // constant): both must agree, or derived types and containers would disagree on layout.
    let space = instructor_core::__private::grammar::SPACE;
    let rule = &own_rules::<UserDetail>("UserDetail-9dcbe5 ")[0];
    assert_eq!(rule.matches(space).count(), 3, "{rule}");
    assert!(<Vec<u8> as ResponseModel>::GBNF.contains(space));
}

#[test]
fn description_and_schema_carry_doc_comments() {
    assert_eq!(
        UserDetail::DESCRIPTION,
        Some("A person mentioned in the text.")
    );
    assert_eq!(
        json_schema::<UserDetail>(),
        json!({
            "$ref": "#/$defs/UserDetail",
            "$defs": {
                "UserDetail": {
                    "type": "object",
                    "description": "A person mentioned in the text.",
                    "properties": {
                        "name": {"type": "string", "description": "The person's first name."},
                        "age": {"type": "integer", "minimum": 0, "maximum": 150},
                    },
                    "required": ["name", "age"],
                    "additionalProperties": false,
                }
            }
        })
    );
}

/// Several paragraphs,
/// joined like rustdoc.
///
/// - with a list
/// - kept on lines
#[derive(Debug, Deserialize, ResponseModel)]
struct Documented {
    #[instructor(description = "Given explicitly.")]
    /// Overridden.
    a: u8,
}

#[derive(Debug, Deserialize, ResponseModel)]
#[instructor(description = "From the attribute.")]
/// Not this.
struct DescribedByAttribute {
    a: u8,
}

#[test]
fn descriptions_join_doc_lines_and_attributes_win() {
    assert_eq!(
        Documented::DESCRIPTION,
        Some("Several paragraphs, joined like rustdoc.\n\n- with a list\n- kept on lines")
    );
    assert_eq!(
        json_schema::<Documented>()["$defs"]["Documented"]["properties"]["a"]["description"],
        "Given explicitly."
    );
    assert_eq!(
        DescribedByAttribute::DESCRIPTION,
        Some("From the attribute.")
    );
}

// ---------------------------------------------------------------------------------------------
// Optional members

#[derive(Debug, Deserialize, ResponseModel)]
struct Filter {
    #[serde(default)]
    query: String,
    #[serde(default)]
    limit: u8,
    /// Required, but may be null.
    since: Option<bool>,
    #[serde(default = "default_tags")]
    tags: Vec<String>,
}

fn default_tags() -> Vec<String> {
    vec!["all".into()]
}

#[test]
fn optional_fields_grammar() {
    assert_eq!(
        own_rules::<Filter>("Filter-"),
        [
            r#"Filter-f46f5d ::= "{" ( "\"query\":" " "? string Filter-f46f5d-t2 | "\"limit\":" " "? u8 Filter-f46f5d-t3 | "\"since\":" " "? opt-bool Filter-f46f5d-t4 ) "}""#,
            r#"Filter-f46f5d-t2 ::= ( "," " "? "\"limit\":" " "? u8 )? Filter-f46f5d-t3"#,
            r#"Filter-f46f5d-t3 ::= "," " "? "\"since\":" " "? opt-bool Filter-f46f5d-t4"#,
            r#"Filter-f46f5d-t4 ::= ( "," " "? "\"tags\":" " "? vec-string )?"#,
            r#"Filter-f46f5d-mc ::= ( "," " "? "\"query\":" " "? string )? ( "," " "? "\"limit\":" " "? u8 )? "," " "? "\"since\":" " "? opt-bool ( "," " "? "\"tags\":" " "? vec-string )?"#,
        ]
    );
    check_language::<Filter>(
        &[
            r#"{"since":null}"#,
            r#"{"query":"x","since":true}"#,
            r#"{"limit":3,"since":false,"tags":[]}"#,
            r#"{"query":"x","limit":3,"since":null,"tags":["a","b"]}"#,
        ],
        &[
            r#"{}"#,
            r#"{"query":"x"}"#,
            r#"{,"since":null}"#,
            r#"{"since":null,}"#,
            r#"{"limit":3,"query":"x","since":null}"#,
        ],
    );
    let schema = json_schema::<Filter>();
    assert_eq!(schema["$defs"]["Filter"]["required"], json!(["since"]));
}

#[derive(Debug, Default, Deserialize, ResponseModel)]
#[serde(default)]
struct Settings {
    verbose: bool,
    level: u8,
}

#[derive(Debug, Deserialize, ResponseModel)]
struct Nothing {}

#[test]
fn all_optional_and_empty_objects() {
    assert_eq!(
        own_rules::<Settings>("Settings-")[0],
        r#"Settings-cbad61 ::= "{" ( "\"verbose\":" " "? bool Settings-cbad61-t2 | "\"level\":" " "? u8 )? "}""#
    );
    check_language::<Settings>(
        &[
            "{}",
            r#"{"verbose":true}"#,
            r#"{"level":2}"#,
            r#"{"verbose":false,"level":2}"#,
        ],
        &[r#"{"level":2,"verbose":false}"#, r#"{,}"#],
    );
    check_language::<Nothing>(&["{}"], &["{ }", "null"]);
}

// ---------------------------------------------------------------------------------------------
// Enums: the four serde representations

#[derive(Debug, Clone, Deserialize, ResponseModel)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Debug, Clone, Deserialize, ResponseModel)]
enum External {
    Empty,
    Circle(u8),
    Line(Point, Point),
    Box {
        w: u8,
        #[serde(default)]
        h: u8,
    },
}

#[derive(Debug, Clone, Deserialize, ResponseModel)]
#[serde(tag = "kind")]
enum Internal {
    Empty,
    At(Point),
    Box {
        w: u8,
        #[serde(default)]
        h: u8,
    },
}

#[derive(Debug, Clone, Deserialize, ResponseModel)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    Empty,
    Circle(u8),
    Line(Point, Point),
    Box { w: u8 },
}

#[derive(Debug, Clone, Deserialize, ResponseModel)]
#[serde(untagged)]
enum Untagged {
    Nothing,
    Number(u8),
    Pair(bool, bool),
    Named { w: u8 },
}

#[test]
fn externally_tagged_grammar() {
    assert_eq!(
        own_rules::<External>("External-"),
        [
            r#"External-0f9f8f ::= "\"Empty\"" | "{\"Circle\":" " "? u8 "}" | "{\"Line\":" " "? "[" Point-7982f1 "," " "? Point-7982f1 "]}" | "{\"Box\":" " "? "{\"w\":" " "? u8 ( "," " "? "\"h\":" " "? u8 )? "}}""#
        ]
    );
    check_language::<External>(
        &[
            r#""Empty""#,
            r#"{"Circle":3}"#,
            r#"{"Line":[{"x":1,"y":-2},{"x":0,"y":0}]}"#,
            r#"{"Box":{"w":1}}"#,
            r#"{"Box":{"w":1,"h":2}}"#,
        ],
        &[r#"{"Empty":null}"#, r#""Circle""#, r#"{"Box":{"h":2}}"#],
    );
}

#[test]
fn internally_tagged_grammar() {
    assert_eq!(
        own_rules::<Internal>("Internal-"),
        [
            r#"Internal-9b53da ::= "{\"kind\":" " "? "\"Empty\"}" | "{\"kind\":" " "? "\"At\"" Point-7982f1-mc "}" | "{\"kind\":" " "? "\"Box\"," " "? "\"w\":" " "? u8 ( "," " "? "\"h\":" " "? u8 )? "}""#
        ]
    );
    check_language::<Internal>(
        &[
            r#"{"kind":"Empty"}"#,
            r#"{"kind":"At","x":1,"y":2}"#,
            r#"{"kind":"Box","w":1}"#,
            r#"{"kind":"Box","w":1,"h":2}"#,
        ],
        &[
            r#"{"kind":"At"}"#,
            r#"{"x":1,"y":2,"kind":"At"}"#,
            r#""Empty""#,
        ],
    );
    // The schema inlines the struct next to the tag.
    let schema = json_schema::<Internal>();
    let at = &schema["$defs"]["Internal"]["oneOf"][1];
    assert_eq!(at["required"], json!(["kind", "x", "y"]));
    assert_eq!(
        at["properties"]["kind"],
        json!({"type": "string", "const": "At"})
    );
}

#[test]
fn adjacently_tagged_grammar() {
    assert_eq!(
        own_rules::<Adjacent>("Adjacent-"),
        [
            r#"Adjacent-64a24a ::= "{\"t\":" " "? "\"Empty\"}" | "{\"t\":" " "? "\"Circle\"," " "? "\"c\":" " "? u8 "}" | "{\"t\":" " "? "\"Line\"," " "? "\"c\":" " "? "[" Point-7982f1 "," " "? Point-7982f1 "]}" | "{\"t\":" " "? "\"Box\"," " "? "\"c\":" " "? "{\"w\":" " "? u8 "}}""#
        ]
    );
    check_language::<Adjacent>(
        &[
            r#"{"t":"Empty"}"#,
            r#"{"t":"Circle","c":3}"#,
            r#"{"t":"Box","c":{"w":1}}"#,
        ],
        &[r#"{"c":3,"t":"Circle"}"#, r#"{"t":"Circle"}"#],
    );
}

#[test]
fn untagged_grammar() {
    assert_eq!(
        own_rules::<Untagged>("Untagged-"),
        [r#"Untagged-27b635 ::= "null" | u8 | "[" bool "," " "? bool "]" | "{\"w\":" " "? u8 "}""#]
    );
    check_language::<Untagged>(
        &["null", "7", "[true,false]", r#"{"w":1}"#],
        &["true", "[1,2]"],
    );
    assert!(json_schema::<Untagged>()["$defs"]["Untagged"]["anyOf"].is_array());
}

#[derive(Debug, Clone, Deserialize, ResponseModel)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
enum Renamed {
    FirstOne {
        long_name: u8,
    },
    #[serde(rename_all = "SCREAMING-KEBAB-CASE")]
    SecondOne {
        long_name: u8,
    },
    #[serde(rename(serialize = "ignored", deserialize = "third"), alias = "3")]
    ThirdOne,
    #[serde(skip)]
    #[allow(dead_code)]
    Never(std::convert::Infallible),
}

#[test]
fn renames_follow_serde() {
    let rule = &own_rules::<Renamed>("Renamed-")[0];
    assert!(
        rule.contains(r#""{\"type\":" " "? "\"first_one\"," " "? "\"longName\":" " "? u8 "}""#),
        "{rule}"
    );
    assert!(
        rule.contains(r#""{\"type\":" " "? "\"second_one\"," " "? "\"LONG-NAME\":" " "? u8 "}""#),
        "{rule}"
    );
    assert!(rule.contains(r#""{\"type\":" " "? "\"third\"}""#), "{rule}");
    assert!(!rule.contains("Never"), "{rule}");
    check_language::<Renamed>(
        &[
            r#"{"type":"third"}"#,
            r#"{"type":"first_one","longName":1}"#,
        ],
        &[r#"{"type":"3"}"#],
    );
}

macro_rules! case_enum {
    ($name:ident, $rule:literal) => {
        #[derive(Debug, Clone, Deserialize, ResponseModel)]
        #[serde(rename_all = $rule)]
        enum $name {
            VeryTasty,
            A,
            Z42,
        }
    };
}
case_enum!(Lower, "lowercase");
case_enum!(Upper, "UPPERCASE");
case_enum!(Pascal, "PascalCase");
case_enum!(Camel, "camelCase");
case_enum!(Snake, "snake_case");
case_enum!(ScreamingSnake, "SCREAMING_SNAKE_CASE");
case_enum!(Kebab, "kebab-case");
case_enum!(ScreamingKebab, "SCREAMING-KEBAB-CASE");

macro_rules! case_struct {
    ($name:ident, $rule:literal) => {
        #[derive(Debug, Deserialize, ResponseModel)]
        #[serde(rename_all = $rule)]
        struct $name {
            very_tasty: bool,
            a: bool,
            z42: bool,
        }
    };
}
case_struct!(LowerS, "lowercase");
case_struct!(UpperS, "UPPERCASE");
case_struct!(PascalS, "PascalCase");
case_struct!(CamelS, "camelCase");
case_struct!(SnakeS, "snake_case");
case_struct!(ScreamingSnakeS, "SCREAMING_SNAKE_CASE");
case_struct!(KebabS, "kebab-case");
case_struct!(ScreamingKebabS, "SCREAMING-KEBAB-CASE");

#[test]
fn every_case_style_matches_serde() {
    fn variants<T: ResponseModel + std::fmt::Debug>(names: [&str; 3]) {
        let g = recognizer::<T>();
        for name in names {
            let text = format!("\"{name}\"");
            assert!(
                g.accepts(&text),
                "{} rejects {text}",
                std::any::type_name::<T>()
            );
            serde_json::from_str::<T>(&text).unwrap();
        }
    }
    variants::<Lower>(["verytasty", "a", "z42"]);
    variants::<Upper>(["VERYTASTY", "A", "Z42"]);
    variants::<Pascal>(["VeryTasty", "A", "Z42"]);
    variants::<Camel>(["veryTasty", "a", "z42"]);
    variants::<Snake>(["very_tasty", "a", "z42"]);
    variants::<ScreamingSnake>(["VERY_TASTY", "A", "Z42"]);
    variants::<Kebab>(["very-tasty", "a", "z42"]);
    variants::<ScreamingKebab>(["VERY-TASTY", "A", "Z42"]);

    fn fields<T: ResponseModel + std::fmt::Debug>(names: [&str; 3]) {
        let text = format!(
            r#"{{"{}":true,"{}":false,"{}":true}}"#,
            names[0], names[1], names[2]
        );
        assert!(
            recognizer::<T>().accepts(&text),
            "{} rejects {text}",
            std::any::type_name::<T>()
        );
        serde_json::from_str::<T>(&text).unwrap();
    }
    fields::<LowerS>(["very_tasty", "a", "z42"]);
    fields::<UpperS>(["VERY_TASTY", "A", "Z42"]);
    fields::<PascalS>(["VeryTasty", "A", "Z42"]);
    fields::<CamelS>(["veryTasty", "a", "z42"]);
    fields::<SnakeS>(["very_tasty", "a", "z42"]);
    fields::<ScreamingSnakeS>(["VERY_TASTY", "A", "Z42"]);
    fields::<KebabS>(["very-tasty", "a", "z42"]);
    fields::<ScreamingKebabS>(["VERY-TASTY", "A", "Z42"]);
}

// ---------------------------------------------------------------------------------------------
// Other struct shapes, serde attributes, generics

#[derive(Debug, Deserialize, ResponseModel)]
struct Meters(#[instructor(range(min = 1, max = 1000))] u16);

#[derive(Debug, Clone, Deserialize, ResponseModel)]
struct Rgb(u8, u8, u8);

#[derive(Debug, Clone, Deserialize, ResponseModel)]
struct Marker;

#[derive(Debug, Deserialize, ResponseModel)]
#[serde(transparent)]
struct Label {
    text: String,
    #[serde(skip)]
    #[allow(dead_code)]
    cached_len: usize,
}

#[derive(Debug, Deserialize, ResponseModel)]
#[serde(deny_unknown_fields)]
struct WithSkips {
    #[serde(rename = "type")]
    kind: String,
    #[serde(skip_deserializing)]
    #[allow(dead_code)]
    seen: bool,
    #[serde(alias = "val")]
    value: u8,
    r#match: bool,
}

#[test]
fn other_shapes() {
    // A newtype is its inner value, narrowed by its constraints.
    check_language::<Meters>(&["1", "1000"], &["0", "1001", "[1]"]);
    check_language::<Rgb>(&["[0,128,255]"], &["[0,128]", "[0,128,256]"]);
    check_language::<Marker>(&["null"], &["{}"]);
    check_language::<Label>(&[r#""hi""#], &[r#"{"text":"hi"}"#]);
    check_language::<WithSkips>(
        &[r#"{"type":"a","value":1,"match":true}"#],
        &[
            r#"{"type":"a","seen":true,"value":1,"match":true}"#,
            r#"{"type":"a","val":1,"match":true}"#,
        ],
    );
    assert_eq!(
        json_schema::<Rgb>()["$defs"]["Rgb"]["prefixItems"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        json_schema::<Marker>()["$defs"]["Marker"],
        json!({"type": "null"})
    );
}

#[derive(Debug, Deserialize, ResponseModel)]
struct Pair<A, B> {
    first: A,
    #[instructor(items(max = 2))]
    second: Vec<B>,
}

#[derive(Debug, Deserialize, ResponseModel)]
struct UsesPairs {
    a: Pair<u8, String>,
    b: Pair<String, u8>,
}

#[test]
fn generic_types_get_one_rule_per_instantiation() {
    let gbnf = UsesPairs::GBNF;
    assert!(gbnf.contains("Pair-78cd98-u8-string ::= "), "{gbnf}");
    assert!(gbnf.contains("Pair-78cd98-string-u8 ::= "), "{gbnf}");
    check_language::<UsesPairs>(
        &[r#"{"a":{"first":1,"second":["x","y"]},"b":{"first":"x","second":[]}}"#],
        &[r#"{"a":{"first":1,"second":["x","y","z"]},"b":{"first":"x","second":[]}}"#],
    );
    // Two instantiations, two schemas: the second is keyed by its grammar rule name.
    let schema = json_schema::<UsesPairs>();
    let defs = schema["$defs"].as_object().unwrap();
    assert!(
        defs.contains_key("Pair") && defs.contains_key("Pair-78cd98-string-u8"),
        "{schema}"
    );
}

#[derive(Debug, Clone, Deserialize, ResponseModel)]
#[serde(tag = "side", content = "value")]
enum Either<A, B> {
    Left(A),
    Right(#[instructor(range(max = 9))] B),
}

#[derive(Debug, Deserialize, ResponseModel)]
struct Choice {
    #[serde(default)]
    #[instructor(length(max = 2))]
    note: Option<String>,
    pick: Either<bool, u8>,
}

#[test]
fn generic_enums_and_constrained_options() {
    check_language::<Choice>(
        &[
            r#"{"pick":{"side":"Left","value":true}}"#,
            r#"{"note":null,"pick":{"side":"Right","value":9}}"#,
            r#"{"note":"ab","pick":{"side":"Right","value":0}}"#,
        ],
        &[
            r#"{"note":"abc","pick":{"side":"Right","value":0}}"#,
            r#"{"pick":{"side":"Right","value":10}}"#,
        ],
    );
    let bad: Choice =
        serde_json::from_str(r#"{"note":"abc","pick":{"side":"Right","value":10}}"#).unwrap();
    let errors: Vec<String> = validate(&bad)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "note: must have at most 2 characters (has 3)",
            "pick: must be at most 9"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Patterns

#[derive(Debug, Deserialize, ResponseModel)]
struct Codes {
    #[instructor(pattern = r"^[A-Z]{2}-\d{3}$")]
    sku: String,
    #[instructor(pattern = r#"(say "\w+"|\\n)"#)]
    quoted: String,
    #[instructor(pattern = r"[^a]?")]
    not_a: Option<String>,
}

#[test]
fn patterns_translate_to_json_text() {
    assert_eq!(
        own_rules::<Codes>("Codes-")[0],
        r#"Codes-914902-sku ::= "\"" ( [A-Z]{2} "-" [0-9]{3} ) "\"""#
    );
    check_language::<Codes>(
        &[
            r#"{"sku":"AB-123","quoted":"say \"hi_1\"","not_a":null}"#,
            r#"{"sku":"AB-123","quoted":"\\n","not_a":""}"#,
            r#"{"sku":"AB-123","quoted":"say \"x\"","not_a":"\""}"#,
            r#"{"sku":"AB-123","quoted":"say \"x\"","not_a":"\n"}"#,
        ],
        &[
            r#"{"sku":"AB-12","quoted":"\\n","not_a":null}"#,
            r#"{"sku":"AB-123","quoted":"say "hi"","not_a":null}"#,
            r#"{"sku":"AB-123","quoted":"\\n","not_a":"a"}"#,
        ],
    );
    let codes: Codes =
        serde_json::from_str(r#"{"sku":"ab-123","quoted":"\\n","not_a":null}"#).unwrap();
    assert_eq!(
        validate(&codes).unwrap_err()[0].to_string(),
        r#"sku: must match the pattern "^[A-Z]{2}-\\d{3}$""#
    );
}

// ---------------------------------------------------------------------------------------------
// Validation

#[derive(Debug, Deserialize, ResponseModel)]
struct Order {
    #[instructor(items(min = 1))]
    items: Vec<Item>,
    #[instructor(validate = check_currency)]
    currency: String,
}

#[derive(Debug, Deserialize, ResponseModel)]
#[instructor(validate = no_free_lunch)]
struct Item {
    #[instructor(length(min = 1, max = 20))]
    name: String,
    #[instructor(range(min = 1))]
    quantity: u32,
    #[instructor(range(min = 0.0))]
    price: f64,
}

fn check_currency(c: &str) -> Result<(), String> {
    if c.len() == 3 {
        Ok(())
    } else {
        Err("must be a three-letter code".into())
    }
}

fn no_free_lunch(item: &Item) -> Result<(), String> {
    if item.price == 0.0 && item.quantity > 10 {
        Err("more than 10 free items".into())
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, ResponseModel)]
#[instructor(validate)]
enum Span {
    Open(#[instructor(range(max = 100))] u8),
    Closed { start: u8, end: u8 },
}

impl Validate for Span {
    fn validate(&self, v: &mut Validator<'_>) {
        if let Span::Closed { start, end } = self {
            if end < start {
                v.field("end", |v| v.error("must not be before start"));
            }
        }
    }
}

#[test]
fn validation_reports_json_paths() {
    let order: Order = serde_json::from_str(
        r#"{"items":[{"name":"pen","quantity":2,"price":1.5},{"name":"","quantity":0,"price":-1},{"name":"gum","quantity":11,"price":0}],"currency":"euro"}"#,
    )
    .unwrap();
    let errors: Vec<String> = validate(&order)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "items[1].name: must have at least 1 characters (has 0)",
            "items[1].quantity: must be at least 1",
            "items[1].price: must be at least 0",
            "items[2]: more than 10 free items",
            "currency: must be a three-letter code",
        ]
    );
    let empty: Order = serde_json::from_str(r#"{"items":[],"currency":"EUR"}"#).unwrap();
    assert_eq!(
        validate(&empty).unwrap_err()[0].to_string(),
        "items: must have at least 1 items (has 0)"
    );

    let open: Span = serde_json::from_str(r#"{"Open":101}"#).unwrap();
    assert_eq!(
        validate(&open).unwrap_err()[0].to_string(),
        "must be at most 100"
    );
    let closed: Span = serde_json::from_str(r#"{"Closed":{"start":5,"end":1}}"#).unwrap();
    assert_eq!(
        validate(&closed).unwrap_err()[0].to_string(),
        "end: must not be before start"
    );
}

// ---------------------------------------------------------------------------------------------
// Partial values

#[derive(Debug, Deserialize, ResponseModel)]
struct Invoice {
    #[serde(rename = "customer")]
    customer_name: String,
    lines: Vec<Line>,
    status: Status,
    total: Option<f64>,
}

#[derive(Debug, Deserialize, ResponseModel)]
struct Line {
    sku: String,
    qty: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ResponseModel)]
enum Status {
    Draft,
    Sent,
}

#[test]
fn partial_values_fill_from_the_stream() {
    let text = r#"{"customer":"Ada Lovelace","lines":[{"sku":"A1","qty":2},{"sku":"B2","qty":10}],"status":"Sent","total":12.5}"#;
    let mut value = PartialValue::<Invoice>::new();
    let mut snapshots = Vec::new();
    for chunk in text.as_bytes().chunks(7) {
        value.push(std::str::from_utf8(chunk).unwrap()).unwrap();
        snapshots.push(format!("{:?}", value.get()));
    }
    assert!(value.is_complete());
    let last: &PartialInvoice = value.get().unwrap();
    assert_eq!(last.customer_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(last.lines.as_ref().map(Vec::len), Some(2));
    assert_eq!(last.lines.as_ref().unwrap()[1].sku.as_deref(), Some("B2"));
    assert_eq!(last.lines.as_ref().unwrap()[1].qty, Some(10));
    assert_eq!(last.status.as_deref(), Some(&Status::Sent));
    assert_eq!(last.total, Some(Some(12.5)));
    // The name streams in before it is complete.
    assert!(
        snapshots
            .iter()
            .any(|s| s.contains("customer_name: Some(\"Ada Love\")")),
        "{snapshots:#?}"
    );
    assert!(
        snapshots[0].starts_with("Some(PartialInvoice"),
        "{}",
        snapshots[0]
    );
}

#[test]
fn partial_newtypes_stream_as_their_inner_value() {
    let mut value = PartialValue::<Label>::new();
    value.push(r#""hel"#).unwrap();
    assert_eq!(value.get().map(String::as_str), Some("hel"));
}

#[test]
fn the_system_prompt_lists_field_descriptions_without_pasting_the_schema() {
    /// A person mentioned in the text.
    #[derive(Debug, serde::Deserialize, ResponseModel)]
    struct Described {
        /// The person's first name.
        name: String,
        age: u8,
    }
    let m = instructor_core::__private::prompt::system_message(
        "Extract.",
        Described::DESCRIPTION,
        &instructor_core::json_schema::<Described>(),
    );
    assert_eq!(
        m.content,
        "Extract.\nThe answer describes: A person mentioned in the text.\nFields:\n- name: The person's first name."
    );
}

mod repeats {
    use instructor_core::{ResponseModel, Seg};
    use std::collections::HashMap;

    #[derive(Debug, serde::Deserialize, ResponseModel)]
    #[allow(dead_code)]
    struct Line {
        product: String,
        qty: u32,
    }

    #[derive(Debug, serde::Deserialize, ResponseModel)]
    #[allow(dead_code)]
    struct Order {
        /// Each scanned item, as often as it was scanned.
        #[instructor(allow_repeats)]
        scans: Vec<String>,
        #[serde(rename = "lines", alias = "items")]
        lines: Vec<Line>,
        tags: Option<Vec<Vec<String>>>,
        by_day: HashMap<String, Vec<u8>>,
        pair: (Vec<u8>, [u8; 2]),
    }

    #[derive(Debug, serde::Deserialize, ResponseModel)]
    #[instructor(allow_repeats)]
    #[allow(dead_code)]
    struct Dice {
        rolls: Vec<u8>,
    }

    #[derive(Debug, serde::Deserialize, ResponseModel)]
    #[allow(dead_code)]
    struct Wrapper(Order);

    #[test]
    fn repeats_are_allowed_only_where_a_type_or_field_opts_out() {
        let k = Seg::Key;
        let i = Seg::Index;
        assert!(Order::repeats_allowed(&[k("scans")]));
        assert!(!Order::repeats_allowed(&[k("lines")]));
        assert!(!Order::repeats_allowed(&[k("items")]), "aliases route too");
        assert!(!Order::repeats_allowed(&[k("tags")]));
        assert!(!Order::repeats_allowed(&[k("tags"), i(0)]));
        assert!(!Order::repeats_allowed(&[k("by_day")]));
        assert!(!Order::repeats_allowed(&[k("by_day"), k("mon")]));
        assert!(!Order::repeats_allowed(&[]));
        // Fixed-length arrays cannot end early: equal elements are no loop.
        assert!(Order::repeats_allowed(&[k("pair")]));
        assert!(!Order::repeats_allowed(&[k("pair"), i(0)]));
        assert!(Order::repeats_allowed(&[k("pair"), i(1)]));
        assert!(Dice::repeats_allowed(&[k("rolls")]));
        assert!(Wrapper::repeats_allowed(&[k("scans")]), "newtypes forward");
        assert!(!Wrapper::repeats_allowed(&[k("lines")]));
        assert!(!<Vec<Order>>::repeats_allowed(&[]));
        assert!(<Vec<Order>>::repeats_allowed(&[i(3), k("scans")]));
        assert!(!<Vec<String>>::repeats_allowed(&[]));
    }
}
