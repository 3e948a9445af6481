//! The threshold language: `[journey[.step]:] METRIC OP VALUE`, parsed into a small typed AST with located
//! errors. A leaf: journey files are checked with it at load (the model keeps the parsed thresholds),
//! `verify --threshold` and `report merge` parse with it, and `report::threshold` only evaluates.
//!
//! ```text
//! availability >= 99.5%            every journey (a ratio like 0.995 works too)
//! checkout: p99 < 800ms            one journey; any quantile pNN or pNN.N, plus max and mean
//! checkout.login: p50 < 200ms      one step of one journey
//! failures{reason=timeout} == 0    failures by reason (connect … auth; script, element, browser for browser steps)
//! runs >= 100                      completed runs
//! cert_expiry > 14d                the earliest TLS certificate seen is valid this long after the run
//! checkout.view-price: p75{vital=lcp} < 2.5s   a browser step's page timing or web vital
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::cmp::CmpOp;
use crate::outcome::Reason;
use crate::units::parse_duration;

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The whole text as written (with its scope), for reports and `report merge`.
    pub text: String,
    /// The expression without the scope, as written.
    pub expr: String,
    pub journey: Option<String>,
    pub step: Option<String>,
    pub metric: Metric,
    pub op: CmpOp,
    pub limit: Limit,
    /// Added by journeyd (the default availability gate), not written by a person.
    pub implicit: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// Passed / completed runs, 0..=1.
    Availability,
    /// A latency quantile, 0..=1 (`p99` is 0.99).
    Quantile(f64),
    Max,
    Mean,
    /// Failed runs, of one reason or all.
    Failures(Option<Reason>),
    /// Completed runs.
    Runs,
    /// Time from the end of the run until the earliest-expiring certificate seen expires.
    CertExpiry,
    /// Browser steps: a page timing or web vital (one of [`PAGE_TIMINGS`]) by quantile, max or mean —
    /// `p75{vital=lcp} < 2.5s`.
    Vital(&'static str, VitalStat),
}

/// What a [`Metric::Vital`] takes of its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VitalStat {
    Quantile(f64),
    Max,
    Mean,
}

/// The page timings and web vitals `verify` keeps per browser step (the `vital` of
/// `journey_browser_web_vital_seconds` and the `phase` of `journey_browser_navigation_seconds`).
pub const PAGE_TIMINGS: [&str; 6] = ["fcp", "lcp", "tbt", "ttfb", "dom_content_loaded", "load"];

#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    Ratio(f64),
    Duration(Duration),
    Count(u64),
}

/// A threshold that does not parse, located in its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ThresholdError {
    pub text: String,
    /// 0-based character offset of the offending part.
    pub column: usize,
    /// Its length in characters (at least 1).
    pub len: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl ThresholdError {
    fn new(text: &str, column: usize, len: usize, message: String, hint: Option<&str>) -> ThresholdError {
        ThresholdError { text: text.to_string(), column, len: len.max(1), message, hint: hint.map(str::to_string) }
    }

    /// `invalid threshold …`, the text, a caret line under the offending part, and a hint.
    pub fn render(&self) -> String {
        let mut s = format!(
            "invalid threshold `{}`: {}\n  {}\n  {}{}",
            self.text,
            self.message,
            self.text,
            " ".repeat(self.column),
            "^".repeat(self.len)
        );
        if let Some(h) = &self.hint {
            s.push_str(&format!("\n  hint: {h}"));
        }
        s
    }
}

const METRIC_HINT: &str = "use availability, p50, p90, p99 (any pNN or pNN.N), max, mean, runs, failures, \
                           failures{reason=timeout} or cert_expiry";
const OP_HINT: &str = "compare with <, <=, >, >=, == or !=";

fn char_col(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

/// A located error: `byte` and `len_bytes` index `text`; the error holds character columns. The span is
/// widened to whole characters: "the last byte" or "one byte" may fall inside a multi-byte character.
fn err(text: &str, byte: usize, len_bytes: usize, msg: impl Into<String>, hint: Option<&str>) -> ThresholdError {
    let mut start = byte.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (byte + len_bytes).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let len = text[start..end].chars().count();
    ThresholdError::new(text, char_col(text, start), len, msg.into(), hint)
}

/// Parses one threshold (`--threshold` text, or a journey file entry with its scope prefixed).
pub fn parse(text: &str) -> Result<Threshold, ThresholdError> {
    let (journey, step, after_scope) = parse_scope(text)?;
    let m_start = expression_start(text, after_scope)?;
    let (metric, metric_len) = parse_metric(text, m_start)?;
    let (op, op_end) = parse_op(text, m_start + metric_len)?;
    let limit = parse_limit(text, &metric, op_end)?;
    Ok(Threshold {
        text: text.trim().to_string(),
        expr: text[m_start..].trim().to_string(),
        journey,
        step,
        metric,
        op,
        limit,
        implicit: false,
    })
}

/// The optional `journey:` or `journey.step:` prefix: the journey, the step, and the byte offset after the
/// `:` (0 without a scope).
fn parse_scope(text: &str) -> Result<(Option<String>, Option<String>, usize), ThresholdError> {
    let Some(colon) = text.find(':') else { return Ok((None, None, 0)) };
    let scope = &text[..colon];
    let lead = scope.len() - scope.trim_start().len();
    let scope_t = scope.trim();
    if scope_t.is_empty() {
        let hint = "write `journey:` or `journey.step:`, or drop the `:`";
        return Err(err(text, colon, 1, "empty scope before `:`", Some(hint)));
    }
    let (j, s) = match scope_t.split_once('.') {
        Some((j, s)) => (j.trim(), Some(s.trim())),
        None => (scope_t, None),
    };
    if j.is_empty() || s.is_some_and(str::is_empty) || !valid_name(j) || !s.map_or(true, valid_name) {
        let hint = "write `journey:` or `journey.step:` with the names from the journey files";
        return Err(err(text, lead, scope_t.len(), format!("invalid scope `{scope_t}`"), Some(hint)));
    }
    Ok((Some(j.to_string()), s.map(str::to_string), colon + 1))
}

/// Where the expression starts: after the scope and the spaces that follow it. An error when nothing does.
fn expression_start(text: &str, after_scope: usize) -> Result<usize, ThresholdError> {
    let rest = &text[after_scope..];
    let start = after_scope + (rest.len() - rest.trim_start().len());
    if text[start..].trim().is_empty() {
        let hint = "e.g. `p99 < 800ms` or `availability >= 99.5%`";
        return Err(err(text, text.len().saturating_sub(1), 1, "missing expression", Some(hint)));
    }
    Ok(start)
}

/// The metric at byte `start`: a name, then an optional `{…}` selector. Returns it and its length in bytes.
fn parse_metric(text: &str, start: usize) -> Result<(Metric, usize), ThresholdError> {
    let body = &text[start..];
    let name_len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(body.len());
    let name = &body[..name_len];
    let (selector, metric_len) = selector(text, start, name_len)?;
    if name.is_empty() {
        return Err(err(text, start, 1, "expected a metric", Some(METRIC_HINT)));
    }
    let metric = metric_name(text, start, name)?;
    let metric = apply_selector(text, metric, name, selector)?;
    Ok((metric, metric_len))
}

/// The inside of a `{…}` selector, and the byte offset where it starts in the whole text.
struct Selector<'a> {
    at: usize,
    inside: &'a str,
}

/// The `{…}` after the metric name that starts at `start`, when there is one, and the length of name and
/// selector together.
fn selector(text: &str, start: usize, name_len: usize) -> Result<(Option<Selector<'_>>, usize), ThresholdError> {
    let body = &text[start..];
    if !body[name_len..].starts_with('{') {
        return Ok((None, name_len));
    }
    match body[name_len..].find('}') {
        Some(close) => {
            let inside = &body[name_len + 1..name_len + close];
            Ok((Some(Selector { at: start + name_len + 1, inside }), name_len + close + 1))
        }
        None => Err(err(
            text,
            start + name_len,
            body.len() - name_len,
            "unclosed `{`",
            Some("write failures{reason=timeout}"),
        )),
    }
}

/// The metric a (non-empty) name at byte `at` stands for.
fn metric_name(text: &str, at: usize, name: &str) -> Result<Metric, ThresholdError> {
    Ok(match name {
        "availability" => Metric::Availability,
        "max" => Metric::Max,
        "mean" | "avg" => Metric::Mean,
        "runs" => Metric::Runs,
        "cert_expiry" => Metric::CertExpiry,
        "failures" => Metric::Failures(None),
        _ => match name.strip_prefix('p').and_then(|n| n.parse::<f64>().ok()) {
            Some(q) if q > 0.0 && q < 100.0 && !name.ends_with('.') => Metric::Quantile(q / 100.0),
            Some(_) => {
                let msg = format!("quantile `{name}` is out of range");
                return Err(err(text, at, name.len(), msg, Some("quantiles run from p0.1 to p99.99")));
            }
            None => return Err(err(text, at, name.len(), format!("unknown metric `{name}`"), Some(METRIC_HINT))),
        },
    })
}

impl VitalStat {
    /// The statistic of a latency metric (`p75`, `max`, `mean`).
    fn of(m: &Metric) -> VitalStat {
        match m {
            Metric::Quantile(q) => VitalStat::Quantile(*q),
            Metric::Max => VitalStat::Max,
            _ => VitalStat::Mean,
        }
    }
}

/// Narrows `metric` (written as `name`) by its selector: `failures{reason=…}`, and a latency's
/// `{vital=…}` (browser steps' page timings).
fn apply_selector(
    text: &str,
    metric: Metric,
    name: &str,
    selector: Option<Selector<'_>>,
) -> Result<Metric, ThresholdError> {
    match (metric, selector) {
        (m, None) => Ok(m),
        (Metric::Failures(None), Some(Selector { at, inside: sel })) => {
            let (k, v) = sel.split_once('=').unwrap_or((sel, ""));
            if k.trim() != "reason" {
                let hint = "the only selector is reason=…, e.g. failures{reason=timeout}";
                return Err(err(text, at, sel.len(), format!("unknown selector `{sel}`"), Some(hint)));
            }
            let v = v.trim().trim_matches('"');
            match Reason::parse(v) {
                Some(r) => Ok(Metric::Failures(Some(r))),
                None => {
                    let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
                    let hint = format!("reasons are {}", names.join(", "));
                    Err(err(text, at, sel.len(), format!("unknown failure reason `{v}`"), Some(&hint)))
                }
            }
        }
        (m @ (Metric::Quantile(_) | Metric::Max | Metric::Mean), Some(Selector { at, inside: sel })) => {
            let (k, v) = sel.split_once('=').unwrap_or((sel, ""));
            let v = v.trim().trim_matches('"');
            let known = PAGE_TIMINGS.iter().find(|t| **t == v);
            match (k.trim(), known) {
                ("vital", Some(vital)) => Ok(Metric::Vital(vital, VitalStat::of(&m))),
                _ => {
                    let hint = format!("a latency takes vital=… for browser steps, one of {}", PAGE_TIMINGS.join(", "));
                    Err(err(text, at, sel.len(), format!("unknown selector `{sel}`"), Some(&hint)))
                }
            }
        }
        (_, Some(Selector { at, inside: sel })) => {
            let msg = format!("`{name}` takes no selector");
            Err(err(text, at - 1, sel.len() + 2, msg, Some("only failures{reason=…} has one")))
        }
    }
}

/// The comparison after the metric (which ends at byte `after_metric`): it, and the byte offset after it.
fn parse_op(text: &str, after_metric: usize) -> Result<(CmpOp, usize), ThresholdError> {
    let after = &text[after_metric..];
    let op_at = after_metric + (after.len() - after.trim_start().len());
    let op_text = &text[op_at..];
    let (op, op_len) = [
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ]
    .into_iter()
    .find(|(s, _)| op_text.starts_with(s))
    .map(|(s, op)| (op, s.len()))
    .ok_or_else(|| {
        let len = op_text.find(char::is_whitespace).unwrap_or(op_text.len());
        err(text, op_at.min(text.len().saturating_sub(1)), len, "expected a comparison", Some(OP_HINT))
    })?;
    if op_text[op_len..].starts_with(['=', '<', '>']) {
        return Err(err(text, op_at, op_len + 1, "unknown comparison", Some(OP_HINT)));
    }
    Ok((op, op_at + op_len))
}

/// The value from byte `from` to the end, read in the unit `metric` is measured in.
fn parse_limit(text: &str, metric: &Metric, from: usize) -> Result<Limit, ThresholdError> {
    let raw = &text[from..];
    let value = Value { text, at: from + (raw.len() - raw.trim_start().len()), v: raw.trim() };
    if value.v.is_empty() {
        return Err(err(text, text.len().saturating_sub(1), 1, "missing value after the comparison", None));
    }
    match metric {
        Metric::Availability => value.ratio(),
        Metric::Quantile(_) | Metric::Max | Metric::Mean | Metric::Vital(..) => value.latency(),
        Metric::Failures(_) | Metric::Runs => value.count(),
        Metric::CertExpiry => value.time_left(),
    }
}

/// The (trimmed, non-empty) value of a threshold, with its byte offset in the whole text for errors.
struct Value<'a> {
    text: &'a str,
    at: usize,
    v: &'a str,
}

impl Value<'_> {
    fn bad(&self, msg: String, hint: &str) -> ThresholdError {
        err(self.text, self.at, self.v.len(), msg, Some(hint))
    }

    /// A percentage (`99.5%`) or a ratio (`0.995`), as a ratio.
    fn ratio(&self) -> Result<Limit, ThresholdError> {
        let v = self.v;
        let (num, pct) = match v.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (v, false),
        };
        let n: f64 = num.parse().map_err(|_| {
            self.bad(format!("`{v}` is not a percentage"), "write availability as 99.5% (or a ratio 0.995)")
        })?;
        let ratio = if pct { n / 100.0 } else { n };
        if !(0.0..=1.0).contains(&ratio) || (!pct && n > 1.0) {
            return Err(self.bad(format!("availability `{v}` is out of range"), "use 0%..100% (or a ratio 0..1)"));
        }
        Ok(Limit::Ratio(ratio))
    }

    /// A duration with its unit.
    fn latency(&self) -> Result<Limit, ThresholdError> {
        let v = self.v;
        if v.parse::<f64>().is_ok() {
            return Err(self.bad(format!("latency `{v}` has no unit"), &format!("add one: {v}ms or {v}s")));
        }
        let d = parse_duration(v).map_err(|e| self.bad(e, "write a duration such as 800ms, 1.5s or 2s"))?;
        Ok(Limit::Duration(d))
    }

    /// A time left before a certificate expires, with its unit (usually days).
    fn time_left(&self) -> Result<Limit, ThresholdError> {
        let v = self.v;
        if v.parse::<f64>().is_ok() {
            return Err(self.bad(format!("time left `{v}` has no unit"), &format!("add one: {v}d (days) or {v}h")));
        }
        let d = parse_duration(v).map_err(|e| self.bad(e, "write a time left such as 14d or 72h"))?;
        Ok(Limit::Duration(d))
    }

    /// A whole number of runs.
    fn count(&self) -> Result<Limit, ThresholdError> {
        let v = self.v;
        let n = v.parse().map_err(|_| self.bad(format!("`{v}` is not a count"), "write a whole number, e.g. == 0"))?;
        Ok(Limit::Count(n))
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Journey and step names may contain dots, so `a.b.c:` may be journey `a.b` with step `c`: re-splits each
/// scope at the dot that names an existing journey (and step). Scopes that match nothing are left as they
/// are, for `check_scopes` to report.
pub fn resolve_scopes(thresholds: &mut [Threshold], journeys: &BTreeMap<String, Vec<String>>) {
    for t in thresholds {
        let Some(j) = &t.journey else { continue };
        let has_step = |j: &str, s: &str| journeys.get(j).is_some_and(|steps| steps.iter().any(|x| x == s));
        let fits = match &t.step {
            Some(s) => has_step(j, s),
            None => journeys.contains_key(j),
        };
        if fits {
            continue;
        }
        let full = match &t.step {
            Some(s) => format!("{j}.{s}"),
            None => j.clone(),
        };
        if journeys.contains_key(&full) {
            t.journey = Some(full);
            t.step = None;
            continue;
        }
        if let Some(i) = full.match_indices('.').map(|(i, _)| i).find(|&i| has_step(&full[..i], &full[i + 1..])) {
            t.step = Some(full[i + 1..].to_string());
            t.journey = Some(full[..i].to_string());
        }
    }
}

impl Threshold {
    /// This threshold (written without a scope in a journey file) scoped to the journey, or one of its
    /// steps, it was written under.
    pub fn scoped(&self, journey: &str, step: Option<&str>) -> Threshold {
        let mut t = Threshold { journey: Some(journey.to_string()), step: step.map(str::to_string), ..self.clone() };
        t.text = t.to_string();
        t
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.journey, &self.step) {
            (Some(j), Some(s)) => write!(f, "{j}.{s}: {}", self.expr),
            (Some(j), None) => write!(f, "{j}: {}", self.expr),
            _ => f.write_str(&self.expr),
        }
    }
}

/// Checks every scope against the journeys (and their steps) that will run.
pub fn check_scopes(thresholds: &[Threshold], journeys: &BTreeMap<String, Vec<String>>) -> Result<(), ThresholdError> {
    for t in thresholds {
        let Some(j) = &t.journey else { continue };
        let at = t.text.find(j.as_str()).unwrap_or(0);
        let Some(steps) = journeys.get(j) else {
            let names: Vec<&str> = journeys.keys().map(String::as_str).collect();
            return Err(ThresholdError::new(
                &t.text,
                char_col(&t.text, at),
                j.chars().count(),
                format!("no journey named `{j}` is selected"),
                Some(&format!("journeys in this run: {}", names.join(", "))),
            ));
        };
        if let Some(s) = &t.step {
            if !steps.contains(s) {
                let at = at + j.len() + t.text[at + j.len()..].find(s.as_str()).unwrap_or(0);
                return Err(ThresholdError::new(
                    &t.text,
                    char_col(&t.text, at),
                    s.chars().count(),
                    format!("journey `{j}` has no step `{s}`"),
                    Some(&format!("its steps: {}", steps.join(", "))),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "threshold_tests.rs"]
mod tests;
