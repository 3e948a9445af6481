//! What one iteration of a journey produced: plain data, sent by workers to the aggregator.
//!
//! A failed journey is data, not an `Err`: the failing step, a reason from a small closed set, and redacted
//! evidence. Imports nothing of ours.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The result of one iteration (one virtual user walking the journey once).
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The journey's name (shared, so sending an outcome does not copy it).
    pub journey: Arc<str>,
    /// When the iteration should have started (schedule tick or arrival time). Response times count from here.
    pub intended_start: Instant,
    /// How late the iteration actually started: a generator or scheduler stall shows up here.
    pub start_delay: Duration,
    /// Wall-clock time of the intended start, for reports and the status page.
    pub wall_start: SystemTime,
    /// From the intended start to the end of the last step that ran (response time).
    pub duration: Duration,
    /// Sum of the steps' service times (request sent → response complete), excluding think time.
    pub service_time: Duration,
    pub status: RunStatus,
    /// One entry per step that ran, in order.
    pub steps: Vec<StepOutcome>,
    /// Soft checks that failed (the journey passed but is degraded).
    pub soft_failures: Vec<Failure>,
    /// The iteration's W3C trace id: every step's request carried it in `traceparent`, so the site's own
    /// spans share it, and an exported trace of the run has it.
    pub trace_id: u128,
    /// The virtual user that ran it (its number within the journey): the `journey.user` span attribute.
    pub user: u64,
    /// Which of the journey's `targets:` it ran against; `None` for a journey with one target.
    pub target: Option<Arc<str>>,
}

impl RunOutcome {
    pub fn passed(&self) -> bool {
        matches!(self.status, RunStatus::Passed)
    }

    pub fn failure(&self) -> Option<&Failure> {
        match &self.status {
            RunStatus::Failed(f) => Some(f),
            _ => None,
        }
    }

    /// The run's latency as a latency rule sees it: the response time of step `step` (an index), or the
    /// whole run's duration when it passed; `None`: not measured by this run. One definition for the alert
    /// engine (JourneyDegraded, JourneyLatency) and the trace sampler (slow runs are always exported).
    pub fn latency_sample(&self, step: Option<usize>) -> Option<Duration> {
        match step {
            Some(i) => self.steps.iter().find(|s| s.index == i).map(|s| s.response_time),
            None => self.passed().then_some(self.duration),
        }
    }

    /// Puts the run's trace id on its failure and soft failures, so their evidence leads to the trace.
    pub fn stamp_trace(&mut self) {
        if self.soft_failures.is_empty() && self.failure().is_none() {
            return;
        }
        let id = trace_id_hex(self.trace_id);
        if let RunStatus::Failed(f) = &mut self.status {
            f.trace_id = Some(id.clone());
        }
        self.soft_failures.iter_mut().for_each(|f| f.trace_id = Some(id.clone()));
    }
}

#[derive(Debug, Clone)]
pub enum RunStatus {
    Passed,
    Failed(Box<Failure>),
    /// Stopped by shutdown or reload before it finished: neither a pass nor a failure, never alerted on.
    Cancelled,
}

/// One step of one iteration.
#[derive(Debug, Clone, Default)]
pub struct StepOutcome {
    /// Index into the journey's steps (names live in the model; outcomes stay small).
    pub index: usize,
    /// HTTP status of the final response, when one arrived.
    pub status: Option<u16>,
    /// From the step's intended start (the moment it should have begun, given the iteration's intended start
    /// and what ran before) to the response being complete.
    pub response_time: Duration,
    /// From the request being sent to the response being complete.
    pub service_time: Duration,
    pub phases: Phases,
    pub passed: bool,
    /// Number of redirects followed.
    pub redirects: u32,
    /// Response body bytes read (after decompression).
    pub body_bytes: u64,
    /// What the TLS handshake of the step's last request presented, when that request opened a new https
    /// connection (`None` on plain http and on a reused connection: nothing was presented).
    pub tls: Option<Arc<CertSeen>>,
    /// The `oauth` token requests this step made (none when the cache had a token): counted in
    /// `journey_oauth_token_fetches_total`, so a 401 refresh or a token endpoint failing shows.
    pub token_fetches: Vec<TokenFetch>,
    /// The step's span id: the parent id its requests carried in `traceparent`, so the site's spans are
    /// children of the step's span in an exported trace.
    pub span_id: u64,
    /// From the iteration's intended start to the step's intended start: where the step's span begins.
    pub offset: Duration,
    /// Browser steps: what the page measured and reported (`None` for HTTP and WebSocket steps). Boxed: most
    /// steps are not browser steps, and outcomes are moved often.
    pub page: Option<Box<PageMeasures>>,
}

/// What a browser step measured on its page: plain numbers for the metrics sink.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PageMeasures {
    /// Navigation timing of the document the step loaded, when it loaded one (a `goto`, or a click that
    /// navigated); all `None` otherwise, so one document is never counted twice.
    pub ttfb: Option<Duration>,
    pub dom_content_loaded: Option<Duration>,
    pub load: Option<Duration>,
    /// Web vitals of that document, as far as the browser measured them by the end of the step.
    pub fcp: Option<Duration>,
    pub lcp: Option<Duration>,
    pub tbt: Option<Duration>,
    /// Cumulative Layout Shift (a unitless score).
    pub cls: Option<f64>,
    /// Uncaught exceptions and unhandled rejections during the step.
    pub js_exceptions: u32,
    /// `console.error` calls and browser error logs during the step.
    pub console_errors: u32,
    /// Sub-requests that failed (status >= 400, blocked, refused) during the step.
    pub failed_requests: u32,
}

/// One request to an `oauth` token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenFetch {
    /// Index into the journey's `oauth` sources.
    pub source: usize,
    /// A token came back.
    pub ok: bool,
}

/// What a fresh TLS handshake presented, read from every new https connection: the expiry metrics and alerts
/// of the journey and step are fed from it, so a replaced certificate shows on the next run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSeen {
    /// `TLS 1.2` or `TLS 1.3`: the values of blackbox_exporter's `probe_tls_version_info{version}`.
    pub version: &'static str,
    /// The earliest `notAfter` of the chain the server presented, in Unix seconds (a short-lived
    /// intermediate expires the site as surely as its leaf).
    pub earliest_expiry: i64,
    /// The leaf certificate's `notAfter`, in Unix seconds.
    pub leaf_expiry: i64,
    /// SHA-256 of the leaf's DER, lowercase hex: changes on every rotation.
    pub fingerprint_sha256: String,
    /// The leaf's serial number, lowercase hex without separators.
    pub serial: String,
    /// The leaf's subject and issuer as RFC 4514 strings (`CN=shop.example,O=Acme`).
    pub subject: String,
    pub issuer: String,
}

impl CertSeen {
    /// Longest subject, issuer or serial number any view shows (metric labels, alerts, the status page,
    /// reports), in bytes: a certificate is the server's data, and a hostile one must not make every scrape
    /// carry kilobytes.
    pub const MAX_TEXT: usize = 256;

    /// `text` cut to at most [`CertSeen::MAX_TEXT`] bytes, on a character boundary.
    pub fn clip(text: &str) -> &str {
        if text.len() <= Self::MAX_TEXT {
            return text;
        }
        let mut end = Self::MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    }
}

/// What one step's outcome says about the certificate its server presents: every consumer (metrics, alerts,
/// status) reads a step the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertNews<'a> {
    /// A fresh TLS handshake presented this chain.
    Presented(&'a Arc<CertSeen>),
    /// A new connection answered without TLS: the step's last request is plain http now (a changed journey,
    /// or a redirect to http), so what it presented before no longer describes it.
    Plain,
    /// Nothing new: the request reused a connection, or no response arrived.
    Unchanged,
}

impl StepOutcome {
    pub fn cert_news(&self) -> CertNews<'_> {
        match &self.tls {
            Some(cert) => CertNews::Presented(cert),
            None if self.status.is_some() && !self.phases.reused => CertNews::Plain,
            None => CertNews::Unchanged,
        }
    }
}

/// Per-phase timing of the last request of a step, as blackbox_exporter and k6 split it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    pub dns: Duration,
    pub connect: Duration,
    pub tls: Duration,
    /// Request sent (or connection ready) → first response byte (headers).
    pub waiting: Duration,
    /// First byte → body complete.
    pub transfer: Duration,
    /// The request went over a pooled connection (no dns, connect or tls).
    pub reused: bool,
}

/// Why an iteration failed, with evidence a person can act on. Everything in here is redacted already.
///
/// The one serde type of a failure: a report's `first` evidence and `/api/v1/failures` hold it (beside their
/// own `at_unix_ms`, or `journey`, `at`, `soft` and `reason`), so the shapes cannot drift. `step` in JSON is
/// the step's name. [`Failure::evidence`] is its text view (one line: `report::evidence_line`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// Index into the journey's steps, for the runner and metrics; not in JSON, which names the step (0 when
    /// read back from a report, whose readers never index a journey with it).
    #[serde(skip)]
    pub step: usize,
    #[serde(rename = "step")]
    pub step_name: String,
    /// Not in this type's JSON: a report keys its failures by reason, the status API puts it beside them.
    /// Read back from a report it is `Reason::STORED`; the table key is the reason.
    #[serde(skip, default = "Reason::stored")]
    pub reason: Reason,
    /// One line: what went wrong.
    pub message: String,
    /// The check expression that failed, as written.
    pub check: Option<String>,
    /// The actual value the check saw.
    pub actual: Option<String>,
    /// The request line (method and URL), redacted.
    pub request: Option<String>,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// A short excerpt of the response body, redacted.
    pub excerpt: Option<String>,
    /// Where the step's redirects led, in order, when it followed (or refused) any: empty otherwise, since
    /// the request line says it all. Absent from JSON when empty (reports written before it read as empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<RedirectHop>,
    /// The failed run's trace id (32 lowercase hex digits): the site's own spans carry it, and so does the
    /// run's exported trace. Absent from JSON when unknown (reports written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Browser steps: what the page reported during the step — uncaught exceptions, console errors, failed
    /// requests — redacted, one line each (at most [`Failure::MAX_PAGE_LINES`]). `excerpt` is the DOM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub page: Vec<String>,
    /// Browser steps: the file name of the page's screenshot when the step failed, in the evidence
    /// directory (served at `/evidence/<name>`, copied next to a `verify` report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<String>,
}

/// One request of a redirect chain: its URL (redacted, clipped, never with userinfo) and the status it got.
///
/// One serde type for every view of it (report JSON, status API), so the shapes cannot drift.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectHop {
    pub url: String,
    /// `None`: no response arrived (connect failure, timeout, a body that broke).
    pub status: Option<u16>,
}

impl RedirectHop {
    /// Most hops kept: the first and last halves of a longer chain (`redirects:` can be set high).
    pub const MAX: usize = 21;
    /// Longest URL kept per hop, in bytes, after redaction.
    pub const MAX_URL: usize = 200;
}

/// `https://a/x (302) → https://b/y (200)`: the chain on one line, for logs, alerts and reports.
pub fn chain_text(hops: &[RedirectHop]) -> String {
    let mut out = String::new();
    for (i, hop) in hops.iter().enumerate() {
        if i > 0 {
            out.push_str(" → ");
        }
        out.push_str(&hop.url);
        match hop.status {
            Some(s) => out.push_str(&format!(" ({s})")),
            None => out.push_str(" (no response)"),
        }
    }
    out
}

impl Failure {
    pub fn new(step: usize, step_name: &str, reason: Reason, message: impl Into<String>) -> Failure {
        Failure {
            step,
            step_name: step_name.to_string(),
            reason,
            message: message.into(),
            check: None,
            actual: None,
            request: None,
            status: None,
            excerpt: None,
            redirects: Vec::new(),
            trace_id: None,
            page: Vec::new(),
            screenshot: None,
        }
    }

    /// Most page lines kept as evidence: the first errors explain the rest.
    pub const MAX_PAGE_LINES: usize = 20;
}

/// A trace id as W3C and OTLP write it: 32 lowercase hex digits.
pub fn trace_id_hex(id: u128) -> String {
    format!("{id:032x}")
}

/// The closed set of failure reasons (a metric label, so it must stay small and fixed). In JSON, `as_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// TCP connect refused or reset, connection closed, invalid HTTP.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// The step or journey deadline passed.
    Timeout,
    /// The status check failed.
    Status,
    /// Another check failed.
    Check,
    /// A capture found nothing.
    Capture,
    /// The body could not be read: too large, truncated, not decodable.
    Body,
    /// Too many redirects, a redirect loop, an invalid `Location`, or a refused https → http redirect.
    Redirect,
    /// An `oauth` token the step needed could not be fetched (the token endpoint failed or refused).
    Auth,
    /// Browser steps: an uncaught JavaScript exception or a console error (unless the journey allows them).
    Script,
    /// Browser steps: the element an action needed never appeared.
    Element,
    /// Browser steps: Chromium crashed, could not be started, or answered nonsense.
    Browser,
}

impl Reason {
    pub const ALL: [Reason; 13] = [
        Reason::Connect,
        Reason::Dns,
        Reason::Tls,
        Reason::Timeout,
        Reason::Status,
        Reason::Check,
        Reason::Capture,
        Reason::Body,
        Reason::Redirect,
        Reason::Auth,
        Reason::Script,
        Reason::Element,
        Reason::Browser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Connect => "connect",
            Reason::Dns => "dns",
            Reason::Tls => "tls",
            Reason::Timeout => "timeout",
            Reason::Status => "status",
            Reason::Check => "check",
            Reason::Capture => "capture",
            Reason::Body => "body",
            Reason::Redirect => "redirect",
            Reason::Auth => "auth",
            Reason::Script => "script",
            Reason::Element => "element",
            Reason::Browser => "browser",
        }
    }

    /// What a failure read back from a report holds in `reason` (its table key says the real one).
    fn stored() -> Reason {
        Reason::Check
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {:?} failed ({}): {}", self.step_name, self.reason, self.message)?;
        f.write_str(&check_and_actual(&self.message, self.check.as_deref(), self.actual.as_deref()))
    }
}

/// `; expected CHECK, got ACTUAL` after a failure's message, leaving out what the message already says
/// (a failed check's message is `expected CHECK`, so printing both read `expected status == 201; expected
/// status == 201, got 503`). Every one-line view of a failure uses this.
pub fn check_and_actual(message: &str, check: Option<&str>, actual: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(c) = check.filter(|c| !message.contains(c)) {
        s.push_str(&format!("; expected {c}"));
    }
    if let Some(a) = actual.filter(|a| !message.contains(a)) {
        s.push_str(&format!(", got {a}"));
    }
    s
}

impl Failure {
    /// The evidence, one `label: value` line each (request, status, check, actual, redirects, body): the
    /// alert annotation and the status page.
    pub fn evidence(&self) -> EvidenceText<'_> {
        EvidenceText(self)
    }
}

/// [`Failure::evidence`]: the evidence block.
#[derive(Debug, Clone, Copy)]
pub struct EvidenceText<'a>(&'a Failure);

impl std::fmt::Display for EvidenceText<'_> {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let f = self.0;
        let status = f.status.map(|s| s.to_string());
        let redirects = (!f.redirects.is_empty()).then(|| chain_text(&f.redirects));
        let lines = [
            ("request", f.request.as_deref()),
            ("status", status.as_deref()),
            ("check", f.check.as_deref()),
            ("actual", f.actual.as_deref()),
            ("redirects", redirects.as_deref()),
            ("body", f.excerpt.as_deref()),
            ("trace", f.trace_id.as_deref()),
        ];
        let page = f.page.iter().map(|l| ("page", Some(l.as_str())));
        let shot = [("screenshot", f.screenshot.as_deref())];
        let mut first = true;
        for (label, value) in lines.into_iter().chain(page).chain(shot).filter_map(|(l, v)| v.map(|v| (l, v))) {
            if !first {
                out.write_str("\n")?;
            }
            first = false;
            write!(out, "{label}: {value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_says_whether_it_presented_a_certificate() {
        let cert = Arc::new(CertSeen {
            version: "TLS 1.3",
            earliest_expiry: 2,
            leaf_expiry: 3,
            fingerprint_sha256: "ab".into(),
            serial: "01".into(),
            subject: "CN=a".into(),
            issuer: "CN=ca".into(),
        });
        let mut s = StepOutcome { status: Some(200), tls: Some(Arc::clone(&cert)), ..StepOutcome::default() };
        assert_eq!(s.cert_news(), CertNews::Presented(&cert));
        s.tls = None;
        assert_eq!(s.cert_news(), CertNews::Plain, "a new connection with a response and no TLS");
        s.phases.reused = true;
        assert_eq!(s.cert_news(), CertNews::Unchanged, "a reused connection presents nothing");
        s.phases.reused = false;
        s.status = None;
        assert_eq!(s.cert_news(), CertNews::Unchanged, "no response: nothing is known");
    }

    #[test]
    fn certificate_text_is_clipped_on_a_character_boundary() {
        assert_eq!(CertSeen::clip("CN=short"), "CN=short");
        let long = format!("CN={}", "é".repeat(200));
        let cut = CertSeen::clip(&long);
        assert!(cut.len() <= CertSeen::MAX_TEXT && cut.len() >= CertSeen::MAX_TEXT - 1);
        assert!(long.starts_with(cut));
    }

    #[test]
    fn a_failed_check_is_said_once() {
        let mut f = Failure::new(1, "checkout", Reason::Status, "expected status == 201");
        f.check = Some("status == 201".into());
        f.actual = Some("503".into());
        assert_eq!(f.to_string(), "step \"checkout\" failed (status): expected status == 201, got 503");
        let mut g = Failure::new(0, "login", Reason::Capture, "capture token: not found");
        g.check = Some("json.token exists".into());
        assert_eq!(
            g.to_string(),
            "step \"login\" failed (capture): capture token: not found; expected json.token exists"
        );
    }
}
