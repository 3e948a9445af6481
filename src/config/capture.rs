//! Capture sources: the shorthand (`json.cart_id`, `header.Location`, `cookie.session`, `status`) and the
//! mapping form (`{json: …}`, `{regex: '…', group: N}`, with `secret: true`). Free functions over the file's
//! diagnostics, so `step` calls into this file and nothing here knows the step builder.

use regex::Regex;

use super::diag::FileCtx;
use super::expr;
use super::fields::report;
use super::position::key_path;
use super::raw::{RawCapture, RawCaptureMap};
use super::scan::{char_offset, parse_json_path, regex_error};
use super::templates::Problem;
use crate::model::{CaptureSource, Subject};

/// The source of the capture at `path`, and whether it is secret. Reports and returns `None` when it is not
/// valid.
pub(super) fn capture_source(ctx: &mut FileCtx, path: &str, raw: &RawCapture) -> Option<(CaptureSource, bool)> {
    match raw {
        RawCapture::Short(text) => Some((short_source(ctx, path, text)?, false)),
        RawCapture::Full(m) => Some((mapped_source(ctx, path, m)?, m.secret)),
    }
}

/// The shorthand: a check subject that names one value (`json.…`, `header.…`, `cookie.…`, `status`).
fn short_source(ctx: &mut FileCtx, path: &str, text: &str) -> Option<CaptureSource> {
    let subject = match expr::parse_subject_only(text) {
        Ok(s) => s,
        Err(p) => {
            report(ctx, path, text, vec![p]);
            return None;
        }
    };
    let source = match subject {
        Subject::Status => CaptureSource::Status,
        Subject::Json(p) => CaptureSource::Json(p),
        Subject::Header(h) => CaptureSource::Header(h),
        Subject::Cookie(c) => CaptureSource::Cookie(c),
        Subject::Url => CaptureSource::Url,
        Subject::Title => CaptureSource::Title,
        Subject::Text(sel) => CaptureSource::Text(sel),
        Subject::Attr(sel, name) => CaptureSource::Attr(sel, name),
        Subject::Element(_) | Subject::Count(_) | Subject::Visible(_) => {
            let hint = "capture an element's text(\"…\") or attr(\"…\", \"name\")";
            ctx.error(path, format!("`{text}` cannot be captured"), Some(hint.into()));
            return None;
        }
        Subject::Body | Subject::Duration | Subject::GraphqlErrors => {
            let hint = "capture part of the body with a regex: {regex: 'id=([0-9]+)'}";
            ctx.error(path, format!("`{text}` cannot be captured"), Some(hint.into()));
            return None;
        }
    };
    Some(source)
}

/// The mapping form: exactly one source key, and `group` only with `regex`.
fn mapped_source(ctx: &mut FileCtx, path: &str, m: &RawCaptureMap) -> Option<CaptureSource> {
    let sources: Vec<&str> = [
        ("json", m.json.is_some()),
        ("header", m.header.is_some()),
        ("cookie", m.cookie.is_some()),
        ("status", m.status.is_some()),
        ("regex", m.regex.is_some()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(k, _)| *k)
    .collect();
    if sources.len() > 1 {
        let msg = format!("a capture has one source, found `{}` and `{}`", sources[0], sources[1]);
        ctx.error_key(&key_path(path, sources[1]), msg, None);
        return None;
    }
    if m.group.is_some() && m.regex.is_none() {
        ctx.error_key(&key_path(path, "group"), "`group` only applies to a `regex` capture", None);
        return None;
    }
    let source = match sources.first().copied() {
        Some("json") => {
            let p = m.json.as_deref().unwrap_or_default();
            let p = p.strip_prefix("json.").unwrap_or(p);
            match parse_json_path(p) {
                Ok(jp) => CaptureSource::Json(jp),
                Err((at, msg)) => {
                    let problem = Problem::error(char_offset(p, at), msg, None);
                    report(ctx, &key_path(path, "json"), p, vec![problem]);
                    return None;
                }
            }
        }
        Some("header") => CaptureSource::Header(m.header.clone().unwrap_or_default()),
        Some("cookie") => CaptureSource::Cookie(m.cookie.clone().unwrap_or_default()),
        Some("status") if m.status == Some(true) => CaptureSource::Status,
        Some("status") => {
            ctx.error(&key_path(path, "status"), "write `status: true` to capture the status", None);
            return None;
        }
        Some(_) => regex_capture(ctx, path, m)?,
        None => {
            let hint = "add one of json: <path>, header: <name>, cookie: <name>, status: true, regex: '<pattern>'";
            ctx.error(path, "this capture has no source", Some(hint.into()));
            return None;
        }
    };
    Some(source)
}

/// A `regex` capture with its `group` (by default the first group, or the whole match when there is none).
fn regex_capture(ctx: &mut FileCtx, path: &str, m: &RawCaptureMap) -> Option<CaptureSource> {
    let pattern = m.regex.as_deref().unwrap_or_default();
    let rpath = key_path(path, "regex");
    let regex = match Regex::new(pattern) {
        Ok(r) => r,
        Err(e) => {
            let (msg, offset) = regex_error(pattern, &e);
            let at = char_offset(pattern, offset);
            report(ctx, &rpath, pattern, vec![Problem::error(at, format!("regex: {msg}"), None)]);
            return None;
        }
    };
    let groups = regex.captures_len() - 1;
    let group = match m.group {
        None => usize::from(groups > 0),
        Some(g) if g <= groups => g,
        Some(g) => {
            let msg = format!(
                "group {g} does not exist: the regex has {groups} capture group{}",
                if groups == 1 { "" } else { "s" }
            );
            let hint = "group 0 is the whole match; groups are numbered from 1 by their `(`";
            ctx.error(&key_path(path, "group"), msg, Some(hint.into()));
            return None;
        }
    };
    Some(CaptureSource::Regex { regex, group })
}
