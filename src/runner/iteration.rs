//! One iteration: one virtual user walks the journey once.
//!
//! The step pipeline is fixed — build the request, send it (following redirects with the user's cookies),
//! read the body under a cap, check the status, run the other checks, take the captures, think — and the
//! result is a `RunOutcome`, never an `Err`: a broken site is data.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    COOKIE, LOCATION, SET_COOKIE,
};
use reqwest::{Method, StatusCode, Url};
use tokio::time::timeout_at;
use tokio_util::sync::CancellationToken;

use crate::http::credentials::{self, for_other_origin, is_downgrade, origin_text, same_origin};
use crate::http::decode::{self, Coding};
use crate::http::{self, h1, PhaseRecorder};
use crate::model::{Body, Predicate, Step, Subject};
use crate::outcome::{Failure, Phases, Reason, RedirectHop, RunOutcome, RunStatus, StepOutcome};
use crate::redact::Redactor;
use crate::runner::checks::{self, excerpt_of, ResponseView};
use crate::runner::leases::{Lease, NoFreeRow};
use crate::runner::plan::{resolve_url, HeaderTemplate, Plan};
use crate::template::Scope;

/// Longest body excerpt kept as evidence.
const EXCERPT: usize = 300;

/// One virtual user: its data rows, captures and phase recorder. Cookies are per iteration (a fresh
/// customer each time, as a monitor wants), so a stale session cannot mask a broken login.
#[derive(Debug)]
pub struct VirtualUser {
    pub id: u64,
    lease: Lease,
    captures: Vec<Option<String>>,
    recorder: Arc<PhaseRecorder>,
    /// This user's plain-http connection (one, kept alive between requests like a browser tab's).
    h1: h1::Client,
    /// The journey's redactor plus this user's secret captures.
    redactor: Redactor,
}

impl VirtualUser {
    pub fn new(plan: &Plan, id: u64) -> Result<VirtualUser, NoFreeRow> {
        Ok(VirtualUser {
            id,
            lease: plan.pools.lease()?,
            captures: vec![None; plan.journey.capture_slots],
            recorder: Arc::new(PhaseRecorder::default()),
            h1: h1::Client::default(),
            redactor: plan.redactor.clone(),
        })
    }
}

/// How a step ended, before it is folded into the outcome.
enum StepEnd {
    Passed,
    Failed(Box<Failure>),
    Cancelled,
}

/// Runs one iteration that was due at `intended`. `cancel` aborts it (shutdown): the outcome is `Cancelled`.
pub async fn run_iteration(
    plan: &Plan,
    vu: &mut VirtualUser,
    intended: Instant,
    cancel: &CancellationToken,
) -> RunOutcome {
    let journey = &plan.journey;
    let started = Instant::now();
    let start_delay = started.saturating_duration_since(intended);
    let wall_start = SystemTime::now() - start_delay;
    let deadline = intended + journey.timeout;
    let trace_id: u128 = rand::random();
    // Created on the first Set-Cookie: most steps of most journeys have none to send.
    let jar: OnceLock<Jar> = OnceLock::new();
    vu.captures.iter_mut().for_each(|c| *c = None);
    vu.redactor.next_iteration();
    vu.lease.advance();

    let mut outcome = RunOutcome {
        journey: Arc::clone(&plan.name),
        intended_start: intended,
        start_delay,
        wall_start,
        duration: Duration::ZERO,
        service_time: Duration::ZERO,
        status: RunStatus::Passed,
        steps: Vec::with_capacity(journey.steps.len()),
        soft_failures: Vec::new(),
    };

    let mut step_intended = intended;
    for (index, step) in journey.steps.iter().enumerate() {
        let mut so = StepOutcome { index, ..StepOutcome::default() };
        // The step is polled first: its last poll (the response arrived) completes without touching the
        // token, whose check takes a lock; a cancellation still wakes the task and ends a stuck step.
        let end = tokio::select! {
            biased;
            end = run_step(plan, vu, &jar, index, step, step_intended, deadline, trace_id, &mut so, &mut outcome.soft_failures) => end,
            _ = cancel.cancelled() => StepEnd::Cancelled,
        };
        outcome.service_time += so.service_time;
        let step_done = Instant::now();
        outcome.duration = step_done.saturating_duration_since(intended);
        so.passed = matches!(end, StepEnd::Passed);
        outcome.steps.push(so);
        match end {
            StepEnd::Passed => {}
            StepEnd::Failed(f) => {
                outcome.status = RunStatus::Failed(f);
                return outcome;
            }
            StepEnd::Cancelled => {
                outcome.status = RunStatus::Cancelled;
                return outcome;
            }
        }
        step_intended = step_done;
        if let Some(think) = step.think {
            if index + 1 < journey.steps.len() {
                let pause = if think.max > think.min { rand::random_range(think.min..=think.max) } else { think.min };
                tokio::select! {
                    _ = cancel.cancelled() => {
                        outcome.status = RunStatus::Cancelled;
                        return outcome;
                    }
                    _ = tokio::time::sleep(pause) => {}
                }
                step_intended = Instant::now();
            }
        }
    }
    outcome
}

/// The request as sent, for redirects and evidence.
struct Exchange {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    /// Where a redirect led; `None`: the step's own URL answered (no copy of it per request).
    moved: Option<Url>,
    /// When the body was complete.
    done: Instant,
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    plan: &Plan,
    vu: &mut VirtualUser,
    jar: &OnceLock<Jar>,
    index: usize,
    step: &Step,
    step_intended: Instant,
    journey_deadline: Instant,
    trace_id: u128,
    so: &mut StepOutcome,
    soft_failures: &mut Vec<crate::outcome::Failure>,
) -> StepEnd {
    let journey = &plan.journey;
    let rows = vu.lease.row_slices();
    let scope = Scope { secrets: &journey.secrets, rows: &rows, captures: &vu.captures };

    // Build the request.
    let plan_step = &plan.steps[index];
    // Borrowed from the plan when fixed (most steps): no copy per request.
    let url = match &plan_step.url {
        Some(url) => Ok(Cow::Borrowed(url)),
        None => resolve_url(journey, &scope, &step.url.render(&scope)).map(Cow::Owned),
    };
    let mut url = match url {
        Ok(url) => url,
        Err(message) => return StepEnd::Failed(failure(&vu.redactor, index, step, Reason::Connect, message)),
    };
    if !step.query.is_empty() {
        let mut pairs = url.to_mut().query_pairs_mut();
        for (k, v) in &step.query {
            pairs.append_pair(k, &v.render(&scope));
        }
    }
    // A userinfo password (`https://user:pw@host`) is a secret whether declared or not: a server may echo it,
    // and its Basic form is on the wire. It is sent as Basic auth (below), never in the URL, so no request line
    // or redirect chain can print it.
    vu.redactor.add_url_credentials(&url);
    let userinfo_auth = credentials::userinfo_authorization(&url);
    if userinfo_auth.is_some() {
        credentials::strip_userinfo(url.to_mut());
    }
    let fail = |reason: Reason, message: String| failure(&vu.redactor, index, step, reason, message);
    let request_line = || format!("{} {}", step.method, url);
    let (body_bytes, content_type) = render_body(step.body.as_ref(), &scope);
    let step_timeout = step.timeout.or(journey.defaults.step_timeout);
    let sent = Instant::now();
    let deadline = match step_timeout {
        Some(t) => journey_deadline.min(sent + t),
        None => journey_deadline,
    };
    let mut headers = reqwest::header::HeaderMap::with_capacity(plan_step.headers.len() + 2);
    for (name, value) in &plan_step.headers {
        let v = match value {
            HeaderTemplate::Static(v) => v.clone(),
            HeaderTemplate::Dynamic(t) => match HeaderValue::from_str(&t.render(&scope)) {
                Ok(v) => v,
                Err(_) => {
                    let message = format!("header {name} renders to a value that is not a valid header");
                    return StepEnd::Failed(fail(Reason::Check, message));
                }
            },
        };
        headers.insert(name.clone(), v);
    }
    if let Some(ct) = content_type {
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, ct);
        }
    }
    if let Some(auth) = userinfo_auth {
        if !headers.contains_key(AUTHORIZATION) {
            headers.insert(AUTHORIZATION, auth);
        }
    }
    let span_id: u64 = rand::random::<u64>() | 1;
    headers.insert("traceparent", http::traceparent(trace_id, span_id));

    // Send, following redirects, reading the body, all under one deadline. The trail outlives the send, so a
    // timeout still shows where the redirects led.
    let mut trail = Vec::new();
    let outgoing = Outgoing {
        method: &plan_step.method,
        url: &url,
        headers,
        sensitive: &plan_step.sensitive,
        body: body_bytes.map(Bytes::from),
        max_redirects: step.max_redirects,
    };
    let exchange = timeout_at(
        deadline.into(),
        send_following(plan, (&mut vu.h1, &vu.recorder, &vu.redactor), jar, outgoing, &mut trail, sent, so),
    )
    .await;
    let done = match &exchange {
        Ok(Ok(ex)) => ex.done,
        _ => Instant::now(),
    };
    so.service_time = done - sent;
    so.response_time = done.saturating_duration_since(step_intended);
    let exchange = match exchange {
        Err(_) => {
            let which = if step_timeout.is_some_and(|t| deadline < journey_deadline || t == Duration::ZERO) {
                format!("step timeout {}", fmt_duration(step_timeout.unwrap_or_default()))
            } else {
                format!("journey timeout {}", fmt_duration(journey.timeout))
            };
            let mut f = fail(Reason::Timeout, format!("no complete response before the {which}"));
            f.request = Some(vu.redactor.redact_owned(request_line()));
            f.redirects = chain_evidence(&vu.redactor, &trail);
            return StepEnd::Failed(f);
        }
        Ok(Err(mut f)) => {
            f.step = index;
            f.step_name = step.name.clone();
            f.message = vu.redactor.redact_owned(f.message);
            f.request = Some(vu.redactor.redact_owned(request_line()));
            f.redirects = chain_evidence(&vu.redactor, &trail);
            return StepEnd::Failed(f);
        }
        Ok(Ok(ex)) => ex,
    };
    so.status = Some(exchange.status.as_u16());
    so.body_bytes = exchange.body.len() as u64;

    // Captures are taken first, so secret values (a session token) are known to the redactor before any
    // evidence is written; they are stored only if the whole step passes, so a failed step leaves no half state.
    let jar = jar.get().map(|j| (j, exchange.moved.as_ref().unwrap_or(&url)));
    let view = ResponseView::new(exchange.status.as_u16(), &exchange.headers, &exchange.body, so.response_time, jar);
    let captured: Vec<Result<String, checks::Missed>> =
        step.capture.iter().map(|c| checks::capture(&c.source, &view)).collect();
    for (cap, value) in step.capture.iter().zip(&captured) {
        if let (true, Ok(v)) = (cap.secret, value) {
            vu.redactor.add(v);
        }
    }
    let redactor = &vu.redactor;
    let evidence = |reason: Reason, message: String, check: Option<&str>, actual: Option<String>| {
        let mut f = failure(redactor, index, step, reason, message);
        f.check = check.map(str::to_string);
        f.actual = actual;
        f.request = Some(redactor.redact_owned(request_line()));
        f.status = Some(exchange.status.as_u16());
        f.excerpt = Some(excerpt_of(&exchange.body, EXCERPT, redactor));
        f.redirects = chain_evidence(redactor, &trail);
        f
    };

    // Checks: status first (reason `status`), then the rest (reason `check`), then the captures' verdict.
    let is_status = |c: &&crate::model::Check| {
        matches!(c.subject, Subject::Status)
            || matches!(c.predicate, Predicate::StatusIn(_) | Predicate::StatusNotIn(_))
    };
    let ordered = step.expect.iter().filter(is_status).chain(step.expect.iter().filter(|c| !is_status(c)));
    for check in ordered {
        if let Err(m) = checks::evaluate(check, &view, &scope, redactor) {
            let reason = if is_status(&check) { Reason::Status } else { Reason::Check };
            let f = evidence(reason, format!("expected {}", check.text), Some(&check.text), Some(m.actual));
            if check.soft {
                soft_failures.push(*f);
                continue;
            }
            return StepEnd::Failed(f);
        }
    }
    for (cap, value) in step.capture.iter().zip(&captured) {
        if let Err(why) = value {
            let message = format!("capture {}: {}", cap.name, why.describe(&exchange.body, redactor));
            return StepEnd::Failed(evidence(Reason::Capture, message, None, None));
        }
    }
    drop(view);
    for (cap, value) in step.capture.iter().zip(captured) {
        if let Ok(v) = value {
            vu.captures[cap.slot] = Some(v);
        }
    }
    StepEnd::Passed
}

fn failure(redactor: &Redactor, index: usize, step: &Step, reason: Reason, message: String) -> Box<Failure> {
    Box::new(Failure::new(index, &step.name, reason, redactor.redact_owned(message)))
}

/// Each request of a redirect chain, in order, with the status it got (`None`: none yet, or none came).
/// Empty, and never allocated, when the step's URL answered without a redirect.
type Trail = Vec<(Option<u16>, Url)>;

/// The redirect chain as evidence: each URL redacted, then clipped (so a clip cannot cut a secret in two and
/// leave half unmasked); a chain longer than `RedirectHop::MAX` keeps its first and last hops.
fn chain_evidence(redactor: &Redactor, trail: &Trail) -> Vec<RedirectHop> {
    let hop = |(status, url): &(Option<u16>, Url)| RedirectHop {
        url: redactor.redact_truncate(url.as_str(), RedirectHop::MAX_URL),
        status: *status,
    };
    if trail.len() <= RedirectHop::MAX {
        return trail.iter().map(hop).collect();
    }
    let half = RedirectHop::MAX / 2;
    trail[..half].iter().chain(&trail[trail.len() - half..]).map(hop).collect()
}

fn render_body(body: Option<&Body>, scope: &Scope<'_>) -> (Option<Vec<u8>>, Option<HeaderValue>) {
    match body {
        None => (None, None),
        Some(Body::Json(t)) => (Some(t.render(scope)), Some(HeaderValue::from_static("application/json"))),
        Some(Body::Form(fields)) => {
            let mut out = String::new();
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push('&');
                }
                crate::template::url_encode_into(k, &mut out);
                out.push('=');
                crate::template::url_encode_into(&v.render(scope), &mut out);
            }
            (Some(out.into_bytes()), Some(HeaderValue::from_static("application/x-www-form-urlencoded")))
        }
        Some(Body::Raw { text, content_type }) => {
            let ct = content_type
                .as_deref()
                .and_then(|c| HeaderValue::from_str(c).ok())
                .unwrap_or_else(|| HeaderValue::from_static("text/plain; charset=utf-8"));
            (Some(text.render(scope).into_owned().into_bytes()), Some(ct))
        }
    }
}

/// One hop's response: the head, and the body read (h1) or still to read (reqwest).
struct Hop {
    status: StatusCode,
    headers: HeaderMap,
    body: HopBody,
    started: Instant,
    head_at: Instant,
    phases: Phases,
}

enum HopBody {
    Read(Vec<u8>),
    Pending(reqwest::Response),
}

/// What a step sends. A redirect may change the method and drop the body; a hop to another origin goes
/// without the credentials (`http::credentials`).
struct Outgoing<'a> {
    method: &'a Method,
    /// The step's URL, without userinfo: its origin is the one the credentials are for.
    url: &'a Url,
    headers: HeaderMap,
    /// Headers rendered from secrets: like `Authorization`, not sent to another origin.
    sensitive: &'a [HeaderName],
    // `Bytes`: each hop's request shares the rendered body instead of copying it.
    body: Option<Bytes>,
    max_redirects: u32,
}

/// Sends the request and follows redirects up to `max_redirects`, applying the jar on every hop, keeping
/// credentials with their origin and refusing https → http unless the journey allows it. Each request after
/// the first redirect is written to `trail`.
async fn send_following(
    plan: &Plan,
    // The user's connection, phase recorder and redactor (the rest of the user is borrowed by the step's scope).
    (h1_client, recorder, redactor): (&mut h1::Client, &Arc<PhaseRecorder>, &Redactor),
    jar: &OnceLock<Jar>,
    out: Outgoing<'_>,
    trail: &mut Trail,
    // When the first hop starts (the step's send time); later hops take their own.
    mut hop_started: Instant,
    so: &mut StepOutcome,
) -> Result<Exchange, Box<Failure>> {
    let first = out.url;
    let mut method = out.method.clone();
    let mut body = out.body;
    // Owned only once a redirect moves away from the step's URL.
    let mut moved: Option<Url> = None;
    // The step's headers without its credentials, made on the first hop to another origin.
    let mut foreign: Option<HeaderMap> = None;
    let cap = plan.journey.defaults.max_body_bytes;
    // A hop that failed: its status (if a response came) goes on the trail.
    let failed = |trail: &mut Trail, f: Box<Failure>| {
        if let Some(last) = trail.last_mut() {
            last.0 = f.status;
        }
        f
    };
    loop {
        let url = moved.as_ref().unwrap_or(first);
        let headers = match &moved {
            Some(u) if !same_origin(u, first) => {
                foreign.get_or_insert_with(|| for_other_origin(&out.headers, out.sensitive))
            }
            _ => &out.headers,
        };
        let cookie = jar.get().and_then(|j| j.cookies(url));
        let target = if plan.plain_h1 { h1::Target::of(url) } else { None };
        let hop = match target {
            Some(target) => {
                let request = h1::Request {
                    method: &method,
                    target,
                    headers,
                    cookie: cookie.as_ref(),
                    body: body.as_deref(),
                    max_body: cap,
                };
                send_h1(h1_client, &request, hop_started, redactor).await
            }
            None => send_reqwest(plan, recorder, &method, url, headers, cookie, body.clone(), hop_started).await,
        };
        let hop = hop.map_err(|f| failed(trail, f))?;
        let mut set_cookies = hop.headers.get_all(SET_COOKIE).iter().peekable();
        if set_cookies.peek().is_some() {
            jar.get_or_init(Jar::default).set_cookies(&mut set_cookies, url);
        }
        let status = hop.status;
        if status.is_redirection() && out.max_redirects > 0 {
            if let Some(location) = hop.headers.get(LOCATION).and_then(|l| l.to_str().ok()) {
                if trail.is_empty() {
                    trail.push((None, first.clone()));
                }
                if let Some(last) = trail.last_mut() {
                    last.0 = Some(status.as_u16());
                }
                let redirect = |message: String| {
                    let mut f = Failure::new(0, "", Reason::Redirect, message);
                    f.status = Some(status.as_u16());
                    Box::new(f)
                };
                let mut next =
                    url.join(location).map_err(|e| redirect(format!("invalid Location {location:?}: {e}")))?;
                // Credentials come from the step only: userinfo in a Location is never followed with.
                if credentials::has_userinfo(&next) {
                    credentials::strip_userinfo(&mut next);
                }
                if so.redirects >= out.max_redirects {
                    let looped = trail.iter().any(|(_, u)| *u == next);
                    let max_redirects = out.max_redirects;
                    return Err(redirect(if looped {
                        format!("redirect loop: {} redirects, back to {}", so.redirects + 1, next.path())
                    } else {
                        format!("more than {max_redirects} redirects (last to {})", next.path())
                    }));
                }
                if is_downgrade(url, &next) && !plan.journey.defaults.redirects_to_http {
                    return Err(redirect(format!(
                        "refused a redirect from {} to {}: it would send the request, and anything it carries, \
                         unencrypted (allow it with `defaults: {{ redirects_to_http: true }}`)",
                        origin_text(url),
                        origin_text(&next)
                    )));
                }
                so.redirects += 1;
                if matches!(status, StatusCode::SEE_OTHER)
                    || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND) && method == Method::POST)
                {
                    method = Method::GET;
                    body = None;
                }
                trail.push((None, next.clone()));
                moved = Some(next);
                hop_started = Instant::now();
                continue;
            }
        }
        let body_failure = |reason: Reason, message: String, partial: &[u8]| {
            let mut f = Failure::new(0, "", reason, message);
            f.status = Some(status.as_u16());
            f.excerpt = Some(excerpt_of(partial, EXCERPT, redactor));
            Box::new(f)
        };
        let mut headers = hop.headers;
        let mut body = match hop.body {
            HopBody::Read(body) => body,
            HopBody::Pending(response) => read_capped(response, cap)
                .await
                .map_err(|(reason, message, partial)| failed(trail, body_failure(reason, message, &partial)))?,
        };
        // Both clients decode gzip; h1 deflate too. What is left is deflate on the reqwest path (decoded here,
        // raw or zlib, which reqwest's decoder is not), or a coding neither can decode: checks must never run
        // against compressed bytes.
        if let Some(coding) = headers.get(CONTENT_ENCODING).filter(|_| !body.is_empty()) {
            let decoded = match decode::coding_of(coding.as_bytes()) {
                Ok(Coding::Identity) => Ok(body),
                Ok(coding) => decode::decode(coding, &body, cap)
                    .map_err(|(message, partial)| body_failure(Reason::Body, message, &partial)),
                Err(unsupported) => {
                    let mut f = body_failure(Reason::Body, unsupported.to_string(), &[]);
                    f.excerpt = None;
                    Err(f)
                }
            };
            body = decoded.map_err(|f| failed(trail, f))?;
            headers.remove(CONTENT_ENCODING);
            headers.remove(CONTENT_LENGTH);
        }
        if let Some(last) = trail.last_mut() {
            last.0 = Some(status.as_u16());
        }
        let done = Instant::now();
        let setup = hop.phases.dns + hop.phases.connect + hop.phases.tls;
        so.phases = Phases {
            waiting: (hop.head_at - hop.started).saturating_sub(setup),
            transfer: done - hop.head_at,
            ..hop.phases
        };
        return Ok(Exchange { status, headers, body, moved, done });
    }
}

/// One hop on the user's own HTTP/1.1 connection; the body is read too (the connection is reused after it).
async fn send_h1(
    client: &mut h1::Client,
    request: &h1::Request<'_>,
    started: Instant,
    redactor: &Redactor,
) -> Result<Hop, Box<Failure>> {
    match client.send(request).await {
        Ok(r) => Ok(Hop {
            status: r.status,
            headers: r.headers,
            body: HopBody::Read(r.body),
            started,
            head_at: r.head_at,
            phases: Phases { dns: r.dns, connect: r.connect, reused: r.reused, ..Phases::default() },
        }),
        Err(h1::Error::Body { status, message, partial }) => {
            let mut f = Failure::new(0, "", Reason::Body, message);
            f.status = Some(status.as_u16());
            f.excerpt = Some(excerpt_of(&partial, EXCERPT, redactor));
            Err(Box::new(f))
        }
        Err(e) => Err(Box::new(Failure::new(0, "", e.reason(), e.to_string()))),
    }
}

/// One hop on the shared reqwest client (https, or everything with `JOURNEYD_PLAIN_HTTP=reqwest`); the body
/// is left to read once the runner knows it is not a redirect.
#[allow(clippy::too_many_arguments)]
async fn send_reqwest(
    plan: &Plan,
    recorder: &Arc<PhaseRecorder>,
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    cookie: Option<HeaderValue>,
    body: Option<Bytes>,
    started: Instant,
) -> Result<Hop, Box<Failure>> {
    let mut req = plan.client.request(method.clone(), url.clone()).headers(headers.clone());
    // What both clients decode (reqwest alone would ask for gzip only); the runner decodes deflate.
    if !headers.contains_key(ACCEPT_ENCODING) {
        req = req.header(ACCEPT_ENCODING, HeaderValue::from_static(decode::ACCEPT_ENCODING));
    }
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    recorder.reset();
    let response = http::with_recorder(Arc::clone(recorder), req.send()).await;
    let head_at = Instant::now();
    let mut response = response.map_err(|e| {
        let (reason, message) = http::classify(&e);
        Box::new(Failure::new(0, "", reason, message))
    })?;
    let rec = recorder;
    let phases = Phases {
        dns: rec.dns(),
        connect: rec.connect(),
        tls: rec.tls(),
        reused: !rec.new_connection() && rec.dns().is_zero(),
        ..Phases::default()
    };
    // Taken, not cloned: the body decoder was chosen when the response arrived.
    let headers = std::mem::take(response.headers_mut());
    Ok(Hop { status: response.status(), headers, body: HopBody::Pending(response), started, head_at, phases })
}

/// Reads the body chunk by chunk (after decompression), failing once it exceeds `cap`: a 100 MB page or a
/// gzip bomb costs at most `cap` bytes of memory per user.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, (Reason, String, Vec<u8>)> {
    let hint = response.content_length().unwrap_or(0).min(cap as u64) as usize;
    let mut body = Vec::with_capacity(hint.min(64 * 1024));
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    let message = http::body_cap_message(cap);
                    body.extend_from_slice(&chunk[..cap.saturating_sub(body.len()).min(chunk.len())]);
                    return Err((Reason::Body, message, body));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                // A reset or truncated body after the headers arrived: the body is what broke.
                let (_, message) = http::classify(&e);
                return Err((Reason::Body, format!("reading the body: {message}"), body));
            }
        }
    }
}

pub use crate::units::format_duration as fmt_duration;
