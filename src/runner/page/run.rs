//! One browser step: its actions on the iteration's page, then what the page reported (JavaScript errors,
//! failed requests), its checks and captures, and on failure the evidence — a screenshot, the page's
//! errors and a DOM excerpt, every text redacted.
//!
//! The page is the iteration's: opened by its first step in a fresh incognito context (no cookie or storage
//! of another run or user), closed when the iteration ends. Signals are read after every action, so a
//! bundle that throws on load fails the step at once instead of at the deadline of a click that waits for
//! a button the bundle never enabled.

use std::time::Instant;

use crate::browser::{BrowserError, BrowserErrorKind, Locator, Page, PageOptions, PageSignals, WaitUntil};
use crate::model::{Action, BrowserSettings, CaptureSource, Selector, Subject, Template};
use crate::outcome::{Failure, PageMeasures, Reason, StepOutcome};
use crate::redact::Redactor;
use crate::runner::checks::{evaluate_page, PageValue};
use crate::runner::plan::resolve_url;
use crate::template::Scope;

use super::{StepCall, StepEnd, VirtualUser};

/// Longest DOM excerpt kept as evidence, in bytes (after redaction).
const DOM_EXCERPT: usize = 2_000;
/// Longest page line (an exception, a console message, a failed request) kept as evidence.
const PAGE_LINE: usize = 300;

/// Runs one browser step on `page` (opened here on the journey's first step).
pub(super) async fn run_step(
    call: &StepCall<'_>,
    vu: &mut VirtualUser,
    so: &mut StepOutcome,
    soft_failures: &mut Vec<Failure>,
    page: &mut Option<Page>,
) -> StepEnd {
    let settings = call.plan.journey.browser.as_ref().expect("run only for browser journeys");
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(call.deadline(started));
    let mut seen = Seen::default();
    let end = match page {
        Some(p) => walk(call, vu, p, settings, deadline, &mut seen, soft_failures).await,
        None => match open(call, settings, deadline).await {
            Ok(p) => walk(call, vu, page.insert(p), settings, deadline, &mut seen, soft_failures).await,
            Err(e) => Err(Problem::browser(&e)),
        },
    };
    let done = Instant::now();
    so.response_time = done.saturating_duration_since(call.intended);
    so.service_time = done.saturating_duration_since(started);
    let mut measures = seen.measures;
    if let Some(p) = page.as_mut() {
        // What arrived after the last read (a failing action's own errors) counts too.
        seen.add(p.take_signals(), &mut measures);
    }
    so.page = Some(Box::new(measures));
    match end {
        Ok(()) => StepEnd::Passed,
        Err(problem) => StepEnd::Failed(evidence(call, &vu.redactor, page.as_mut(), &seen, problem).await),
    }
}

async fn open(
    call: &StepCall<'_>,
    settings: &BrowserSettings,
    deadline: tokio::time::Instant,
) -> Result<Page, BrowserError> {
    let host = call.plan.browser.as_ref().ok_or_else(|| BrowserError::Unavailable("no browser host".into()))?;
    let options = PageOptions {
        viewport: settings.viewport,
        user_agent: settings.user_agent.clone(),
        extra_headers: Vec::new(),
        ignore_https_errors: call.plan.journey.defaults.tls_skip_verify,
    };
    host.browser().await?.new_page(options, deadline).await
}

/// Why a step failed, before the page's evidence is added.
struct Problem {
    reason: Reason,
    message: String,
    check: Option<String>,
    actual: Option<String>,
}

impl Problem {
    fn new(reason: Reason, message: String) -> Problem {
        Problem { reason, message, check: None, actual: None }
    }

    fn browser(e: &BrowserError) -> Problem {
        let reason = match e.kind() {
            BrowserErrorKind::NotFound => Reason::Element,
            BrowserErrorKind::Timeout => Reason::Timeout,
            BrowserErrorKind::Navigation => navigation_reason(&e.to_string()),
            BrowserErrorKind::Crashed | BrowserErrorKind::Unavailable | BrowserErrorKind::Protocol => Reason::Browser,
        };
        Problem::new(reason, e.to_string())
    }
}

/// Chromium's `net::ERR_…` text as the reason an HTTP step would have given.
fn navigation_reason(text: &str) -> Reason {
    if text.contains("ERR_NAME_NOT_RESOLVED") {
        Reason::Dns
    } else if text.contains("ERR_CERT") || text.contains("ERR_SSL") {
        Reason::Tls
    } else if text.contains("ERR_TIMED_OUT") {
        Reason::Timeout
    } else {
        Reason::Connect
    }
}

/// What the page reported during the step, kept for its evidence, and its counts.
#[derive(Default)]
struct Seen {
    /// Redaction happens when the evidence is written, once the step's secret captures are known.
    lines: Vec<String>,
    measures: PageMeasures,
    /// The last action loaded a document: its navigation timing is this step's.
    navigated: bool,
}

impl Seen {
    fn add(&mut self, signals: PageSignals, m: &mut PageMeasures) {
        m.js_exceptions += signals.exceptions.len() as u32;
        for e in &signals.exceptions {
            let at = e.location.as_deref().map(|l| format!(" at {l}")).unwrap_or_default();
            self.lines.push(format!("uncaught exception: {}{at}", e.message));
        }
        for c in signals.console.iter().filter(|c| c.level == crate::browser::ConsoleLevel::Error) {
            m.console_errors += 1;
            self.lines.push(format!("console error: {}", c.text));
        }
        m.failed_requests += signals.failed_requests.len() as u32;
        for r in &signals.failed_requests {
            let why = match (r.status, &r.error) {
                (Some(s), _) => s.to_string(),
                (None, Some(e)) => e.clone(),
                (None, None) => "failed".into(),
            };
            let party = if r.same_origin { "" } else { THIRD_PARTY };
            self.lines.push(format!("failed request: {} → {why}{party}", r.url));
        }
        self.navigated |= signals.requests.iter().any(|r| r.resource_type == "Document");
    }
}

/// The step's actions, then the page's verdict, checks and captures.
async fn walk(
    call: &StepCall<'_>,
    vu: &mut VirtualUser,
    page: &mut Page,
    settings: &BrowserSettings,
    deadline: tokio::time::Instant,
    seen: &mut Seen,
    soft_failures: &mut Vec<Failure>,
) -> Result<(), Problem> {
    let step = call.step;
    for action in &step.actions {
        let acted = act(call, vu, page, action, deadline).await;
        let before = seen.measures;
        let mut now = seen.measures;
        seen.navigated = false;
        seen.add(page.take_signals(), &mut now);
        seen.measures = now;
        if seen.navigated {
            // Before the verdict: a page whose bundle throws still has its load timed.
            timings(page, &mut seen.measures).await;
        }
        judge_signals(settings, &before, &now, &seen.lines)?;
        acted?;
    }
    let rows = vu.lease.row_slices();
    let elapsed = call.intended.elapsed();
    let mut captured = Vec::with_capacity(step.capture.len());
    for cap in &step.capture {
        let value = read(page, &capture_subject(&cap.source)).await.map_err(|e| Problem::browser(&e))?;
        match value {
            PageValue::Text(v) => captured.push(v),
            PageValue::Number(n) => captured.push(n.to_string()),
            PageValue::Missing(why) => {
                return Err(Problem::new(Reason::Capture, format!("capture {}: {why}", cap.name)));
            }
        }
    }
    for (cap, v) in step.capture.iter().zip(&captured) {
        if cap.secret {
            vu.redactor.add(v);
        }
    }
    let scope = Scope { secrets: &call.plan.journey.secrets, rows: &rows, captures: &vu.captures, tokens: &[] };
    for check in &step.expect {
        let value = match &check.subject {
            Subject::Duration => PageValue::Number(elapsed.as_secs_f64()),
            other => read(page, other).await.map_err(|e| Problem::browser(&e))?,
        };
        if let Err(m) = evaluate_page(check, &value, &scope, &vu.redactor) {
            let problem = Problem {
                reason: Reason::Check,
                message: format!("expected {}", check.text),
                check: Some(check.text.clone()),
                actual: Some(m.actual),
            };
            if check.soft {
                let mut f =
                    Failure::new(call.index, &step.name, Reason::Check, vu.redactor.redact_owned(problem.message));
                f.check = problem.check;
                f.actual = problem.actual;
                soft_failures.push(f);
                continue;
            }
            return Err(problem);
        }
    }
    drop(rows);
    for (cap, v) in step.capture.iter().zip(captured) {
        vu.captures[cap.slot] = Some(v);
    }
    Ok(())
}

/// JavaScript errors (unless allowed) and failed requests (as the journey says) that arrived since `before`
/// fail the step, with the first such line as the message.
fn judge_signals(
    settings: &BrowserSettings,
    before: &PageMeasures,
    now: &PageMeasures,
    lines: &[String],
) -> Result<(), Problem> {
    let new_js = now.js_exceptions + now.console_errors > before.js_exceptions + before.console_errors;
    if new_js && !settings.allow_js_errors {
        let first = lines.iter().find(|l| l.starts_with("uncaught") || l.starts_with("console")).cloned();
        return Err(Problem::new(Reason::Script, first.unwrap_or_else(|| "a JavaScript error".into())));
    }
    if now.failed_requests > before.failed_requests {
        let failing = lines.iter().filter(|l| l.starts_with("failed request")).find(|l| request_fails(settings, l));
        if let Some(line) = failing {
            let answered = line.trim_end_matches(THIRD_PARTY).ends_with(|c: char| c.is_ascii_digit());
            let reason = if answered { Reason::Status } else { Reason::Connect };
            return Err(Problem::new(reason, line.clone()));
        }
    }
    Ok(())
}

/// The navigation timing and vitals of the document an action loaded. A step that loads several keeps the
/// first complete one (a `goto` waits for `load`; a click that navigates may end before it), so each
/// document is timed once and a half-loaded one does not replace a whole one.
async fn timings(page: &mut Page, m: &mut PageMeasures) {
    let Ok(t) = page.timings().await else {
        return;
    };
    if m.load.is_some() && t.load.is_none() {
        return;
    }
    (m.ttfb, m.dom_content_loaded, m.load) = (t.ttfb, t.dom_content_loaded, t.load);
    (m.fcp, m.lcp, m.tbt, m.cls) = (t.fcp, t.lcp, t.tbt, t.cls);
}

/// Whether a failed-request line fails the step under the journey's `fail_on_failed_requests` (`add` marks
/// requests to other origins).
fn request_fails(settings: &BrowserSettings, line: &str) -> bool {
    settings.failed_requests.fails(!line.contains(THIRD_PARTY))
}

/// Marks a failed request to another origin in its evidence line.
const THIRD_PARTY: &str = " (third party)";

/// One action; templates rendered with the user's data, secrets and captures.
async fn act(
    call: &StepCall<'_>,
    vu: &mut VirtualUser,
    page: &mut Page,
    action: &Action,
    deadline: tokio::time::Instant,
) -> Result<(), Problem> {
    let rows = vu.lease.row_slices();
    let scope = Scope { secrets: &call.plan.journey.secrets, rows: &rows, captures: &vu.captures, tokens: &[] };
    let mut derived = Vec::new();
    let mut render = |t: &Template| {
        t.try_render(&scope, &mut derived)
            .map(|v| v.into_owned())
            .map_err(|e| Problem::new(Reason::Check, format!("{} could not be rendered: {}", action.key(), e.message)))
    };
    let done = match action {
        Action::Goto(t) => {
            let text = render(t)?;
            let url = resolve_url(&call.plan.journey, &scope, &text).map_err(|e| Problem::new(Reason::Connect, e))?;
            page.goto(url.as_str(), WaitUntil::Load, deadline).await.map(drop)
        }
        Action::Click(sel) => page.click(&locator(sel), deadline).await,
        Action::Fill(sel, t) | Action::Type(sel, t) | Action::Select(sel, t) => {
            let value = render(t)?;
            let secret = t.uses_secret() || t.capture_slots().any(|s| call.plan.journey.secret_captures.contains(&s));
            let shown = if secret { "********".to_string() } else { vu.redactor.redact(&value).into_owned() };
            tracing::debug!(journey = %call.plan.name, step = %call.step.name, action = action.key(), selector = %sel, value = %shown, "browser action");
            let loc = locator(sel);
            match action {
                Action::Fill(..) => page.fill(&loc, &value, deadline).await,
                Action::Type(..) => page.type_text(&loc, &value, deadline).await,
                _ => page.select(&loc, &value, deadline).await,
            }
        }
        Action::Press(key) => page.press(key, deadline).await,
        Action::WaitFor(w) => page.wait_for(&wait_for(w), deadline).await,
    };
    for d in derived {
        vu.redactor.add(&d);
    }
    done.map_err(|e| Problem::browser(&e))
}

fn locator(sel: &Selector) -> Locator {
    match sel {
        Selector::Css(c) => Locator::Css(c.clone()),
        Selector::Text(t) => Locator::Text(t.clone()),
    }
}

fn wait_for(w: &crate::model::WaitFor) -> crate::browser::WaitFor {
    use crate::browser::WaitFor as B;
    use crate::model::WaitFor as M;
    match w {
        M::Visible(s) => B::Visible(locator(s)),
        M::Attached(s) => B::Attached(locator(s)),
        M::Hidden(s) => B::Hidden(locator(s)),
        M::Url(u) => B::Url(u.clone()),
        M::NetworkIdle => B::NetworkIdle,
    }
}

/// The page subject a capture reads.
fn capture_subject(source: &CaptureSource) -> Subject {
    match source {
        CaptureSource::Url => Subject::Url,
        CaptureSource::Title => Subject::Title,
        CaptureSource::Text(s) => Subject::Text(s.clone()),
        CaptureSource::Attr(s, a) => Subject::Attr(s.clone(), a.clone()),
        CaptureSource::Cookie(c) => Subject::Cookie(c.clone()),
        // The loader allows only the sources above in browser steps.
        other => unreachable!("{other:?} is not a page capture"),
    }
}

/// Reads a check's or capture's subject from the page now.
async fn read(page: &mut Page, subject: &Subject) -> Result<PageValue, BrowserError> {
    let missing = |what: String| PageValue::Missing(what);
    Ok(match subject {
        Subject::Url => PageValue::Text(page.url().await?),
        Subject::Title => PageValue::Text(page.title().await?),
        Subject::Text(s) => {
            page.text(&locator(s)).await?.map_or_else(|| missing(format!("no element matches {s}")), PageValue::Text)
        }
        Subject::Element(s) => match page.count(&locator(s)).await? {
            0 => missing(format!("no element matches {s}")),
            n => PageValue::Text(format!("{n} matching")),
        },
        Subject::Count(s) => PageValue::Number(page.count(&locator(s)).await? as f64),
        Subject::Visible(s) => PageValue::Text(page.is_visible(&locator(s)).await?.to_string()),
        Subject::Attr(s, name) => page
            .attribute(&locator(s), name)
            .await?
            .map_or_else(|| missing(format!("no attribute {name} on {s}")), PageValue::Text),
        Subject::Cookie(name) => {
            page.cookie(name).await?.map_or_else(|| missing(format!("no cookie {name}")), PageValue::Text)
        }
        other => missing(format!("{other:?} is not on a page")),
    })
}

/// The failure with the page's evidence: its errors, a DOM excerpt and a screenshot on disk.
async fn evidence(
    call: &StepCall<'_>,
    redactor: &Redactor,
    page: Option<&mut Page>,
    seen: &Seen,
    problem: Problem,
) -> Box<Failure> {
    let mut f = Failure::new(call.index, &call.step.name, problem.reason, redactor.redact_owned(problem.message));
    f.check = problem.check;
    f.actual = problem.actual;
    f.page = seen.lines.iter().take(Failure::MAX_PAGE_LINES).map(|l| redactor.redact_truncate(l, PAGE_LINE)).collect();
    let Some(page) = page else {
        return Box::new(f);
    };
    if let Ok(url) = page.url().await {
        f.request = Some(format!("page {}", redactor.redact_truncate(&url, 200)));
    }
    if let Ok(dom) = page.dom_excerpt(DOM_EXCERPT * 2).await {
        f.excerpt = Some(redactor.redact_truncate(&dom, DOM_EXCERPT));
    }
    if let (Ok(png), Some(host)) = (page.screenshot().await, call.plan.browser.as_ref()) {
        f.screenshot = host.evidence().save(&call.plan.name, &call.step.name, &png);
    }
    Box::new(f)
}
