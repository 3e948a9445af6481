//! The threshold language: `[journey[.step]:] METRIC OP VALUE`, parsed into a small typed AST with located
//! errors. A leaf: journey files are checked with it at load (the model keeps the parsed thresholds),
//! `verify --threshold` and `report merge` parse with it, and `report::threshold` only evaluates.
//!
//! ```text
//! availability >= 99.5%            every journey (a ratio like 0.995 works too)
//! checkout: p99 < 800ms            one journey; any quantile pNN or pNN.N, plus max and mean
//! checkout.login: p50 < 200ms      one step of one journey
//! failures{reason=timeout} == 0    failures by reason (connect dns tls timeout status check capture body redirect)
//! runs >= 100                      completed runs
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
}

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

const METRIC_HINT: &str =
    "use availability, p50, p90, p99 (any pNN or pNN.N), max, mean, runs, failures or failures{reason=timeout}";
const OP_HINT: &str = "compare with <, <=, >, >=, == or !=";

fn char_col(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

/// Parses one threshold (`--threshold` text, or a journey file entry with its scope prefixed).
pub fn parse(text: &str) -> Result<Threshold, ThresholdError> {
    let err = |byte: usize, len_bytes: usize, msg: String, hint: Option<&str>| {
        let col = char_col(text, byte);
        let len = text[byte..(byte + len_bytes).min(text.len())].chars().count();
        ThresholdError::new(text, col, len, msg, hint)
    };
    let (journey, step, expr_start) = match text.find(':') {
        None => (None, None, 0),
        Some(colon) => {
            let scope = &text[..colon];
            let lead = scope.len() - scope.trim_start().len();
            let scope_t = scope.trim();
            if scope_t.is_empty() {
                return Err(err(
                    colon,
                    1,
                    "empty scope before `:`".into(),
                    Some("write `journey:` or `journey.step:`, or drop the `:`"),
                ));
            }
            let (j, s) = match scope_t.split_once('.') {
                Some((j, s)) => (j.trim(), Some(s.trim())),
                None => (scope_t, None),
            };
            if j.is_empty() || s.is_some_and(str::is_empty) || !valid_name(j) || !s.map_or(true, valid_name) {
                return Err(err(
                    lead,
                    scope_t.len(),
                    format!("invalid scope `{scope_t}`"),
                    Some("write `journey:` or `journey.step:` with the names from the journey files"),
                ));
            }
            (Some(j.to_string()), s.map(str::to_string), colon + 1)
        }
    };
    let rest = &text[expr_start..];
    let m_start = expr_start + (rest.len() - rest.trim_start().len());
    let body = &text[m_start..];
    if body.trim().is_empty() {
        return Err(err(
            text.len().saturating_sub(1),
            1,
            "missing expression".into(),
            Some("e.g. `p99 < 800ms` or `availability >= 99.5%`"),
        ));
    }
    // The metric: a name, then an optional `{…}` selector.
    let name_len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(body.len());
    let mut metric_len = name_len;
    let name = &body[..name_len];
    let mut selector: Option<(usize, &str)> = None;
    if body[name_len..].starts_with('{') {
        match body[name_len..].find('}') {
            Some(close) => {
                selector = Some((m_start + name_len + 1, &body[name_len + 1..name_len + close]));
                metric_len = name_len + close + 1;
            }
            None => {
                return Err(err(
                    m_start + name_len,
                    body.len() - name_len,
                    "unclosed `{`".into(),
                    Some("write failures{reason=timeout}"),
                ))
            }
        }
    }
    if name.is_empty() {
        return Err(err(m_start, 1, "expected a metric".into(), Some(METRIC_HINT)));
    }
    let metric = match name {
        "availability" => Metric::Availability,
        "max" => Metric::Max,
        "mean" | "avg" => Metric::Mean,
        "runs" => Metric::Runs,
        "failures" => Metric::Failures(None),
        _ => match name.strip_prefix('p').and_then(|n| n.parse::<f64>().ok()) {
            Some(q) if q > 0.0 && q < 100.0 && !name.ends_with('.') => Metric::Quantile(q / 100.0),
            Some(_) => {
                return Err(err(
                    m_start,
                    name_len,
                    format!("quantile `{name}` is out of range"),
                    Some("quantiles run from p0.1 to p99.99"),
                ))
            }
            None => return Err(err(m_start, name_len, format!("unknown metric `{name}`"), Some(METRIC_HINT))),
        },
    };
    let metric = match (metric, selector) {
        (m, None) => m,
        (Metric::Failures(None), Some((at, sel))) => {
            let (k, v) = sel.split_once('=').unwrap_or((sel, ""));
            if k.trim() != "reason" {
                return Err(err(
                    at,
                    sel.len(),
                    format!("unknown selector `{sel}`"),
                    Some("the only selector is reason=…, e.g. failures{reason=timeout}"),
                ));
            }
            let v = v.trim().trim_matches('"');
            match Reason::parse(v) {
                Some(r) => Metric::Failures(Some(r)),
                None => {
                    let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
                    return Err(err(
                        at,
                        sel.len(),
                        format!("unknown failure reason `{v}`"),
                        Some(&format!("reasons are {}", names.join(", "))),
                    ));
                }
            }
        }
        (_, Some((at, sel))) => {
            return Err(err(
                at - 1,
                sel.len() + 2,
                format!("`{name}` takes no selector"),
                Some("only failures{reason=…} has one"),
            ));
        }
    };
    // The operator.
    let after = &body[metric_len..];
    let op_at = m_start + metric_len + (after.len() - after.trim_start().len());
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
        err(op_at.min(text.len().saturating_sub(1)), len, "expected a comparison".into(), Some(OP_HINT))
    })?;
    if op_text[op_len..].starts_with(['=', '<', '>']) {
        return Err(err(op_at, op_len + 1, "unknown comparison".into(), Some(OP_HINT)));
    }
    // The value.
    let v_raw = &text[op_at + op_len..];
    let v_at = op_at + op_len + (v_raw.len() - v_raw.trim_start().len());
    let v = v_raw.trim();
    if v.is_empty() {
        return Err(err(text.len().saturating_sub(1), 1, "missing value after the comparison".into(), None));
    }
    let bad = |msg: String, hint: &str| err(v_at, v.len(), msg, Some(hint));
    let limit = match &metric {
        Metric::Availability => {
            let (num, pct) = match v.strip_suffix('%') {
                Some(n) => (n.trim(), true),
                None => (v, false),
            };
            let n: f64 = num.parse().map_err(|_| {
                bad(format!("`{v}` is not a percentage"), "write availability as 99.5% (or a ratio 0.995)")
            })?;
            let ratio = if pct { n / 100.0 } else { n };
            if !(0.0..=1.0).contains(&ratio) || (!pct && n > 1.0) {
                return Err(bad(format!("availability `{v}` is out of range"), "use 0%..100% (or a ratio 0..1)"));
            }
            Limit::Ratio(ratio)
        }
        Metric::Quantile(_) | Metric::Max | Metric::Mean => {
            if v.parse::<f64>().is_ok() {
                return Err(bad(format!("latency `{v}` has no unit"), &format!("add one: {v}ms or {v}s")));
            }
            Limit::Duration(parse_duration(v).map_err(|e| bad(e, "write a duration such as 800ms, 1.5s or 2s"))?)
        }
        Metric::Failures(_) | Metric::Runs => Limit::Count(
            v.parse().map_err(|_| bad(format!("`{v}` is not a count"), "write a whole number, e.g. == 0"))?,
        ),
    };
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
