//! journeyd: a synthetic user-journey monitor.
//!
//! # Layout
//!
//! Data flows one way: files → validated model → scheduler → journey runner → outcomes → (metrics, alerts,
//! reports, status).
//!
//! - `browser`  — the only code that talks to Chromium: finds and supervises one headless Chromium
//!   (restarted and counted when it dies), a small CDP client of our own over tokio-tungstenite, pages in
//!   fresh incognito contexts with auto-waiting actions, signals (JS errors, console, failed requests)
//!   and navigation timing and web vitals.
//! - `cli`      — subcommands and flags (clap derive), and the wiring of each command; the only place that
//!   binds ports for commands, handles signals, prints for people and picks exit codes.
//! - `config`   — journey files: raw serde types, validation with `file:line:col` diagnostics, JSON Schema;
//!   `targets`, a journey's named targets (`targets:`, `canary:`); browser journeys' settings
//!   (`browser`), actions (`browser_step`) and selectors checked as written (`selector`).
//! - `model`    — the validated Journey / Step / Check / Capture the runner executes (`model/browser.rs`:
//!   browser settings, actions, selectors; `model/checks.rs`: checks, subjects, predicates, captures); no I/O.
//! - `template` — `{{ … }}` interpolation, compiled once at load time; `totp`, RFC 6238 codes for 2FA logins.
//! - `redact`   — masks secret values in everything a person or machine reads.
//! - `http`     — `h1`, the per-user HTTP/1.1 client `http` and `https` steps run on (`h1::body`: framing,
//!   body reading under the cap; `h1::stream`: plain or TLS connections, each phase timed); `tls`, the
//!   rustls configurations (roots, a journey's CA, skip-verify), a verifier whose refusals say why, and
//!   the certificate read from every handshake (`tls::recent`: chains already accepted, and their facts,
//!   kept by their exact bytes so a monitor's next handshake skips that work); `decode`, the content codings both clients decode (gzip,
//!   deflate) under the cap; `credentials`, what a redirect to another origin must not carry, and URL
//!   userinfo as Basic auth; a reqwest client per user for the `JOURNEYD_HTTP_CLIENT=reqwest` escape hatch;
//!   `UserConnections`, a virtual user's own connections; error classification into reasons; `exchange`,
//!   one step's exchange on either client: send, follow redirects with the user's cookies, read and decode
//!   the capped body, or a typed `TransportError`; `headers`, a response's header fields as ranges of the
//!   head it arrived in (no map per response); `HeaderList` and `TraceContext`, a request's headers and
//!   trace context as the sender writes them; `ws`, a WebSocket step's connection (the own client's
//!   timed connection and TLS, upgraded by tokio-tungstenite).
//! - `import`   — `journeyd import har|curl`: a journey from a browser's HAR recording or curl command lines
//!   (`har`; `curl` with its own shell-word splitter `words`; `ordered`: JSON bodies in written order);
//!   `draft` makes steps of what `rules` keep (assets, analytics, other origins left out); `correlate`
//!   turns values a response returned and a later request sent into captures; `secrets` moves credentials
//!   into `secrets:`; `emit` writes YAML that `check` accepts. No I/O.
//! - `runner`   — one journey iteration (build → send → check → capture; `request`: the build stage, URL,
//!   headers and body rendered; `json_at`: the JSON paths a step reads, read in one pass; a `ws:` step:
//!   upgrade → send → wait for the message that matches → capture), request bodies (`body`: json, form,
//!   multipart with a boundary per request, GraphQL), checks and captures, virtual users and data leases,
//!   the monitor scheduler, and the load engine (closed, open-loop arrivals, stages); browser steps
//!   (`page/run.rs`: actions on the iteration's page, its JavaScript errors and failed requests, page
//!   checks and captures, screenshot evidence), the process's one Chromium (`browser_host`) and the bounded
//!   screenshot store (`evidence`); where the connection policy is applied (monitor runs cold, load users
//!   warm, `connections:` overrides); `oauth`, the OAuth2 client-credentials token cache each journey's
//!   users share (fetched once, refreshed before expiry and on a 401).
//! - `outcome`  — RunOutcome / StepOutcome / Failure / CertSeen: plain data sent from workers to consumers,
//!   and the one reading of a step's certificate news (presented, plain http, nothing new) they all share.
//! - `pipeline` — the one consumer of outcomes: feeds every event to the sinks (metrics, alerts, reports).
//! - `alert`    — journeyd's own alerts: state machine with hysteresis, degraded, SLO burn rates, latency,
//!   certificate expiry, maintenance, dependency suppression; delivery to Alertmanager, webhooks and Slack
//!   without loss; the running receivers, changed in place when a reload brings new settings.
//! - `settings` — the settings file: alert defaults, external labels and URL, maintenance, receivers,
//!   `traces:`; read at start and on every reload.
//! - `trace`    — every run a trace: a pipeline sink that samples finished runs (failed and degraded always,
//!   a share of passing ones), builds OTLP spans (run → steps → phases) and hands them to an exporter
//!   task (OTLP/HTTP protobuf, or gRPC over HTTP/2 with `h2`) through a bounded queue, counting drops;
//!   `config` resolves the settings and `OTEL_*` variables, at start and on every reload.
//! - `metrics`  — the aggregator that owns the histograms, and the Prometheus registry (with the TLS series of
//!   the certificate each step last presented, and `browser`: page timings, web vitals, JavaScript errors,
//!   failed requests, the Chromium's restarts and contexts).
//! - `report`   — verify reports: histograms stored losslessly, the earliest certificate seen, thresholds,
//!   baseline comparison (Mann-Whitney U), shard merges, terminal summary, JUnit, Markdown, Pushgateway.
//! - `daemon`   — the monitor as a library: `Daemon::start(listener, options)` loads every file and starts
//!   scheduler, pipeline and server; reload (all files or none, typed `ReloadError`), shutdown without
//!   loss; errors are returned as data, never printed.
//! - `deploys`  — deploy markers (`/api/v1/deploys`): per marker, each journey's and step's runs after it
//!   compared with the window before it as they arrive (`judge`, with `stats`), the runs of that window
//!   (`recent`), the bounded request (`marker`); `journey_deploy_regression` and `JourneyDeployRegression`.
//! - `canary`   — journeys with `targets:` (stable beside canary): each non-baseline target compared with
//!   the baseline over a sliding window (`compare`, with `stats`); `journey_canary_regression`,
//!   `JourneyCanaryRegression`, `GET /api/v1/canary`, and `Verdicts::verdict` for the gates; `metrics`,
//!   availability and latency per target (`journey_target_runs_total`, `journey_target_duration_seconds`).
//! - `gates`    — progressive-delivery gates: Flagger's webhooks (`/api/v1/gates/flagger/{hook}`:
//!   `pre-rollout` runs the selected journeys once against the canary, the others judge) and the verdict
//!   Argo Rollouts' `web` analysis reads (`/api/v1/gates/verdict`); `verdict`, one journey's verdict from
//!   the comparison covering it (the canary's, else the latest deploy's) and its state; `answers`,
//!   `journeyd_gate_requests_total{gate,answer}`.
//! - `server`   — `/metrics`, `/-/healthy`, `/-/ready`, `/-/reload`; merges the status routes; the one gate
//!   in front of every write route (flags, JSON, same site, body limit); the accept loop (connection cap,
//!   header-read and idle timeouts, plain or TLS).
//! - `status`   — the status page at `/`, `/api/v1/*` and failure screenshots at `/evidence/*`: a bounded
//!   per-minute history fed by a sink, and the certificate each step presents.
//! - `webconfig` — `--web-config`: TLS and basic auth in the exporter-toolkit web-config format, with
//!   bcrypt verdicts cached.
//! - `shard`    — `--shard i/n`: a stable share of journeys, users or iterations, with no coordination.
//! - `location` — `--location NAME`: the validated name of where this replica probes from, and
//!   `journeyd_location_info`; the daemon adds it to alerts' labels, status and reports show it.
//! - `stats`    — the before/after statistics `verify --baseline` and the deploy comparison share:
//!   Mann-Whitney U on HDR histograms, the two-proportion test, the minimum effect, and the alpha-spending
//!   rule for repeated looks. No I/O.
//! - `units`    — leaf helpers imported by all: durations, rates, sizes, latency for people, RFC 3339, time
//!   left until a date.
//! - `threshold` — the threshold language (`checkout: p99 < 800ms`): AST and parser with located errors.
//! - `cmp`      — comparison operators shared by check expressions and thresholds.
//! - `secret`   — a journey's secret value, held by the model and rendered by templates; `Debug` masks it.
//! - `shop`     — the embedded demo shop with fault injection (a target; never imported by the monitor), with
//!   a storefront (`/store/`, one JavaScript bundle) and `ui:` faults only a browser sees.

#![forbid(unsafe_code)]

pub mod alert;
pub mod browser;
pub mod canary;
pub mod cli;
pub mod cmp;
pub mod config;
pub mod daemon;
pub mod deploys;
pub mod gates;
pub mod http;
pub mod import;
pub mod location;
pub mod metrics;
pub mod model;
pub mod outcome;
pub mod pipeline;
pub mod redact;
pub mod report;
pub mod runner;
pub mod secret;
pub mod server;
pub mod settings;
pub mod shard;
pub mod shop;
pub mod stats;
pub mod status;
pub mod template;
pub mod threshold;
pub mod trace;
pub mod units;
pub mod webconfig;

/// The version string shown by `--version`, in the User-Agent and in `journeyd_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `journeyd/<version>`: sent as the User-Agent of every request so sites can pick out synthetic traffic.
/// A constant: it is written into every request head, and formatting it each time cost an allocation.
pub const USER_AGENT: &str = concat!("journeyd/", env!("CARGO_PKG_VERSION"), " (+synthetic monitoring)");

/// [`USER_AGENT`], for callers that want a function.
pub fn user_agent() -> &'static str {
    USER_AGENT
}
