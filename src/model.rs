//! The validated journey model: what the runner executes.
//!
//! Everything here was checked at load time by `config`: templates are compiled, check expressions parsed,
//! captures resolved to slots, durations typed, data sources read. The runner never sees raw YAML and never
//! has to handle a malformed journey. No I/O, no serde_yaml types; of ours, only leaf modules are imported
//! here (compiled templates, secrets, comparison operators, thresholds). Methods and headers are the
//! `http` crate's types (via reqwest), parsed at load.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;

#[path = "model/browser.rs"]
mod browser;
#[path = "model/checks.rs"]
mod checks;

pub use crate::cmp::CmpOp;
pub use crate::secret::Secret;
pub use crate::template::{JsonTemplate, Template};
pub use crate::threshold::Threshold;
pub use browser::{Action, BrowserSettings, FailedRequests, Selector, WaitFor, DEFAULT_VIEWPORT, KEY_NAMES};
pub use checks::*;

/// Every journey loaded from one set of files, in a stable order (sorted by name).
#[derive(Debug, Clone, Default)]
pub struct Suite {
    pub journeys: Vec<Arc<Journey>>,
}

impl Suite {
    pub fn get(&self, name: &str) -> Option<&Arc<Journey>> {
        self.journeys.iter().find(|j| j.name == name)
    }
}

/// One scripted multi-step journey, as run by one virtual user.
#[derive(Debug, Clone)]
pub struct Journey {
    /// Unique across the suite; used as the `journey` label, so it is a bounded, human-chosen value.
    pub name: String,
    pub description: String,
    /// Free-form tags for selecting subsets (`verify --tag`), never exported as labels.
    pub tags: Vec<String>,
    /// Where it came from, for messages and the status page.
    pub source: PathBuf,
    /// Hash of the file's bytes and of the resolved env/secret values it used: unchanged journeys keep
    /// their state across reloads.
    pub fingerprint: u64,
    /// Base URL that relative step paths are joined onto. `None`: every step uses an absolute URL.
    /// With `targets:`, the baseline's (each other target runs as a copy with its own here).
    pub target: Option<Template>,
    /// `targets:`: named targets run side by side and compared with the baseline (`canary`); `None`: one.
    pub targets: Option<Targets>,
    /// How often the monitor starts a run.
    pub every: Duration,
    /// Virtual users per monitor run (closed model).
    pub users: u32,
    /// How iterations are started when driven as load (`verify`, benchmarks).
    pub load: LoadModel,
    /// Deadline for one whole iteration, from its intended start.
    pub timeout: Duration,
    /// Default request options, overridable per step.
    pub defaults: RequestDefaults,
    /// Named constant values (already rendered against env at load time).
    pub vars: Vec<(String, String)>,
    /// CSV data sources; templates refer to their columns by index.
    pub data: Vec<DataSource>,
    /// Secret values; templates refer to them by index. Redacted everywhere.
    pub secrets: Vec<Secret>,
    /// OAuth2 client-credentials token sources; `{{ oauth.<name> }}` refers to them by index.
    pub oauth: Vec<OAuthSource>,
    pub steps: Vec<Step>,
    /// Number of capture slots a run needs (captures are addressed by slot, not by name, at run time).
    pub capture_slots: usize,
    /// Capture slots whose values must be redacted like secrets.
    pub secret_captures: Vec<usize>,
    /// Journeys this one depends on (alert suppression).
    pub depends_on: Vec<String>,
    /// Alert rules (`alerts:` and `slo:`); unset values take the settings file's defaults.
    pub alerts: AlertRules,
    /// `verify` thresholds written in the file (`p99 < 800ms`), without a scope: they apply to this journey.
    /// Parsed at load time, so `verify` cannot fail on them; the monitor ignores them.
    pub thresholds: Vec<Threshold>,
    /// `browser:`: every step is browser actions in a fresh Chromium context per run (no HTTP steps).
    pub browser: Option<BrowserSettings>,
}

/// `targets: { stable: …, canary: … }`: the same journey run against each, every tick, and each
/// non-baseline target compared with the baseline (src/canary/).
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// The baseline first (`baseline:`, else the one named `stable`, else the first written), then the
    /// others in written order. Names are `[a-z0-9_-]{1,32}`, 2–4 of them: a bounded `target` label.
    pub named: Vec<(String, Template)>,
    /// `canary.window`: how far back the comparison looks, and the period its significance level is spent
    /// over.
    pub window: Duration,
}

impl Targets {
    /// Ticks each target's runs in the window must come from before it is compared: the users of one tick
    /// share its moment (a busy second, a cold cache), so twenty runs of one tick are not twenty
    /// independent samples. The loader refuses a window shorter than this many ticks.
    pub const MIN_TICKS: usize = 10;

    pub fn baseline(&self) -> &str {
        &self.named[0].0
    }
}

/// A journey's own alert rules. `None` means "the settings file's default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertRules {
    /// Consecutive failed runs before JourneyDown fires (one flaky run pages no one).
    pub failure_threshold: Option<u32>,
    /// Consecutive good runs before JourneyDown resolves (no flapping on one lucky run).
    pub success_threshold: Option<u32>,
    /// Latency budgets: a run over one is degraded; the quantile over the window over it raises JourneyLatency.
    pub latency: Vec<LatencyRule>,
    /// Availability objective with multi-window burn-rate alerts.
    pub slo: Option<Slo>,
    /// How long before a certificate's expiry its alerts fire.
    pub cert_expiry: CertExpiry,
    /// `confirm: N`: a failed monitor run is retried at once, up to N times, and counts (toward
    /// `failure_threshold`, availability, histograms) only as its last attempt — a blip does not page, a
    /// real outage is confirmed within seconds instead of intervals. 0: no retries.
    pub confirm: u32,
}

/// `alerts.cert_expiry`: time left before a step's certificate chain expires at which JourneyCertExpiring
/// (`ticket`) and JourneyCertExpiringSoon (`page`) fire. `None`: the settings file's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CertExpiry {
    pub ticket: Option<Duration>,
    pub page: Option<Duration>,
}

/// A latency budget for one step, or the whole journey when `step` is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRule {
    pub step: Option<String>,
    /// 0 < quantile <= 1 (0.99 for p99).
    pub quantile: f64,
    pub budget: Duration,
    /// How far back the quantile looks.
    pub window: Duration,
}

/// `slo: { availability: 99.9%, window: 30d }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// The objective as a ratio (0.999).
    pub objective: f64,
    /// The compliance window the error budget is counted over.
    pub window: Duration,
}

impl Journey {
    /// The step index of a step name.
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.name == name)
    }

    /// The thresholds written in this journey's file, scoped to it or to their step
    /// (`checkout.login: p99 < 300ms`).
    pub fn scoped_thresholds(&self) -> Vec<Threshold> {
        let mut out: Vec<Threshold> = self.thresholds.iter().map(|t| t.scoped(&self.name, None)).collect();
        for s in &self.steps {
            out.extend(s.thresholds.iter().map(|t| t.scoped(&self.name, Some(&s.name))));
        }
        out
    }
}

/// How iterations are started.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadModel {
    /// `users` virtual users loop through the journey back to back (with think time).
    Closed { users: u32 },
    /// Iterations start at a fixed arrival rate whatever the site does, up to `max_users` in flight.
    Open { rate_per_sec: f64, max_users: u32 },
    /// A sequence of stages, each holding a rate or user count for a while.
    Stages(Vec<Stage>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub target: StageTarget,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StageTarget {
    Rate(f64),
    Users(u32),
}

#[derive(Debug, Clone)]
pub struct RequestDefaults {
    /// Sent by every step unless the step sets the same header.
    pub headers: Vec<(HeaderName, HeaderTemplate)>,
    /// How many redirects a step follows; 0 turns following off.
    pub max_redirects: u32,
    /// Per-step deadline when the step sets none.
    pub step_timeout: Option<Duration>,
    /// Accept invalid TLS certificates for this journey's requests. Explicit opt-out, shown in metrics.
    pub tls_skip_verify: bool,
    /// Cap on a response body; a larger body fails the step with reason `body`.
    pub max_body_bytes: usize,
    /// CA certificates trusted besides the system's (a private CA), read and checked at load.
    pub tls_ca: Option<Arc<TlsCa>>,
    /// Follow a redirect from https to plain http. Off by default: such a hop would send the request (and
    /// whatever it carries) unencrypted, so the step fails with reason `redirect` instead.
    pub redirects_to_http: bool,
    /// `connections:` as written; `None`: the mode's default ([`ConnectionPolicy::for_monitor`] / `for_load`).
    pub connections: Option<ConnectionPolicy>,
}

/// Whether a virtual user's connections outlive an iteration. Never shared between users or journeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionPolicy {
    /// Every iteration starts cold: DNS, connect and TLS handshake measured, the certificate read.
    Fresh,
    /// A user keeps its connections across iterations (a browser tab, a k6 VU): warm latency.
    Reuse,
}

impl ConnectionPolicy {
    /// `journeyd run`: like a blackbox probe, each run on new connections, unless the journey asks.
    pub fn for_monitor(written: Option<ConnectionPolicy>) -> ConnectionPolicy {
        written.unwrap_or(ConnectionPolicy::Fresh)
    }

    /// `verify` and load: a user keeps its connections, unless the journey asks for cold iterations.
    pub fn for_load(written: Option<ConnectionPolicy>) -> ConnectionPolicy {
        written.unwrap_or(ConnectionPolicy::Reuse)
    }
}

/// The `tls_ca` file of a journey: its path (the cache key for the HTTP client that trusts it) and PEM text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsCa {
    pub path: std::path::PathBuf,
    pub pem: Vec<u8>,
}

impl Default for RequestDefaults {
    fn default() -> Self {
        RequestDefaults {
            headers: Vec::new(),
            max_redirects: 10,
            step_timeout: None,
            tls_skip_verify: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            tls_ca: None,
            redirects_to_http: false,
            connections: None,
        }
    }
}

/// 10 MiB: generous for API responses and HTML pages, small enough that 1,000 concurrent users cannot
/// exhaust memory on a hostile target.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// A CSV data source.
#[derive(Debug, Clone)]
pub struct DataSource {
    pub name: String,
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Arc<Vec<Vec<String>>>,
    pub pick: Pick,
}

/// How a virtual user gets a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Leased: no two concurrent virtual users hold the same row.
    Unique,
    /// Round robin over rows (rows may be shared).
    Sequential,
    /// A random row per iteration (rows may be shared).
    Random,
}

/// One HTTP step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique within the journey; the `step` label.
    pub name: String,
    /// Parsed at load, so a run cannot fail on it.
    pub method: Method,
    /// Path (joined to the journey target) or absolute URL.
    pub url: Template,
    /// Names parsed and fixed values checked at load, so a run cannot fail on them.
    pub headers: Vec<(HeaderName, HeaderTemplate)>,
    pub query: Vec<(String, Template)>,
    pub body: Option<Body>,
    /// Deadline for this step (request, redirects and body); `None` uses the journey default.
    pub timeout: Option<Duration>,
    /// Redirects to follow; 0 turns following off.
    pub max_redirects: u32,
    pub expect: Vec<Check>,
    pub capture: Vec<Capture>,
    /// Pause after the step before the next one.
    pub think: Option<Think>,
    /// `verify` thresholds for this step, like the journey's (parsed at load time).
    pub thresholds: Vec<Threshold>,
    /// `ws:`: the step is a WebSocket conversation on `url` (method GET, the upgrade) instead of a request.
    pub ws: Option<WsStep>,
    /// A browser journey's step: what the customer does, in order (never empty there; empty for HTTP steps,
    /// whose `method` and `url` are then unused).
    pub actions: Vec<Action>,
}

/// What a WebSocket step does after the upgrade: send these, then wait for a message that passes the hard
/// checks (when it has checks or captures), then close.
#[derive(Debug, Clone, Default)]
pub struct WsStep {
    pub send: Vec<WsMessage>,
}

/// One message sent by a WebSocket step; both are text frames.
#[derive(Debug, Clone)]
pub enum WsMessage {
    Text(Template),
    /// Rendered like a `json:` body.
    Json(JsonTemplate),
}

/// A header value: checked once at load when it is fixed, rendered per request when it has expressions.
#[derive(Debug, Clone)]
pub enum HeaderTemplate {
    /// Built once; cloning a `HeaderValue` of static bytes does not allocate.
    Static(HeaderValue),
    Dynamic(Template),
}

impl HeaderTemplate {
    /// The value renders from a secret or from one of `secret_captures` (so it is sensitive, like
    /// `Authorization`).
    pub fn is_secret(&self, secret_captures: &[usize]) -> bool {
        match self {
            HeaderTemplate::Static(_) => false,
            HeaderTemplate::Dynamic(t) => {
                t.uses_secret() || t.capture_slots().any(|slot| secret_captures.contains(&slot))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    Json(JsonTemplate),
    Form(Vec<(String, Template)>),
    Raw {
        text: Template,
        content_type: Option<String>,
    },
    /// `multipart/form-data`: fields and files in the order written.
    Multipart(Vec<MultipartPart>),
    /// A GraphQL request, sent as JSON.
    Graphql(GraphqlBody),
}

/// One part of a `multipart:` body.
#[derive(Debug, Clone)]
pub struct MultipartPart {
    /// The form field name (`Content-Disposition: form-data; name="…"`).
    pub name: String,
    pub value: PartValue,
}

#[derive(Debug, Clone)]
pub enum PartValue {
    /// A text field.
    Field(Template),
    /// A file read at load: a run never touches the disk, and a missing file is a `check` error.
    File(FilePart),
}

/// A file part: its bytes, shared by every request, with the filename and type it is sent under.
#[derive(Clone)]
pub struct FilePart {
    pub bytes: bytes::Bytes,
    pub filename: String,
    pub content_type: HeaderValue,
}

impl std::fmt::Debug for FilePart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Up to 10 MiB of bytes have no place in a debug print of a journey.
        write!(f, "FilePart({:?}, {} bytes, {:?})", self.filename, self.bytes.len(), self.content_type)
    }
}

/// Largest file a `multipart:` part may read: every virtual user's request carries it, so it is held in
/// memory once and sent many times; 10 MiB is a large upload test and the size of the response cap.
pub const MAX_MULTIPART_FILE_BYTES: u64 = 10 << 20;

/// `graphql:`: `{"query": …, "variables": …, "operationName": …}` POSTed as `application/json`.
#[derive(Debug, Clone)]
pub struct GraphqlBody {
    pub query: Template,
    pub variables: Option<JsonTemplate>,
    pub operation_name: Option<String>,
}

/// Think time: fixed (`min == max`) or uniformly random in a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Think {
    pub min: Duration,
    pub max: Duration,
}

/// An OAuth2 client-credentials token source (RFC 6749 §4.4): where to get a token and how to authenticate.
/// Its templates use vars, env and secrets only: they render the same for every virtual user.
#[derive(Debug, Clone)]
pub struct OAuthSource {
    /// The name in `{{ oauth.<name> }}`, for messages.
    pub name: String,
    /// Absolute, or a path joined onto the journey's target.
    pub token_url: Template,
    pub client_id: Template,
    pub client_secret: Template,
    pub scope: Option<Template>,
    /// Sent as `audience` (Auth0 and others want it to pick the API).
    pub audience: Option<Template>,
    pub auth: ClientAuth,
}

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret: what the RFC says servers must support.
    Header,
    /// `client_id` and `client_secret` in the form body, for servers that accept only that.
    Body,
}
