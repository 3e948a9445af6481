//! One run as OTLP spans: a root span for the run, a child per step (its id is the one the step's requests
//! sent in `traceparent`, so the site's own spans hang under it), and a child per timed phase of the step's
//! last request. Built from the outcome after the run, never while it runs: the runner only picks the ids.
//!
//! Times come from the outcome: the run starts at its intended start (truthful latency), a step at its own
//! intended start (`StepOutcome::offset`) and ends `response_time` later; the phases of the step's last
//! request are laid end to end, ending when the step did (dns → connect → tls → waiting → transfer).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span, Status};

use crate::model::{Journey, Step};
use crate::outcome::{trace_id_hex, Failure, RunOutcome, RunStatus, StepOutcome};
use crate::redact::Redactor;

/// What a journey's spans need beyond the outcome, worked out once per suite: the redactor of its secrets
/// and each step's `server.address`.
#[derive(Debug)]
pub struct JourneySpans {
    redactor: Redactor,
    /// Per step: host and port when the URL (or the journey's target) is fixed text; `None` when a template
    /// makes it (the rendered URL is never exported).
    servers: Vec<Option<(String, u16)>>,
}

impl JourneySpans {
    pub fn new(journey: &Journey) -> JourneySpans {
        let mut redactor = Redactor::new(journey.secrets.iter().map(|s| s.value.as_str()));
        let fixed = |text: &str| (!text.contains("{{")).then(|| reqwest::Url::parse(text).ok()).flatten();
        let target = journey.target.as_ref().and_then(|t| fixed(&t.source));
        let servers = journey
            .steps
            .iter()
            .map(|s| {
                let url = fixed(&s.url.source).or_else(|| target.clone())?;
                redactor.add_url_credentials(&url);
                Some((url.host_str()?.to_string(), url.port_or_known_default()?))
            })
            .collect();
        if let Some(t) = &target {
            redactor.add_url_credentials(t);
        }
        JourneySpans { redactor, servers }
    }
}

/// Whether a run is exported: every failed or degraded run, and passing runs whose trace id falls under
/// the share, by the OpenTelemetry ratio rule (the id's low 56 bits against share × 2^56), so the choice
/// is the same wherever the id is read.
#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    /// Passing runs with a low 56 bits below this are kept; `u64::MAX`: all of them.
    threshold: u64,
}

const RATIO_BITS: u32 = 56;

impl Sampler {
    pub fn new(share: f64) -> Sampler {
        let threshold = if share >= 1.0 { u64::MAX } else { (share.max(0.0) * (1u64 << RATIO_BITS) as f64) as u64 };
        Sampler { threshold }
    }

    pub fn keeps(&self, o: &RunOutcome) -> bool {
        match o.status {
            RunStatus::Cancelled => false,
            RunStatus::Failed(_) => true,
            RunStatus::Passed if !o.soft_failures.is_empty() => true,
            RunStatus::Passed => {
                self.threshold == u64::MAX || ((o.trace_id as u64) & ((1 << RATIO_BITS) - 1)) < self.threshold
            }
        }
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

pub(crate) fn text(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }) }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }) }
}

/// Whether a run passed but took longer than one of its journey's latency budgets: degraded for the alert
/// engine (JourneyDegraded links its trace) as a failed soft check is, so it is exported like one.
pub fn over_budget(journey: &Journey, o: &RunOutcome) -> bool {
    o.passed()
        && journey.alerts.latency.iter().any(|rule| {
            let step = rule.step.as_deref().and_then(|s| journey.step_index(s));
            o.latency_sample(step).is_some_and(|d| d > rule.budget)
        })
}

/// `passed`, `failed` or `degraded` (passed, with soft checks failing or over a latency budget): the
/// `journey.outcome` attribute.
fn outcome_word(journey: &Journey, o: &RunOutcome) -> &'static str {
    match (&o.status, o.soft_failures.is_empty()) {
        (RunStatus::Failed(_), _) => "failed",
        (_, false) => "degraded",
        _ if over_budget(journey, o) => "degraded",
        _ => "passed",
    }
}

/// The spans of one run: the root, then each step followed by its phases.
pub fn run_spans(journey: &Journey, info: &JourneySpans, o: &RunOutcome) -> Vec<Span> {
    let trace_id = o.trace_id.to_be_bytes().to_vec();
    let root_id: u64 = rand::random::<u64>() | 1;
    let start = o.wall_start;
    let mut root = Span {
        trace_id: trace_id.clone(),
        span_id: root_id.to_be_bytes().to_vec(),
        trace_state: crate::http::TRACESTATE.into(),
        name: journey.name.clone(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: unix_nanos(start),
        end_time_unix_nano: unix_nanos(start + o.duration),
        attributes: vec![
            text("journey.name", journey.name.as_str()),
            text("journey.run_id", trace_id_hex(o.trace_id)),
            int("journey.user", o.user as i64),
            text("journey.outcome", outcome_word(journey, o)),
            int("journey.start_delay_ms", o.start_delay.as_millis() as i64),
        ],
        ..Span::default()
    };
    if let Some(f) = o.failure() {
        root.attributes.push(text("journey.reason", f.reason.as_str()));
        root.attributes.push(text("journey.step", f.step_name.as_str()));
        root.status = Some(error_status(f));
    }
    let mut spans = Vec::with_capacity(1 + o.steps.len() * 4);
    spans.push(root);
    for so in &o.steps {
        let Some(step) = journey.steps.get(so.index) else { continue };
        let step_start = start + so.offset;
        let step_end = step_start + so.response_time;
        let mut span = step_span(step, info, so, o, (&trace_id, root_id));
        span.start_time_unix_nano = unix_nanos(step_start);
        span.end_time_unix_nano = unix_nanos(step_end);
        spans.push(span);
        phase_spans(&trace_id, so, step_end, &mut spans);
    }
    spans
}

fn error_status(f: &Failure) -> Status {
    Status { code: StatusCode::Error as i32, message: f.to_string() }
}

/// A step's span: CLIENT, with the HTTP semantic conventions (never the rendered URL: `url.template` is
/// the URL as written, whose secrets are references) and journeyd's own attributes.
fn step_span(step: &Step, info: &JourneySpans, so: &StepOutcome, o: &RunOutcome, parent: (&[u8], u64)) -> Span {
    let redactor = &info.redactor;
    let mut attributes = vec![
        text("journey.name", o.journey.as_ref()),
        text("journey.step", step.name.as_str()),
        int("journey.step_index", so.index as i64),
        text("http.request.method", step.method.as_str()),
        text("url.template", redactor.redact(&step.url.source)),
    ];
    if let Some((host, port)) = info.servers.get(so.index).and_then(Option::as_ref) {
        attributes.push(text("server.address", host.as_str()));
        attributes.push(int("server.port", i64::from(*port)));
    }
    if let Some(status) = so.status {
        attributes.push(int("http.response.status_code", i64::from(status)));
    }
    if so.redirects > 0 {
        attributes.push(int("journey.redirects", i64::from(so.redirects)));
    }
    attributes.push(int("http.response.body.size", so.body_bytes as i64));
    attributes.push(text("journey.connection", if so.phases.reused { "reused" } else { "new" }));
    let mut status = None;
    if let Some(f) = o.failure().filter(|f| f.step == so.index && !so.passed) {
        attributes.push(text("error.type", f.reason.as_str()));
        attributes.push(text("journey.reason", f.reason.as_str()));
        attributes.push(text("journey.failure", f.message.as_str()));
        if let Some(check) = &f.check {
            attributes.push(text("journey.check", redactor.redact(check)));
        }
        if let Some(actual) = &f.actual {
            attributes.push(text("journey.actual", actual.as_str()));
        }
        status = Some(error_status(f));
    }
    let events = o
        .soft_failures
        .iter()
        .filter(|f| f.step == so.index)
        .map(|f| Event {
            time_unix_nano: unix_nanos(o.wall_start + so.offset + so.response_time),
            name: "soft check failed".into(),
            attributes: vec![
                text("journey.check", redactor.redact(f.check.as_deref().unwrap_or(""))),
                text("journey.failure", f.message.as_str()),
            ],
            dropped_attributes_count: 0,
        })
        .collect();
    Span {
        trace_id: parent.0.to_vec(),
        span_id: so.span_id.to_be_bytes().to_vec(),
        trace_state: crate::http::TRACESTATE.into(),
        parent_span_id: parent.1.to_be_bytes().to_vec(),
        name: step.name.clone(),
        kind: SpanKind::Client as i32,
        attributes,
        events,
        status,
        ..Span::default()
    }
}

/// The timed phases of the step's last request, end to end up to `end`; a reused connection has no dns,
/// connect or tls, and a phase that took no time is left out.
fn phase_spans(trace_id: &[u8], so: &StepOutcome, end: SystemTime, spans: &mut Vec<Span>) {
    let p = &so.phases;
    let phases =
        [("dns", p.dns), ("connect", p.connect), ("tls", p.tls), ("waiting", p.waiting), ("transfer", p.transfer)];
    let total: Duration = phases.iter().map(|(_, d)| *d).sum();
    let mut at = end.checked_sub(total).unwrap_or(end);
    for (name, took) in phases {
        if took.is_zero() {
            continue;
        }
        spans.push(Span {
            trace_id: trace_id.to_vec(),
            span_id: (rand::random::<u64>() | 1).to_be_bytes().to_vec(),
            parent_span_id: so.span_id.to_be_bytes().to_vec(),
            name: name.into(),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: unix_nanos(at),
            end_time_unix_nano: unix_nanos(at + took),
            ..Span::default()
        });
        at += took;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(trace_id: u128, status: RunStatus) -> RunOutcome {
        RunOutcome {
            journey: "j".into(),
            intended_start: std::time::Instant::now(),
            start_delay: Duration::ZERO,
            wall_start: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            duration: Duration::from_millis(30),
            service_time: Duration::from_millis(30),
            status,
            steps: Vec::new(),
            soft_failures: Vec::new(),
            trace_id,
            user: 0,
            target: None,
        }
    }

    #[test]
    fn failed_and_degraded_runs_are_always_kept_passing_ones_by_trace_id() {
        let none = Sampler::new(0.0);
        let half = Sampler::new(0.5);
        let all = Sampler::new(1.0);
        let failed = RunStatus::Failed(Box::new(Failure::new(0, "a", crate::outcome::Reason::Status, "503")));
        assert!(none.keeps(&outcome(7, failed)));
        let mut degraded = outcome(u128::MAX, RunStatus::Passed);
        degraded.soft_failures.push(Failure::new(0, "a", crate::outcome::Reason::Check, "slow"));
        assert!(none.keeps(&degraded));
        let low = outcome(1, RunStatus::Passed);
        let high = outcome((1u128 << 56) - 1, RunStatus::Passed);
        assert!(!none.keeps(&low));
        assert!(half.keeps(&low) && !half.keeps(&high), "the low 56 bits against half of 2^56");
        assert!(all.keeps(&low) && all.keeps(&high));
        assert!(!all.keeps(&outcome(1, RunStatus::Cancelled)), "a cancelled run is no run");
    }
}
