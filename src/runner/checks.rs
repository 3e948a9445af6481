//! Evaluating `expect` checks and taking captures from a response.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::time::Duration;

use crate::http::cookies::CookieJar;
use crate::http::headers::{is, ResponseHeaders};
use reqwest::Url;
use serde_json::Value;

use super::json_at::{json_at, json_at_many};
use crate::model::{CaptureSource, Check, CmpOp, JsonPath, Literal, PathSeg, Predicate, StatusPattern, Subject};
use crate::redact::Redactor;
use crate::template::Scope;

/// Where a GraphQL response keeps its errors (`graphql.errors`).
static GRAPHQL_ERRORS: std::sync::LazyLock<JsonPath> =
    std::sync::LazyLock::new(|| JsonPath(vec![PathSeg::Key("errors".into())]));

/// The JSON paths a step's checks and captures read, each once: what [`ResponseView::with_paths`] reads in
/// one pass.
pub fn json_paths<'s>(
    checks: impl Iterator<Item = &'s Subject>,
    captures: impl Iterator<Item = &'s CaptureSource>,
) -> Vec<JsonPath> {
    let from_checks = checks.filter_map(|s| match s {
        Subject::Json(path) => Some(path),
        Subject::GraphqlErrors => Some(&*GRAPHQL_ERRORS),
        _ => None,
    });
    let from_captures = captures.filter_map(|c| match c {
        CaptureSource::Json(path) => Some(path),
        _ => None,
    });
    let mut paths: Vec<JsonPath> = Vec::new();
    for path in from_checks.chain(from_captures) {
        if !paths.contains(path) {
            paths.push(path.clone());
        }
    }
    paths
}

/// Longest actual value quoted in evidence.
const MAX_ACTUAL: usize = 200;

/// JSON values a response's checks and captures read in place before the document is built whole: a
/// typical step reads one or two; twenty checks on a large body are cheaper on the built document.
const PATH_READS: u8 = 3;

/// What checks and captures can look at.
pub struct ResponseView<'a> {
    pub status: u16,
    pub headers: &'a ResponseHeaders,
    pub body: &'a [u8],
    /// The step's response time (from its intended start).
    pub response_time: Duration,
    /// The user's jar and the final URL, for cookie checks.
    jar: Option<(&'a CookieJar, &'a Url)>,
    /// The `Cookie` header the jar holds for the final URL (`a=1; b=2`), looked up at most once and only
    /// if a check or capture asks: matching cookies to a URL normalises domains, which is not free.
    cookies: OnceCell<Option<String>>,
    /// The body parsed as JSON, at most once, only if checks and captures ask for more than
    /// [`PATH_READS`] values of it; fewer are read where they lie (`json_at`).
    json: OnceCell<Result<Value, String>>,
    /// JSON values read so far without building the document.
    path_reads: Cell<u8>,
    /// The JSON paths the step's checks and captures read (known at load time): the first read of any of
    /// them reads all of them, in one pass over the body.
    planned: &'a [JsonPath],
    /// The values at `planned`, in its order, once read.
    planned_values: OnceCell<Result<Vec<Option<Value>>, String>>,
}

/// Why a check failed: the actual value seen, redacted before it was cut or quoted.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub actual: String,
}

/// Why a capture found nothing. The body excerpt is written by `describe`, once the step's own secret
/// captures are known to the redactor.
#[derive(Debug, Clone, PartialEq)]
pub enum Missed {
    /// The source is absent (no header, cookie, JSON value; the regex did not match).
    Absent(String),
    /// The body is not JSON: the parser's message.
    NotJson(String),
}

impl Missed {
    pub fn describe(&self, body: &[u8], redactor: &Redactor) -> String {
        match self {
            Missed::Absent(why) => why.clone(),
            Missed::NotJson(e) => format!("{e}: {}", excerpt_of(body, 120, redactor)),
        }
    }
}

impl<'a> ResponseView<'a> {
    pub fn new(
        status: u16,
        headers: &'a ResponseHeaders,
        body: &'a [u8],
        response_time: Duration,
        jar: Option<(&'a CookieJar, &'a Url)>,
    ) -> Self {
        let (cookies, json, path_reads) = (OnceCell::new(), OnceCell::new(), Cell::new(0));
        let (planned, planned_values) = (&[][..], OnceCell::new());
        ResponseView { status, headers, body, response_time, jar, cookies, json, path_reads, planned, planned_values }
    }

    /// The JSON paths the step reads, so they are read together (`StepPlan::json_paths`).
    pub fn with_paths(mut self, planned: &'a [JsonPath]) -> Self {
        self.planned = planned;
        self
    }

    /// The value at `path` (the whole body for an empty path); `Ok(None)`: absent. A planned path is read with
    /// all the others in one pass; any other is read in place for the first few, then from the document
    /// built once: each read in place parses the whole body again.
    fn json_at(&self, path: &[PathSeg]) -> Result<Option<Cow<'_, Value>>, String> {
        let not_json = |e: serde_json::Error| format!("body is not JSON ({e})");
        if let Some(i) = self.planned.iter().position(|p| p.0 == path) {
            let values = self.planned_values.get_or_init(|| json_at_many(self.body, self.planned).map_err(not_json));
            return match values {
                Ok(values) => Ok(values[i].as_ref().map(Cow::Borrowed)),
                Err(e) => Err(e.clone()),
            };
        }
        if self.json.get().is_none() && self.path_reads.get() < PATH_READS {
            self.path_reads.set(self.path_reads.get() + 1);
            return json_at(self.body, path).map(|v| v.map(Cow::Owned)).map_err(not_json);
        }
        match self.json.get_or_init(|| serde_json::from_slice(self.body).map_err(not_json)) {
            Ok(root) => Ok(select(root, path).map(Cow::Borrowed)),
            Err(e) => Err(e.clone()),
        }
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        // Over `iter`, so the values borrow the response only, not `name`.
        let mut values = self.headers.iter().filter(|(n, _)| is(n, name)).map(|(_, v)| v).peekable();
        let first = values.next()?;
        if values.peek().is_none() {
            return Some(String::from_utf8_lossy(first));
        }
        let mut all = String::from_utf8_lossy(first).into_owned();
        for v in values {
            all.push_str(", ");
            all.push_str(&String::from_utf8_lossy(v));
        }
        Some(Cow::Owned(all))
    }

    fn cookie(&self, name: &str) -> Option<String> {
        // Prefer what this response set; fall back to what the jar holds for the URL.
        for v in self.headers.get_all("set-cookie") {
            let text = String::from_utf8_lossy(v);
            let pair = text.split(';').next().unwrap_or("");
            if let Some((k, val)) = pair.split_once('=') {
                if k.trim() == name {
                    return Some(val.trim().to_string());
                }
            }
        }
        let jar = self
            .cookies
            .get_or_init(|| {
                let (jar, url) = self.jar?;
                jar.cookies(url).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            })
            .as_deref()?;
        jar.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    }
}

/// The value a subject resolves to.
enum Actual<'v> {
    Missing(String),
    Number(f64),
    Text(Cow<'v, str>),
    Json(Cow<'v, Value>),
    /// A count compared as a number, shown as what was counted (`graphql.errors`: the messages).
    Counted(usize, String),
}

impl Actual<'_> {
    /// Redacted whole, then quoted or serialised, then cut: a secret across the cut shows nothing.
    fn describe(&self, redactor: &Redactor) -> String {
        let text = match self {
            Actual::Missing(why) => return why.clone(),
            Actual::Number(n) => redactor.redact_owned(format_number(*n)),
            Actual::Text(t) => format!("{:?}", redactor.redact(t)),
            Actual::Json(v) => redactor.redact_owned(v.to_string()),
            Actual::Counted(_, shown) => redactor.redact_owned(shown.clone()),
        };
        redactor.clip(&text, MAX_ACTUAL, false)
    }

    fn as_number(&self) -> Option<f64> {
        match self {
            Actual::Number(n) => Some(*n),
            Actual::Counted(n, _) => Some(*n as f64),
            Actual::Json(v) => match &**v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            },
            Actual::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    }

    fn as_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Actual::Missing(_) => None,
            Actual::Number(n) => Some(Cow::Owned(format_number(*n))),
            Actual::Counted(n, _) => Some(Cow::Owned(n.to_string())),
            Actual::Text(t) => Some(Cow::Borrowed(t.as_ref())),
            Actual::Json(v) => match &**v {
                Value::String(s) => Some(Cow::Borrowed(s.as_str())),
                v => Some(Cow::Owned(v.to_string())),
            },
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Walks a JSON path.
pub fn select<'v>(root: &'v Value, path: &[PathSeg]) -> Option<&'v Value> {
    let mut cur = root;
    for seg in path {
        cur = match (seg, cur) {
            (PathSeg::Key(k), Value::Object(map)) => map.get(k)?,
            (PathSeg::Index(i), Value::Array(items)) => items.get(*i)?,
            // `items.0` written as a key on an array.
            (PathSeg::Key(k), Value::Array(items)) => items.get(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn resolve<'v>(view: &'v ResponseView<'_>, subject: &Subject, redactor: &Redactor) -> Actual<'v> {
    match subject {
        Subject::Status => Actual::Number(f64::from(view.status)),
        Subject::Duration => Actual::Number(view.response_time.as_secs_f64()),
        Subject::Body => Actual::Text(String::from_utf8_lossy(view.body)),
        Subject::Header(name) => match view.header(name) {
            Some(v) => Actual::Text(v),
            None => Actual::Missing(format!("no header {name}")),
        },
        Subject::Cookie(name) => match view.cookie(name) {
            Some(v) => Actual::Text(Cow::Owned(v)),
            None => Actual::Missing(format!("no cookie {name}")),
        },
        Subject::GraphqlErrors => match view.json_at(GRAPHQL_ERRORS.as_ref()) {
            Err(e) => Actual::Missing(format!("{e}: {}", excerpt_of(view.body, 120, redactor))),
            Ok(errors) => graphql_errors(errors.as_deref()),
        },
        Subject::Json(path) => match view.json_at(&path.0) {
            Err(e) => Actual::Missing(format!("{e}: {}", excerpt_of(view.body, 120, redactor))),
            Ok(Some(v)) => Actual::Json(v),
            Ok(None) => Actual::Missing(format!("json.{path} is absent")),
        },
        // The loader keeps page subjects (`!in_http()`) out of HTTP steps; a page has no place in a response.
        _ => Actual::Missing("only a browser step reads the page".into()),
    }
}

/// The `errors` of a GraphQL response (absent or `null`: none), counted, with their messages for evidence:
/// `2 errors: "Cannot query field \"x\""; "Unauthorized"` (each message quoted, so one's end is plain).
fn graphql_errors(errors: Option<&Value>) -> Actual<'static> {
    let errors = match errors {
        None | Some(Value::Null) => return Actual::Counted(0, "no errors".into()),
        Some(Value::Array(errors)) => errors,
        // Not quoted: a Missing reason is shown as it is, unredacted.
        Some(_) => return Actual::Missing("the response's errors is not an array".into()),
    };
    let mut shown = format!("{} error{}", errors.len(), if errors.len() == 1 { "" } else { "s" });
    for (i, e) in errors.iter().enumerate() {
        shown.push_str(if i == 0 { ": " } else { "; " });
        match e.get("message") {
            Some(Value::String(m)) => shown.push_str(&format!("{m:?}")),
            _ => shown.push_str(&e.to_string()),
        }
        // The evidence is cut at MAX_ACTUAL after redaction (never before: a cut could halve a secret); whole
        // messages past what fits are not worth building.
        if shown.len() > MAX_ACTUAL * 4 {
            break;
        }
    }
    Actual::Counted(errors.len(), shown)
}

/// Evaluates one check. `Err` carries the actual value for evidence, redacted by `redactor`.
pub fn evaluate(
    check: &Check,
    view: &ResponseView<'_>,
    scope: &Scope<'_>,
    redactor: &Redactor,
) -> Result<(), Mismatch> {
    let actual = resolve(view, &check.subject, redactor);
    judge(check, &actual, view.status, |a| length(view, &check.subject, a), scope, redactor)
}

/// A value a browser step read from its page for a check: the page is queried by the runner (async), the
/// predicate is judged here, the same as for a response.
#[derive(Debug, Clone, PartialEq)]
pub enum PageValue {
    /// Why there is none (`no element matches #price`).
    Missing(String),
    Text(String),
    Number(f64),
}

/// Evaluates a browser step's check on the value read from the page.
pub fn evaluate_page(check: &Check, value: &PageValue, scope: &Scope<'_>, redactor: &Redactor) -> Result<(), Mismatch> {
    let actual = match value {
        PageValue::Missing(why) => Actual::Missing(why.clone()),
        PageValue::Text(t) => Actual::Text(Cow::Borrowed(t)),
        PageValue::Number(n) => Actual::Number(*n),
    };
    let length = |a: &Actual<'_>| match a {
        Actual::Text(t) => Some(t.chars().count()),
        _ => None,
    };
    judge(check, &actual, 0, length, scope, redactor)
}

/// Applies a check's predicate to the value its subject resolved to.
fn judge(
    check: &Check,
    actual: &Actual<'_>,
    status: u16,
    length: impl Fn(&Actual<'_>) -> Option<usize>,
    scope: &Scope<'_>,
    redactor: &Redactor,
) -> Result<(), Mismatch> {
    let ok = match &check.predicate {
        Predicate::StatusIn(patterns) => patterns.iter().any(|p| p.matches(status)),
        Predicate::StatusNotIn(patterns) => !patterns.iter().any(|p: &StatusPattern| p.matches(status)),
        Predicate::Exists => !matches!(actual, Actual::Missing(_)),
        Predicate::NotExists => matches!(actual, Actual::Missing(_)),
        Predicate::Compare(op, lit) => compare(actual, *op, lit, scope),
        Predicate::Contains(lit) => contains(actual, lit, scope),
        Predicate::Matches(re) => actual.as_text().is_some_and(|t| re.is_match(&t)),
        Predicate::Length(op, n) => length(actual).is_some_and(|len| cmp_f64(len as f64, *op, *n)),
    };
    if ok {
        return Ok(());
    }
    let described = match (&check.predicate, actual) {
        (Predicate::Length(..), a) => match length(a) {
            Some(len) => format!("length {len}"),
            None => a.describe(redactor),
        },
        (_, a) => a.describe(redactor),
    };
    Err(Mismatch { actual: described })
}

/// The length a `length` check compares: bytes for the body (what a user sizing a response means; a lossy
/// text conversion would count a replacement character per invalid sequence), characters for strings.
fn length(view: &ResponseView<'_>, subject: &Subject, actual: &Actual<'_>) -> Option<usize> {
    if matches!(subject, Subject::Body) {
        return Some(view.body.len());
    }
    match actual {
        Actual::Json(v) => match &**v {
            Value::Array(a) => Some(a.len()),
            Value::Object(o) => Some(o.len()),
            Value::String(s) => Some(s.chars().count()),
            _ => None,
        },
        Actual::Text(t) => Some(t.chars().count()),
        _ => None,
    }
}

fn cmp_f64(a: f64, op: CmpOp, b: f64) -> bool {
    match op {
        CmpOp::Eq => (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()).max(1.0),
        CmpOp::Ne => !cmp_f64(a, CmpOp::Eq, b),
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

fn cmp_ord<T: PartialOrd>(a: &T, op: CmpOp, b: &T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

fn compare(actual: &Actual<'_>, op: CmpOp, lit: &Literal, scope: &Scope<'_>) -> bool {
    if let Actual::Missing(_) = actual {
        // A missing value equals nothing, differs from everything.
        return op == CmpOp::Ne;
    }
    match lit {
        Literal::Duration(d) => actual.as_number().is_some_and(|a| cmp_f64(a, op, d.as_secs_f64())),
        Literal::Number(n) => actual.as_number().is_some_and(|a| cmp_f64(a, op, *n)),
        Literal::Null => {
            let is_null = matches!(actual, Actual::Json(v) if v.is_null());
            match op {
                CmpOp::Eq => is_null,
                CmpOp::Ne => !is_null,
                _ => false,
            }
        }
        Literal::Bool(b) => {
            let v = match actual {
                Actual::Json(v) if v.is_boolean() => v.as_bool(),
                other => other.as_text().and_then(|t| t.parse::<bool>().ok()),
            };
            match op {
                CmpOp::Eq => v == Some(*b),
                CmpOp::Ne => v != Some(*b),
                _ => false,
            }
        }
        Literal::String(s) => compare_text(actual, op, s),
        Literal::Template(t) => {
            let rendered = t.render(scope);
            match (rendered.trim().parse::<f64>(), actual.as_number()) {
                (Ok(n), Some(a)) => cmp_f64(a, op, n),
                _ => compare_text(actual, op, &rendered),
            }
        }
    }
}

fn compare_text(actual: &Actual<'_>, op: CmpOp, expected: &str) -> bool {
    actual.as_text().is_some_and(|t| cmp_ord(&t.as_ref(), op, &expected))
}

fn contains(actual: &Actual<'_>, lit: &Literal, scope: &Scope<'_>) -> bool {
    let needle: Cow<'_, str> = match lit {
        Literal::String(s) => Cow::Borrowed(s),
        Literal::Template(t) => t.render(scope),
        Literal::Number(n) => Cow::Owned(format_number(*n)),
        Literal::Bool(b) => Cow::Owned(b.to_string()),
        Literal::Null => Cow::Borrowed("null"),
        Literal::Duration(_) => return false,
    };
    let json = match actual {
        Actual::Json(v) => Some(&**v),
        _ => None,
    };
    match json {
        Some(Value::Array(items)) => items.iter().any(|item| match (item, lit) {
            (Value::String(s), _) => s == needle.as_ref(),
            (Value::Number(n), _) => n.as_f64().is_some_and(|n| needle.parse::<f64>().ok() == Some(n)),
            (Value::Bool(b), _) => needle.parse::<bool>().ok() == Some(*b),
            (Value::Null, _) => needle == "null",
            // Arrays and objects inside arrays are compared by their compact JSON text.
            (other, _) => serde_json::to_string(other).is_ok_and(|text| text == needle),
        }),
        Some(Value::Object(map)) => map.contains_key(needle.as_ref()),
        _ => actual.as_text().is_some_and(|t| t.contains(needle.as_ref())),
    }
}

/// Takes a capture's value from the response.
pub fn capture(source: &CaptureSource, view: &ResponseView<'_>) -> Result<String, Missed> {
    match source {
        CaptureSource::Status => Ok(view.status.to_string()),
        CaptureSource::Header(name) => {
            view.header(name).map(Cow::into_owned).ok_or_else(|| Missed::Absent(format!("no header {name}")))
        }
        CaptureSource::Cookie(name) => view.cookie(name).ok_or_else(|| Missed::Absent(format!("no cookie {name}"))),
        CaptureSource::Json(path) => match view.json_at(&path.0) {
            Err(e) => Err(Missed::NotJson(e)),
            Ok(found) => match found.as_deref() {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Null) | None => Err(Missed::Absent(format!("json.{path} is absent"))),
                Some(v) => Ok(v.to_string()),
            },
        },
        CaptureSource::Regex { regex, group } => {
            let text = String::from_utf8_lossy(view.body);
            let caps = regex
                .captures(&text)
                .ok_or_else(|| Missed::Absent(format!("regex {:?} did not match", regex.as_str())))?;
            caps.get(*group)
                .map(|m| m.as_str().to_string())
                .ok_or_else(|| Missed::Absent(format!("regex {:?} group {group} did not participate", regex.as_str())))
        }
        // The loader keeps page sources out of HTTP steps.
        CaptureSource::Url | CaptureSource::Title | CaptureSource::Text(_) | CaptureSource::Attr(..) => {
            Err(Missed::Absent("only a browser step reads the page".into()))
        }
    }
}

/// A one-line excerpt of a body: lossy UTF-8, redacted, whitespace collapsed, cut to `max` bytes — in that
/// order, so a multi-line secret is still whole when it is matched and a cut never shows part of one.
pub fn excerpt_of(body: &[u8], max: usize, redactor: &Redactor) -> String {
    // `max * 4` bytes hold `max` characters; the longest form of a secret more, so one that starts inside
    // them is matched whole.
    let window = body.len().min(max * 4 + redactor.longest());
    let text = String::from_utf8_lossy(&body[..window]);
    let redacted = redactor.redact(&text);
    let collapsed: String = redacted.split_whitespace().collect::<Vec<_>>().join(" ");
    redactor.clip(&collapsed, max, window < body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_check(body: &str) -> Result<(), Mismatch> {
        let check = Check {
            text: "graphql.errors == 0".into(),
            subject: Subject::GraphqlErrors,
            predicate: Predicate::Compare(CmpOp::Eq, Literal::Number(0.0)),
            soft: false,
        };
        let headers = ResponseHeaders::default();
        let view = ResponseView::new(200, &headers, body.as_bytes(), Duration::ZERO, None);
        let scope = Scope { secrets: &[], rows: &[], captures: &[], tokens: &[] };
        evaluate(&check, &view, &scope, &Redactor::new(["s3cret-x"]))
    }

    #[test]
    fn graphql_errors_counts_the_array_and_shows_the_messages() {
        assert_eq!(errors_check(r#"{"data":{"a":1}}"#), Ok(()));
        assert_eq!(errors_check(r#"{"data":{"a":1},"errors":null}"#), Ok(()));
        assert_eq!(errors_check(r#"{"errors":[]}"#), Ok(()));
        let m = errors_check(r#"{"errors":[{"message":"bad s3cret-x"},{"extensions":{"code":"X"}}]}"#).unwrap_err();
        assert_eq!(m.actual, r#"2 errors: "bad [REDACTED]"; {"extensions":{"code":"X"}}"#);
        let m = errors_check(r#"{"errors":"s3cret-x"}"#).unwrap_err();
        assert_eq!(m.actual, "the response's errors is not an array");
        assert!(errors_check("<html>").unwrap_err().actual.starts_with("body is not JSON"));
        let many = format!(r#"{{"errors":[{}]}}"#, vec![r#"{"message":"m"}"#; 500].join(","));
        let m = errors_check(&many).unwrap_err();
        assert!(m.actual.starts_with("500 errors: \"m\"; \"m\"") && m.actual.len() <= MAX_ACTUAL + 3, "{}", m.actual);
    }
}
