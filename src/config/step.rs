//! Steps: request, body (`step_body`), checks, captures and think time, with capture slots resolved in step
//! order.

use std::collections::HashMap;
use std::time::Duration;

use super::capture::capture_source;
use super::diag::FileCtx;
use super::expr::parse_check;
use super::fields::{check_ident, check_name, check_thresholds, duration, header, report};
use super::position::{index_path, key_path};
use super::raw::{RawCapture, RawCaptureMap, RawStep};
use super::templates::DataNames;
use super::templates::{self, Env, Names};
use crate::model::{Capture, CaptureSource, Check, RequestDefaults, Step, Think};
use crate::template::Template;
use crate::units::{format_duration, parse_duration};
use reqwest::Method;

/// What steps can refer to, fixed before the steps are built.
pub struct Scope {
    pub vars: Vec<(String, String)>,
    pub secret_names: Vec<String>,
    /// `oauth` token source names: steps use them, token sources themselves cannot.
    pub oauth_names: Vec<String>,
    pub data: Vec<DataNames>,
    pub broken_data: Vec<String>,
    pub timeout: Duration,
    pub has_target: bool,
    /// The journey file's directory: `multipart` file parts are relative to it.
    pub dir: std::path::PathBuf,
    /// `browser:` is on: every step is browser actions, and checks read the page.
    pub browser: bool,
}

impl Scope {
    /// What a template outside the steps (target, defaults) may refer to: everything but captures.
    pub fn names(&self) -> Names<'_> {
        Names {
            vars: &self.vars,
            secrets: &self.secret_names,
            oauth: &self.oauth_names,
            data: &self.data,
            broken_data: &self.broken_data,
            ..Names::default()
        }
    }
}

/// The steps of one journey, with the number of capture slots they use and which slots are secret.
pub struct Steps {
    pub steps: Vec<Step>,
    pub capture_slots: usize,
    pub secret_captures: Vec<usize>,
}

pub fn build_steps(
    ctx: &mut FileCtx,
    raw: Vec<RawStep>,
    scope: &Scope,
    defaults: &RequestDefaults,
    env: &mut Env,
) -> Steps {
    if raw.is_empty() {
        ctx.error(
            "steps",
            "a journey needs at least one step",
            Some("add a step, e.g. `- { name: home, get: / }`".into()),
        );
    }
    // First pass: step names, and one slot per capture name in order of first definition.
    let mut first_def: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut slot_names: Vec<&str> = Vec::new();
    let mut step_names: HashMap<&str, usize> = HashMap::new();
    let mut secret_captures = Vec::new();
    for (i, step) in raw.iter().enumerate() {
        let path = key_path(&index_path("steps", i), "name");
        check_name(ctx, &path, &step.name, "step");
        if let Some(first) = step_names.get(step.name.as_str()) {
            let line = ctx.index.value(&key_path(&index_path("steps", *first), "name")).line;
            let hint = format!("step names are labels and must be unique; the first `{}` is on line {line}", step.name);
            ctx.error(&path, format!("duplicate step name `{}`", step.name), Some(hint));
        } else {
            step_names.insert(&step.name, i);
        }
        for (name, capture) in &step.capture.0 {
            let cpath = key_path(&key_path(&index_path("steps", i), "capture"), name);
            if !check_ident(ctx, &cpath, name, "capture") {
                continue;
            }
            let slot = match first_def.get(name.as_str()) {
                Some((_, slot)) => *slot,
                None => {
                    first_def.insert(name, (i, slot_names.len()));
                    slot_names.push(name);
                    slot_names.len() - 1
                }
            };
            if matches!(capture, RawCapture::Full(RawCaptureMap { secret: true, .. }))
                && !secret_captures.contains(&slot)
            {
                secret_captures.push(slot);
            }
        }
    }
    secret_captures.sort_unstable();

    let mut steps = Vec::new();
    for (i, step) in raw.iter().enumerate() {
        let available: Vec<(String, usize)> =
            slot_names.iter().filter(|n| first_def[**n].0 < i).map(|n| (n.to_string(), first_def[*n].1)).collect();
        let this_step: Vec<String> =
            slot_names.iter().filter(|n| first_def[**n].0 == i).map(|n| n.to_string()).collect();
        let later: Vec<(String, String)> = slot_names
            .iter()
            .filter(|n| first_def[**n].0 > i)
            .map(|n| (n.to_string(), raw[first_def[*n].0].name.clone()))
            .collect();
        let names = Names { captures: &available, this_step: &this_step, later: &later, ..scope.names() };
        let mut b = StepBuilder { ctx, env, names: &names, path: index_path("steps", i), ok: true };
        if let Some(s) = b.step(step, scope, defaults, &first_def) {
            steps.push(s);
        }
    }
    Steps { steps, capture_slots: slot_names.len(), secret_captures }
}

// WebSocket steps (`ws:`, `send:`) and browser steps (actions): child modules, so they build with this
// builder's private parts.
#[path = "ws_step.rs"]
mod ws_step;

#[path = "browser_step.rs"]
mod browser_step;

struct StepBuilder<'c, 'e, 'o, 'n> {
    ctx: &'c mut FileCtx,
    env: &'e mut Env<'o>,
    names: &'n Names<'n>,
    /// `steps[i]`
    path: String,
    /// False once this step has an error: no `Step` is built from it.
    ok: bool,
}

impl StepBuilder<'_, '_, '_, '_> {
    fn at(&self, key: &str) -> String {
        key_path(&self.path, key)
    }

    fn error(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        self.ok = false;
        self.ctx.error(path, message, hint);
    }

    fn error_key(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        self.ok = false;
        self.ctx.error_key(path, message, hint);
    }

    fn template(&mut self, path: &str, text: &str) -> Option<Template> {
        let mut problems = Vec::new();
        let t = templates::compile(text, self.names, self.env, &mut problems);
        self.ok &= t.is_some();
        report(self.ctx, path, text, problems);
        t
    }

    fn template_map(&mut self, key: &str, map: &[(String, super::raw::Scalar)]) -> Vec<(String, Template)> {
        let mut out = Vec::new();
        for (k, v) in map {
            let path = key_path(&self.at(key), k);
            if let Some(t) = self.template(&path, &v.0) {
                out.push((k.clone(), t));
            }
        }
        out
    }

    fn step(
        &mut self,
        raw: &RawStep,
        scope: &Scope,
        defaults: &RequestDefaults,
        first_def: &HashMap<&str, (usize, usize)>,
    ) -> Option<Step> {
        let (method, url, actions) = if scope.browser {
            let actions = self.actions(raw, scope.has_target)?;
            // Unused by browser steps; the first `goto` names the step's page for people.
            let url = actions.iter().find_map(|a| match a {
                crate::model::Action::Goto(t) => Some(t.clone()),
                _ => None,
            });
            (Method::GET, url.unwrap_or_else(|| Template::literal("")), actions)
        } else {
            self.no_actions(raw)?;
            let (method, url) = match &raw.ws {
                Some(ws) => self.ws_request(raw, ws, scope.has_target)?,
                None => self.request(raw, scope.has_target)?,
            };
            (method, url, Vec::new())
        };
        let ws = self.ws_send(raw);
        let mut headers = Vec::new();
        for (name, value) in &raw.headers.0 {
            let path = key_path(&self.at("headers"), name);
            let value = self.template(&path, &value.0);
            match header(self.ctx, &path, name, value) {
                Some(h) => headers.push(h),
                None => self.ok = false,
            }
        }
        let query = self.template_map("query", &raw.query.0);
        let body = self.body(raw, &method, &scope.dir);
        let timeout = raw.timeout.as_ref().and_then(|t| {
            let d = duration(self.ctx, &self.at("timeout"), &t.0)?;
            if d > scope.timeout {
                let msg = format!(
                    "step timeout {} is longer than the journey timeout {}",
                    format_duration(d),
                    format_duration(scope.timeout)
                );
                self.error(&self.at("timeout"), msg, Some("lower it, or raise the journey's `timeout`".into()));
            }
            Some(d)
        });
        let max_redirects = raw.redirects.map_or(defaults.max_redirects, |r| r.0);
        let mut expect = Vec::new();
        for (k, check) in raw.expect.iter().enumerate() {
            let path = format!("{}{}", index_path(&self.at("expect"), k), check.text_suffix());
            let mut problems = Vec::new();
            let parsed = parse_check(check.text(), self.names, self.env, &mut problems);
            self.ok &= parsed.is_some();
            report(self.ctx, &path, check.text(), problems);
            if let Some((subject, predicate)) = parsed {
                if !self.subject_fits(&path, check.text(), &subject, scope.browser) {
                    continue;
                }
                expect.push(Check { text: check.text().to_string(), subject, predicate, soft: check.soft() });
            }
        }
        let mut capture = Vec::new();
        for (name, raw_capture) in &raw.capture.0 {
            let Some(&(_, slot)) = first_def.get(name.as_str()) else {
                continue;
            };
            let path = key_path(&self.at("capture"), name);
            match capture_source(self.ctx, &path, raw_capture) {
                Some((source, _))
                    if source.in_browser() != scope.browser && !matches!(source, CaptureSource::Cookie(_)) =>
                {
                    let (msg, hint) = if scope.browser {
                        (
                            "a browser step captures from the page",
                            "capture url, title, text(\"…\"), attr(\"…\", \"name\") or cookie.<name>",
                        )
                    } else {
                        (
                            "only a browser step reads a page",
                            "capture json.<path>, header.<name>, cookie.<name>, status or a regex",
                        )
                    };
                    self.error(&path, msg, Some(hint.into()));
                }
                Some((source, secret)) => capture.push(Capture { name: name.clone(), slot, source, secret }),
                None => self.ok = false,
            }
        }
        let think = raw.think.as_ref().and_then(|t| self.think(&t.0));
        let (thresholds, thresholds_ok) = check_thresholds(self.ctx, &self.at("thresholds"), &raw.thresholds);
        self.ok &= thresholds_ok;
        if !self.ok {
            return None;
        }
        Some(Step {
            name: raw.name.clone(),
            method,
            url,
            headers,
            query,
            body,
            timeout,
            max_redirects,
            expect,
            capture,
            think,
            thresholds,
            ws,
            actions,
        })
    }

    /// Page subjects only in browser steps; response subjects only in HTTP and WebSocket steps.
    fn subject_fits(&mut self, path: &str, text: &str, subject: &crate::model::Subject, browser: bool) -> bool {
        if browser && !subject.in_browser() {
            let msg = format!("`{text}` checks a response, and a browser step has none");
            let hint = "check the page: url, title, text(\"#id\"), element(…), count(…), visible(…), attr(…), cookie.<name>, duration";
            self.error(path, msg, Some(hint.into()));
            return false;
        }
        if !browser && !subject.in_http() {
            let msg = format!("`{text}` reads a page: only a browser step has one");
            let hint = "add `browser: true` to the journey to check pages, or check the response (json.…, body, …)";
            self.error(path, msg, Some(hint.into()));
            return false;
        }
        true
    }

    /// The method and URL: exactly one of `get: …` (etc.) or `method:` + `url:`.
    fn request(&mut self, raw: &RawStep, has_target: bool) -> Option<(Method, Template)> {
        let keys = raw.method_keys();
        let step = &raw.name;
        if keys.len() > 1 {
            let (first, second) = (keys[0].0, keys[1].0);
            let msg = format!("step `{step}` has two methods: `{first}` and `{second}`");
            self.error_key(&self.at(second), msg, Some("a step sends one request; split it into two steps".into()));
            return None;
        }
        let (method, url, url_path) = match (keys.first(), &raw.method, &raw.url) {
            (Some((key, url)), None, None) => (method(&key.to_uppercase())?, url.0.clone(), self.at(key)),
            (Some((key, _)), m, _) => {
                let other = if m.is_some() { "method" } else { "url" };
                let msg = format!("use either `{key}: <url>` or `method` + `url`, not both");
                self.error_key(&self.at(other), msg, None);
                return None;
            }
            (None, Some(m), Some(u)) => {
                let method = Some(m).filter(|m| is_token(m)).and_then(|m| method(&m.to_uppercase()));
                let Some(method) = method else {
                    self.error(&self.at("method"), format!("`{m}` is not a valid HTTP method"), None);
                    return None;
                };
                (method, u.0.clone(), self.at("url"))
            }
            (None, Some(_), None) => {
                self.error_key(&self.at("method"), "`method` needs a `url`", None);
                return None;
            }
            (None, None, Some(_)) => {
                let hint = "or write the method as the key: get: /path".to_string();
                self.error_key(&self.at("url"), "`url` needs a `method`", Some(hint));
                return None;
            }
            (None, None, None) => {
                let msg = format!("step `{step}` has no request");
                let hint = "add one of get, post, put, patch, delete, head or options with a URL, e.g. get: /health";
                self.error(&self.path.clone(), msg, Some(hint.into()));
                return None;
            }
        };
        let template = self.template(&url_path, &url)?;
        let absolute = ["http://", "https://", "{{"].iter().any(|p| url.starts_with(p));
        if !absolute && !has_target {
            let msg = format!("`{url}` is a relative URL but the journey has no `target`");
            let hint = "add `target: https://…` to the journey, or write an absolute URL".to_string();
            self.error(&url_path, msg, Some(hint));
            return None;
        }
        Some((method, template))
    }

    fn think(&mut self, text: &str) -> Option<Think> {
        let path = self.at("think");
        let (min, max) = match text.split_once("..") {
            Some((a, b)) => (self.think_part(&path, a)?, self.think_part(&path, b)?),
            None => {
                let d = self.think_part(&path, text)?;
                (d, d)
            }
        };
        if min > max {
            let msg = format!("think range {text} runs backwards");
            self.error(
                &path,
                msg,
                Some(format!("write it low..high: {}..{}", format_duration(max), format_duration(min))),
            );
            return None;
        }
        Some(Think { min, max })
    }

    fn think_part(&mut self, path: &str, text: &str) -> Option<Duration> {
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(path, format!("invalid think time: {e}"), Some("write 500ms, or a range 100ms..2s".into()));
                None
            }
        }
    }
}

#[path = "step_body.rs"]
mod body;

/// An upper-case HTTP token as a method (the `get:` … `options:` keys and every token are valid).
fn method(upper: &str) -> Option<Method> {
    Method::from_bytes(upper.as_bytes()).ok()
}

/// An HTTP token (a method): visible ASCII without separators.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
