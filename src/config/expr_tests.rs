use std::time::Duration;

use super::*;
use crate::config::LoadOptions;
use crate::model::{JsonPath, PathSeg};
use crate::template::{Expr, Part};

fn parse(text: &str) -> Result<(Subject, Predicate), Vec<Problem>> {
    let opts = LoadOptions::default();
    let mut env = Env::new(&opts);
    let captures = vec![("page_price".to_string(), 0)];
    let names = Names { captures: &captures, ..Names::default() };
    let mut problems = Vec::new();
    match parse_check(text, &names, &mut env, &mut problems) {
        Some(ok) if problems.is_empty() => Ok(ok),
        _ => Err(problems),
    }
}

fn ok(text: &str) -> (Subject, String) {
    let (s, p) = parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
    (s, format!("{p:?}"))
}

fn err(text: &str) -> (usize, String) {
    let problems = parse(text).expect_err(text);
    assert_eq!(problems.len(), 1, "{problems:?}");
    (problems[0].offset, problems[0].message.clone())
}

fn json(path: &str) -> Subject {
    Subject::Json(parse_json_path(path).unwrap())
}

#[test]
fn subjects() {
    assert_eq!(ok("status == 200").0, Subject::Status);
    assert_eq!(ok("json exists").0, Subject::Json(JsonPath::default()));
    assert_eq!(
        ok("json.items[0].sku exists").0,
        Subject::Json(JsonPath(vec![PathSeg::Key("items".into()), PathSeg::Index(0), PathSeg::Key("sku".into())]))
    );
    assert_eq!(
        ok("json.items.0 exists").0,
        Subject::Json(JsonPath(vec![PathSeg::Key("items".into()), PathSeg::Index(0)]))
    );
    assert_eq!(ok("header.Content-Type exists").0, Subject::Header("Content-Type".into()));
    assert_eq!(ok("cookie.session exists").0, Subject::Cookie("session".into()));
    assert_eq!(ok("body contains ok").0, Subject::Body);
    assert_eq!(ok("duration < 300ms").0, Subject::Duration);
}

#[test]
fn comparison_operators_and_literals() {
    assert_eq!(ok("json.a == 1").1, "Compare(Eq, Number(1.0))");
    assert_eq!(ok("json.a != -2.5").1, "Compare(Ne, Number(-2.5))");
    assert_eq!(ok("json.a < 1e3").1, "Compare(Lt, Number(1000.0))");
    assert_eq!(ok("json.a <= 0").1, "Compare(Le, Number(0.0))");
    assert_eq!(ok("json.a>0").1, "Compare(Gt, Number(0.0))");
    assert_eq!(ok("json.a >= 10").1, "Compare(Ge, Number(10.0))");
    assert_eq!(ok("json.a == true").1, "Compare(Eq, Bool(true))");
    assert_eq!(ok("json.a == false").1, "Compare(Eq, Bool(false))");
    assert_eq!(ok("json.a == null").1, "Compare(Eq, Null)");
    assert_eq!(ok("json.currency == EUR").1, "Compare(Eq, String(\"EUR\"))");
    assert_eq!(ok("json.currency == \"EUR\"").1, "Compare(Eq, String(\"EUR\"))");
    assert_eq!(ok("json.name == 'Ada Lovelace'").1, "Compare(Eq, String(\"Ada Lovelace\"))");
    assert_eq!(ok(r#"json.q == "say \"hi\"""#).1, "Compare(Eq, String(\"say \\\"hi\\\"\"))");
    // Numbers-looking words that are not numbers stay text.
    assert_eq!(ok("json.a == inf").1, "Compare(Eq, String(\"inf\"))");
}

#[test]
fn template_literals() {
    let (_, p) = parse("json.price == {{ page_price }}").unwrap();
    let Predicate::Compare(CmpOp::Eq, Literal::Template(t)) = p else { panic!("{p:?}") };
    assert_eq!(t.parts, vec![Part::Expr(Expr::Capture(0))]);
    let (_, p) = parse("json.label == \"price: {{ page_price }} EUR\"").unwrap();
    let Predicate::Compare(CmpOp::Eq, Literal::Template(t)) = p else { panic!("{p:?}") };
    assert_eq!(t.source, "price: {{ page_price }} EUR");
}

#[test]
fn word_operators() {
    assert_eq!(ok("json.token exists").1, "Exists");
    assert_eq!(ok("header.X-Debug not exists").1, "NotExists");
    assert_eq!(ok("body contains \"Add to cart\"").1, "Contains(String(\"Add to cart\"))");
    assert_eq!(ok("json.tags contains 3").1, "Contains(Number(3.0))");
    assert_eq!(ok("json.items length >= 1").1, "Length(Ge, 1.0)");
    assert_eq!(ok("body length < 100").1, "Length(Lt, 100.0)");
    let (_, p) = parse(r#"body matches "order-[0-9]+\.""#).unwrap();
    let Predicate::Matches(re) = p else { panic!() };
    assert_eq!(re.as_str(), r"order-[0-9]+\.");
}

#[test]
fn status_forms() {
    assert_eq!(ok("status == 200").1, "StatusIn([Code(200)])");
    assert_eq!(ok("status == 2xx").1, "StatusIn([Class(2)])");
    assert_eq!(ok("status != 5xx").1, "StatusNotIn([Class(5)])");
    assert_eq!(ok("status in [200, 201, 3xx]").1, "StatusIn([Code(200), Code(201), Class(3)])");
    assert_eq!(ok("status not in [4xx,5xx]").1, "StatusNotIn([Class(4), Class(5)])");
    assert_eq!(ok("status < 400").1, "Compare(Lt, Number(400.0))");
}

#[test]
fn durations() {
    assert_eq!(ok("duration < 300ms").1, format!("Compare(Lt, Duration({:?}))", Duration::from_millis(300)));
    assert_eq!(ok("duration >= 1.5s").1, format!("Compare(Ge, Duration({:?}))", Duration::from_millis(1500)));
    assert_eq!(err("duration < 300"), (11, "duration checks compare with a duration like 300ms".into()));
    assert_eq!(err("duration == 1s"), (9, "duration checks use <, <=, > or >=".into()));
}

#[test]
fn operator_errors_suggest_the_right_one() {
    assert_eq!(err("json.price => 0"), (11, "unknown operator \"=>\"; did you mean \">=\"?".into()));
    assert_eq!(err("json.price = 0"), (11, "unknown operator \"=\"; did you mean \"==\"?".into()));
    assert_eq!(err("json.price <> 0"), (11, "unknown operator \"<>\"; did you mean \"!=\"?".into()));
    assert_eq!(err("json.token exist"), (11, "unknown operator \"exist\"; did you mean \"exists\"?".into()));
    assert_eq!(err("body containz x"), (5, "unknown operator \"containz\"; did you mean \"contains\"?".into()));
    assert_eq!(err("json.token frobnicates"), (11, "unknown operator \"frobnicates\"".into()));
    assert_eq!(err("json.token"), (10, "missing operator".into()));
    assert_eq!(err("json.a =="), (9, "missing value to compare with".into()));
    assert_eq!(err("json.items length 3"), (18, "expected a comparison operator (==, !=, <, <=, >, >=)".into()));
    assert_eq!(
        err("json.items length >= many"),
        (21, "length compares with a number, e.g. `json.items length >= 1`".into())
    );
}

#[test]
fn subject_errors() {
    assert_eq!(err("jsn.a == 1"), (0, "unknown check subject `jsn`".into()));
    assert_eq!(err("== 1"), (0, "unknown check subject `==`".into()));
    assert_eq!(err(""), (0, "empty check".into()));
    assert_eq!(err("header exists"), (6, "`header` needs a name: header.<name>".into()));
    assert_eq!(err("status.code == 1"), (6, "`status` has no fields".into()));
    assert_eq!(err("json.a..b exists"), (7, "empty key in path".into()));
    assert_eq!(err("json.items[x] exists"), (11, "array index `x` is not a number; write items[0]".into()));
}

#[test]
fn status_errors() {
    assert_eq!(err("status == 2xy"), (10, "`2xy` is not a status code or class".into()));
    assert_eq!(err("status == 700"), (10, "`700` is not a status code or class".into()));
    assert_eq!(err("status in [200, 6xx]"), (16, "`6xx` is not a status code or class".into()));
    assert_eq!(err("status in 200"), (10, "`in` needs a list: status in [200, 3xx]".into()));
    assert_eq!(err("status in [200"), (14, "expected `,` or `]` in the status list".into()));
    assert_eq!(err("status < 4xx"), (9, "`<` cannot compare with a status class".into()));
    assert_eq!(err("status exists"), (7, "`status` cannot use `exists`".into()));
    assert_eq!(err("json.a in [1]"), (7, "`in` only works with status".into()));
}

#[test]
fn literal_and_regex_errors() {
    assert_eq!(err("json.a == \"open"), (10, "unterminated string".into()));
    assert_eq!(err("json.name == Ada Lovelace"), (17, "unexpected `Lovelace` after the check".into()));
    assert_eq!(err("body matches order"), (13, "`matches` needs a quoted regex".into()));
    assert_eq!(err("body matches \"(abc\""), (14, "regex: unclosed group".into()));
    assert_eq!(err("body matches \"ab[\""), (16, "regex: unclosed character class".into()));
    assert_eq!(err("json.a == {{ nope }}"), (13, "unknown name `nope`".into()));
    assert_eq!(err("json.a == \"x{{ nope }}\""), (15, "unknown name `nope`".into()));
}

#[test]
fn capture_shorthands() {
    assert_eq!(parse_subject_only("json.cart_id"), Ok(json("cart_id")));
    assert_eq!(parse_subject_only("header.Location"), Ok(Subject::Header("Location".into())));
    assert_eq!(parse_subject_only("cookie.session"), Ok(Subject::Cookie("session".into())));
    assert_eq!(parse_subject_only("status"), Ok(Subject::Status));
    let e = parse_subject_only("json.a == 1").unwrap_err();
    assert_eq!((e.offset, e.message.as_str()), (7, "unexpected `== 1` after the capture source"));
    assert_eq!(parse_subject_only("jason.a").unwrap_err().hint.unwrap().split('?').next(), Some("did you mean `json`"));
}

#[test]
fn json_paths() {
    assert_eq!(parse_json_path(""), Ok(JsonPath::default()));
    assert_eq!(parse_json_path("[2].x").unwrap().to_string(), "[2].x");
    assert_eq!(parse_json_path("a.b[10].c").unwrap().to_string(), "a.b[10].c");
    assert_eq!(parse_json_path("a."), Err((2, "path ends with `.`".into())));
    assert_eq!(parse_json_path("a[1"), Err((1, "`[` without a closing `]`".into())));
    assert_eq!(parse_json_path("a]"), Err((1, "`]` without an opening `[`".into())));
    assert_eq!(parse_json_path("a[0]b"), Err((4, "expected `.` or `[` in path".into())));
}

#[test]
fn graphql_errors_is_a_count() {
    assert_eq!(ok("graphql.errors == 0").0, Subject::GraphqlErrors);
    assert_eq!(ok("graphql.errors < 3").1, "Compare(Lt, Number(3.0))");
    assert_eq!(
        err("graphql.data == 0"),
        (7, "`graphql` has one subject: graphql.errors, the number of errors in the response".into())
    );
    assert_eq!(err("graphql.errors exists"), (15, "graphql.errors is a count: compare it with a number".into()));
    assert_eq!(err("graphql.errors == none").1, "graphql.errors is a count: compare it with a number");
    assert!(parse_subject_only("graphql.errors").is_ok(), "parsed here; capture.rs refuses to capture it");
}
