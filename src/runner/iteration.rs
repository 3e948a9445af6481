//! One iteration: one virtual user walks the journey once.
//!
//! The step pipeline is fixed — build the request, send it (following redirects with the user's cookies),
//! read the body under a cap, check the status, run the other checks, take the captures, think — and the
//! result is a `RunOutcome`, never an `Err`: a broken site is data.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::http::cookies::CookieJar;
use reqwest::Url;
use tokio::time::timeout_at;
use tokio_util::sync::CancellationToken;

use crate::http::exchange::{redirects_followed, send_following, Agent, Exchange, Outgoing, Trail, TransportError};
use crate::http::{PhaseRecorder, TraceContext, UserConnections};
use crate::model::{Predicate, Step, Subject};
use crate::outcome::{Failure, Reason, RedirectHop, RunOutcome, RunStatus, StepOutcome, TokenFetch};
use crate::redact::Redactor;
use crate::runner::checks::{self, excerpt_of, ResponseView};
use crate::runner::leases::{Lease, NoFreeRow};
use crate::runner::plan::Plan;
use crate::template::Scope;

// WebSocket steps: a child module, so it shares this pipeline's private parts (request, failure, deadline).
#[path = "ws_step.rs"]
mod ws_step;

// Browser steps: a child module too, for the user's captures, lease and redactor.
#[path = "page/run.rs"]
mod page_run;

// The first stage, building the request: a child module for the pipeline's `StepCall` and `failure`.
#[path = "request.rs"]
mod request;
use request::{build_request, Request};

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
    /// This user's connections (one kept alive between requests, like a browser tab's): whether they
    /// outlive an iteration is the caller's policy ([`VirtualUser::close_connections`]).
    pub connections: UserConnections,
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
            connections: UserConnections::default(),
            redactor: plan.redactor.clone(),
        })
    }

    /// Closes the user's kept connections: its next iteration starts cold (`connections: fresh`).
    pub fn close_connections(&mut self) {
        self.connections.close();
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
    let jar: OnceLock<CookieJar> = OnceLock::new();
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
        trace_id,
        user: vu.id,
        target: plan.target.clone(),
    };

    // A browser journey's page: opened by its first step, closed when the iteration ends, however it ends.
    let mut page: Option<crate::browser::Page> = None;
    let ctx = Walk { plan, intended, deadline, trace_id, jar: &jar };
    walk(&ctx, vu, cancel, &mut outcome, &mut page).await;
    if let Some(p) = page {
        p.close().await;
    }
    outcome.stamp_trace();
    outcome
}

/// What the steps of one iteration share.
struct Walk<'a> {
    plan: &'a Plan,
    intended: Instant,
    deadline: Instant,
    trace_id: u128,
    jar: &'a OnceLock<CookieJar>,
}

/// The steps in order, with think time between them, into `outcome`; stops at the first failure.
async fn walk(
    ctx: &Walk<'_>,
    vu: &mut VirtualUser,
    cancel: &CancellationToken,
    outcome: &mut RunOutcome,
    page: &mut Option<crate::browser::Page>,
) {
    let (plan, intended, deadline, trace_id, jar) = (ctx.plan, ctx.intended, ctx.deadline, ctx.trace_id, ctx.jar);
    let journey = &plan.journey;
    let mut step_intended = intended;
    for (index, step) in journey.steps.iter().enumerate() {
        // Never 0 (an invalid W3C span id): the step's span, parent of whatever the site records.
        let span_id: u64 = rand::random::<u64>() | 1;
        let offset = step_intended.saturating_duration_since(intended);
        let mut so = StepOutcome { index, span_id, offset, ..StepOutcome::default() };
        let call =
            StepCall { plan, index, step, jar, trace_id, span_id, intended: step_intended, journey_deadline: deadline };
        // The step is polled first: its last poll (the response arrived) completes without touching the
        // token, whose check takes a lock; a cancellation still wakes the task and ends a stuck step.
        let end = tokio::select! {
            biased;
            end = run_step(&call, vu, &mut so, &mut outcome.soft_failures, page) => end,
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
                return;
            }
            StepEnd::Cancelled => {
                outcome.status = RunStatus::Cancelled;
                return;
            }
        }
        step_intended = step_done;
        if let Some(think) = step.think {
            if index + 1 < journey.steps.len() {
                let pause = if think.max > think.min { rand::random_range(think.min..=think.max) } else { think.min };
                tokio::select! {
                    _ = cancel.cancelled() => {
                        outcome.status = RunStatus::Cancelled;
                        return;
                    }
                    _ = tokio::time::sleep(pause) => {}
                }
                step_intended = Instant::now();
            }
        }
    }
}

/// What one step needs from its iteration, travelling together through the stages.
struct StepCall<'a> {
    plan: &'a Plan,
    index: usize,
    step: &'a Step,
    /// The iteration's cookies: created on the first Set-Cookie.
    jar: &'a OnceLock<CookieJar>,
    /// The iteration's trace: every step's request is a span of it.
    trace_id: u128,
    /// The step's span: the parent id in `traceparent` of each of its requests (redirects and a 401 retry
    /// included), so the site's spans hang under the step.
    span_id: u64,
    /// When the step should have started: its response time counts from here.
    intended: Instant,
    journey_deadline: Instant,
}

impl StepCall<'_> {
    /// The trace context of the step's requests.
    fn trace(&self) -> TraceContext {
        TraceContext { trace_id: self.trace_id, span_id: self.span_id }
    }

    /// When a step whose request goes out at `sent` must be complete: its own timeout (or the journey's
    /// default step timeout) from `sent`, capped by the journey's deadline. One rule for HTTP and ws steps
    /// and the token fetch before them.
    fn deadline(&self, sent: Instant) -> Instant {
        match self.step_timeout() {
            Some(t) => self.journey_deadline.min(sent + t),
            None => self.journey_deadline,
        }
    }

    fn step_timeout(&self) -> Option<Duration> {
        self.step.timeout.or(self.plan.journey.defaults.step_timeout)
    }

    /// Which limit `deadline` was, for the evidence of a step that ran out of time (formatted only then).
    fn limit_text(&self, deadline: Instant) -> String {
        let format = crate::units::format_duration;
        match self.step_timeout() {
            Some(t) if deadline < self.journey_deadline || t == Duration::ZERO => format!("step timeout {}", format(t)),
            _ => format!("journey timeout {}", format(self.plan.journey.timeout)),
        }
    }
}

/// Why the step's exchange produced no response to check.
enum SendError {
    /// The step's or the journey's deadline passed: which one.
    Deadline(String),
    Transport(TransportError),
}

/// One step: build the request, send it, check the response, take the captures.
async fn run_step(
    call: &StepCall<'_>,
    vu: &mut VirtualUser,
    so: &mut StepOutcome,
    soft_failures: &mut Vec<Failure>,
    page: &mut Option<crate::browser::Page>,
) -> StepEnd {
    if call.plan.journey.browser.is_some() {
        return Box::pin(page_run::run_step(call, vu, so, soft_failures, page)).await;
    }
    if let Some(ws) = &call.step.ws {
        // Boxed, like the token fetch below: HTTP steps' futures stay small (they are moved with every step).
        return Box::pin(ws_step::run(call, vu, so, soft_failures, ws)).await;
    }
    let rows = vu.lease.row_slices();
    // Most steps use no token: no fetch, and no allocation for one.
    let mut tokens = if call.plan.steps[call.index].oauth.is_empty() {
        Vec::new()
    } else {
        match Box::pin(step_tokens(call, &mut vu.redactor, so)).await {
            Ok(tokens) => tokens,
            Err(f) => return StepEnd::Failed(f),
        }
    };
    // A 401 to a step that sent an `oauth` token: the token is forgotten, fetched again and the step sent
    // once more (`runner::oauth`); a second 401 is the step's answer.
    let mut refreshed = false;
    let (request, trail, exchange) = loop {
        let scope = Scope { secrets: &call.plan.journey.secrets, rows: &rows, captures: &vu.captures, tokens: &tokens };
        let mut request = match build_request(call, &scope, &mut vu.redactor) {
            Ok(request) => request,
            Err(f) => return StepEnd::Failed(f),
        };
        // The trail outlives the send, so a timeout still shows where the redirects led.
        let mut trail = Trail::new();
        let agent = Agent {
            connections: &mut vu.connections,
            client: &call.plan.client,
            recorder: &vu.recorder,
            jar: call.jar,
        };
        let exchange = match send(call, agent, &mut request, &mut trail, so).await {
            Ok(exchange) => exchange,
            Err(e) => return StepEnd::Failed(send_failure(call, &vu.redactor, &request, &trail, e)),
        };
        if exchange.status == reqwest::StatusCode::UNAUTHORIZED && !refreshed && !tokens.is_empty() {
            refreshed = true;
            for (cache, token) in call.plan.oauth.iter().zip(&tokens) {
                if let Some(token) = token {
                    cache.invalidate(token).await;
                }
            }
            tokens = match Box::pin(step_tokens(call, &mut vu.redactor, so)).await {
                Ok(tokens) => tokens,
                Err(f) => return StepEnd::Failed(f),
            };
            continue;
        }
        break (request, trail, exchange);
    };
    let scope = Scope { secrets: &call.plan.journey.secrets, rows: &rows, captures: &vu.captures, tokens: &tokens };
    so.status = Some(exchange.status.as_u16());
    so.body_bytes = exchange.body.len() as u64;

    // Captures are taken first, so secret values (a session token) are known to the redactor before any
    // evidence is written; they are stored only if the whole step passes, so a failed step leaves no half state.
    let jar = call.jar.get().map(|j| (j, exchange.moved.as_ref().unwrap_or(&request.url)));
    let view = ResponseView::new(exchange.status.as_u16(), &exchange.headers, &exchange.body, so.response_time, jar)
        .with_paths(&call.plan.steps[call.index].json_paths);
    let captured: Vec<Result<String, checks::Missed>> =
        call.step.capture.iter().map(|c| checks::capture(&c.source, &view)).collect();
    for (cap, value) in call.step.capture.iter().zip(&captured) {
        if let (true, Ok(v)) = (cap.secret, value) {
            vu.redactor.add(v);
        }
    }
    let answer = Answer { call, redactor: &vu.redactor, request: &request, exchange: &exchange, trail: &trail };
    if let Err(mut f) = answer.check(&view, &scope, &captured, soft_failures) {
        if refreshed {
            f.message.push_str(" (after a 401 the oauth token was fetched again and the step sent once more)");
        }
        return StepEnd::Failed(f);
    }
    drop(view);
    for (cap, value) in call.step.capture.iter().zip(captured) {
        if let Ok(v) = value {
            vu.captures[cap.slot] = Some(v);
        }
    }
    StepEnd::Passed
}

/// The tokens of the `oauth` sources the step uses, by source index (empty when it uses none), each
/// registered with the user's redactor before anything is rendered with it. Fetched (when not cached)
/// before the step's deadline; a token endpoint that fails fails the step with reason `auth`.
async fn step_tokens(
    call: &StepCall<'_>,
    redactor: &mut Redactor,
    so: &mut StepOutcome,
) -> Result<Vec<Option<Arc<str>>>, Box<Failure>> {
    let used = &call.plan.steps[call.index].oauth;
    if used.is_empty() {
        return Ok(Vec::new());
    }
    let deadline = call.deadline(Instant::now());
    let mut tokens = vec![None; call.plan.oauth.len()];
    for &i in used {
        let got = call.plan.oauth[i].token(&call.plan.journey, deadline, Instant::now).await;
        let requested = match &got {
            Ok((_, fetched)) => *fetched,
            Err(e) => e.requested,
        };
        if requested {
            so.token_fetches.push(TokenFetch { source: i, ok: got.is_ok() });
        }
        match got {
            Ok((token, _)) => {
                redactor.add(&token);
                tokens[i] = Some(token);
            }
            Err(e) => {
                let mut f = failure(redactor, call, Reason::Auth, e.message);
                f.request = e.request.map(|line| redactor.redact_owned(line));
                f.status = e.status;
                f.excerpt = e.body.map(|b| excerpt_of(&b, EXCERPT, redactor));
                return Err(f);
            }
        }
    }
    Ok(tokens)
}

/// Sends the request, following redirects and reading the body, all under one deadline; records the step's
/// timing and redirects on `so`, whatever the result.
async fn send(
    call: &StepCall<'_>,
    agent: Agent<'_>,
    request: &mut Request<'_>,
    trail: &mut Trail,
    so: &mut StepOutcome,
) -> Result<Exchange, SendError> {
    let (journey, step) = (&call.plan.journey, call.step);
    let plan_step = &call.plan.steps[call.index];
    let deadline = call.deadline(request.sent);
    let outgoing = Outgoing {
        method: &plan_step.method,
        url: &request.url,
        // Taken, not cloned (an empty list does not allocate): the request is kept for its URL.
        headers: std::mem::take(&mut request.headers),
        trace: call.trace(),
        sensitive: &plan_step.sensitive,
        body: request.body.as_deref(),
        max_redirects: step.max_redirects,
        max_body: journey.defaults.max_body_bytes,
        redirects_to_http: journey.defaults.redirects_to_http,
    };
    let exchange = timeout_at(deadline.into(), send_following(agent, outgoing, trail, request.sent)).await;
    let done = match &exchange {
        Ok(Ok(ex)) => ex.done,
        _ => Instant::now(),
    };
    so.service_time = done - request.sent;
    so.response_time = done.saturating_duration_since(call.intended);
    so.redirects = redirects_followed(trail);
    match exchange {
        Ok(Ok(mut ex)) => {
            so.phases = ex.phases;
            so.tls = ex.cert.take();
            Ok(ex)
        }
        Ok(Err(e)) => Err(SendError::Transport(e)),
        Err(_) => Err(SendError::Deadline(call.limit_text(deadline))),
    }
}

/// The failure of a step whose exchange broke: the one place a transport error becomes redacted evidence.
fn send_failure(
    call: &StepCall<'_>,
    redactor: &Redactor,
    request: &Request<'_>,
    trail: &Trail,
    e: SendError,
) -> Box<Failure> {
    let mut f = match e {
        SendError::Deadline(which) => {
            failure(redactor, call, Reason::Timeout, format!("no complete response before the {which}"))
        }
        SendError::Transport(e) => {
            let mut f = failure(redactor, call, e.reason, e.message);
            f.status = e.status;
            f.excerpt = e.partial.map(|partial| excerpt_of(&partial, EXCERPT, redactor));
            f
        }
    };
    f.request = Some(redactor.redact_owned(request.line(call.step)));
    f.redirects = chain_evidence(redactor, trail);
    f
}

/// A response to check, with what its evidence is made of.
struct Answer<'a> {
    call: &'a StepCall<'a>,
    redactor: &'a Redactor,
    request: &'a Request<'a>,
    exchange: &'a Exchange,
    trail: &'a Trail,
}

impl Answer<'_> {
    /// Checks: status first (reason `status`), then the rest (reason `check`), then the captures' verdict.
    /// Failed soft checks go to `soft_failures`; the first hard failure is returned.
    fn check(
        &self,
        view: &ResponseView<'_>,
        scope: &Scope<'_>,
        captured: &[Result<String, checks::Missed>],
        soft_failures: &mut Vec<Failure>,
    ) -> Result<(), Box<Failure>> {
        let step = self.call.step;
        let is_status = |c: &&crate::model::Check| {
            matches!(c.subject, Subject::Status)
                || matches!(c.predicate, Predicate::StatusIn(_) | Predicate::StatusNotIn(_))
        };
        let ordered = step.expect.iter().filter(is_status).chain(step.expect.iter().filter(|c| !is_status(c)));
        for check in ordered {
            if let Err(m) = checks::evaluate(check, view, scope, self.redactor) {
                let reason = if is_status(&check) { Reason::Status } else { Reason::Check };
                let f = self.failure(reason, format!("expected {}", check.text), Some(&check.text), Some(m.actual));
                if check.soft {
                    soft_failures.push(*f);
                    continue;
                }
                return Err(f);
            }
        }
        for (cap, value) in step.capture.iter().zip(captured) {
            if let Err(why) = value {
                let message = format!("capture {}: {}", cap.name, why.describe(&self.exchange.body, self.redactor));
                return Err(self.failure(Reason::Capture, message, None, None));
            }
        }
        Ok(())
    }

    /// A failure with the response as evidence.
    fn failure(&self, reason: Reason, message: String, check: Option<&str>, actual: Option<String>) -> Box<Failure> {
        let redactor = self.redactor;
        let mut f = failure(redactor, self.call, reason, message);
        f.check = check.map(str::to_string);
        f.actual = actual;
        f.request = Some(redactor.redact_owned(self.request.line(self.call.step)));
        f.status = Some(self.exchange.status.as_u16());
        f.excerpt = Some(excerpt_of(&self.exchange.body, EXCERPT, redactor));
        f.redirects = chain_evidence(redactor, self.trail);
        f
    }
}

/// A failure of the step, its message redacted.
fn failure(redactor: &Redactor, call: &StepCall<'_>, reason: Reason, message: String) -> Box<Failure> {
    Box::new(Failure::new(call.index, &call.step.name, reason, redactor.redact_owned(message)))
}

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
