//! Field checks shared by the journey (`build`), its steps (`step`) and its alerts (`alerts`): names,
//! identifiers, durations, header names and values, thresholds, and reporting template problems. Imports no
//! other builder, so the builders import it and not each other.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use super::diag::FileCtx;
use super::position::index_path;
use super::raw::Scalar;
use super::templates::Problem;
use super::Severity;
use crate::model::HeaderTemplate;
use crate::template::Template;
use crate::threshold::Threshold;
use crate::units::parse_duration;

const RESERVED: [&str; 3] = ["env", "vars", "secrets"];

/// Parses `verify` thresholds written under a journey or step (at `path`): each must parse, without a
/// scope (the place it is written is its scope). Returns the parsed ones, and whether all of them were valid.
pub fn check_thresholds(ctx: &mut FileCtx, path: &str, raw: &[Scalar]) -> (Vec<Threshold>, bool) {
    let mut out = Vec::new();
    let mut ok = true;
    for (k, t) in raw.iter().enumerate() {
        let at = index_path(path, k);
        match crate::threshold::parse(&t.0) {
            Ok(parsed) if parsed.journey.is_some() => {
                let hint =
                    format!("write `{}` here; a `journey:` or `journey.step:` scope is for --threshold", parsed.expr);
                ctx.push_in(Severity::Error, &at, &t.0, 0, "a threshold in a journey file takes no scope", Some(hint));
                ok = false;
            }
            Ok(parsed) => out.push(parsed),
            Err(e) => {
                ctx.push_in(Severity::Error, &at, &t.0, e.column, e.message, e.hint);
                ok = false;
            }
        }
    }
    (out, ok)
}

/// Reports template or expression problems, pointing into the scalar at `path`.
pub fn report(ctx: &mut FileCtx, path: &str, text: &str, problems: Vec<Problem>) {
    for p in problems {
        ctx.push_in(p.severity, path, text, p.offset, p.message, p.hint);
    }
}

/// Journey and step names: `[a-z0-9][a-z0-9_.-]*` (they become metric labels and file-safe ids).
pub fn check_name(ctx: &mut FileCtx, path: &str, name: &str, what: &str) -> bool {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if !ok {
        let slug: String = name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' })
            .collect();
        let slug = slug.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
        let mut hint = "use a-z, 0-9, `_`, `.` and `-`, starting with a letter or digit".to_string();
        if !slug.is_empty() {
            hint.push_str(&format!(", e.g. `{slug}`"));
        }
        ctx.error(path, format!("invalid {what} name `{name}`"), Some(hint));
    }
    ok
}

/// Names used as identifiers in templates (vars, secrets, data sources, captures).
pub fn check_ident(ctx: &mut FileCtx, path: &str, name: &str, what: &str) -> bool {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        let hint = "use letters, digits and `_`, starting with a letter or `_`".to_string();
        ctx.error_key(path, format!("invalid {what} name `{name}`"), Some(hint));
        return false;
    }
    if RESERVED.contains(&name) && what != "var" && what != "secret" {
        ctx.error_key(path, format!("`{name}` is reserved and cannot name a {what}"), None);
        return false;
    }
    true
}

/// A duration field; reports and returns `None` when it does not parse or is zero.
pub fn duration(ctx: &mut FileCtx, path: &str, text: &str) -> Option<Duration> {
    match parse_duration(text) {
        Ok(d) if d.is_zero() => {
            ctx.error(path, "must be longer than 0s", None);
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            ctx.error(path, e, None);
            None
        }
    }
}

/// A header, parsed into what is sent: the name, and the value when it is fixed (checked here, so a run
/// cannot fail on it) or the template that renders it. `value` is `None` when its template did not compile
/// (already reported); the name is checked all the same. Reports and returns `None` when it is not valid.
pub fn header(
    ctx: &mut FileCtx,
    path: &str,
    name: &str,
    value: Option<Template>,
) -> Option<(HeaderName, HeaderTemplate)> {
    let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
        let hint = "a header name is letters, digits and `-` (an HTTP token: no spaces, `:` or other separators)";
        ctx.error_key(path, format!("`{name}` is not a valid header name"), Some(hint.into()));
        return None;
    };
    let value = value?;
    if !value.is_literal() {
        return Some((header, HeaderTemplate::Dynamic(value)));
    }
    let text = value.render(&crate::template::Scope { secrets: &[], rows: &[], captures: &[], tokens: &[] });
    match HeaderValue::from_str(&text) {
        Ok(v) => Some((header, HeaderTemplate::Static(v))),
        Err(_) => {
            let hint = "a header value is text without line breaks or other control characters";
            ctx.error(path, format!("the value of header `{name}` is not a valid header value"), Some(hint.into()));
            None
        }
    }
}
