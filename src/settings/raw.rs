//! The settings file as written: serde types, every field documented (docs/alerting.md has the
//! prose), and the table of known keys the unknown-key check walks.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Base of the `generatorURL` link in every alert (`https://journeyd.example/`); default
    /// `http://<listen>/`.
    pub external_url: Option<String>,
    /// Labels added to every alert (`cluster: eu1`); the same on every replica so Alertmanager
    /// deduplicates. `alertname`, `journey` and `severity` are journeyd's own.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Alert rules for journeys that set none of their own.
    pub defaults: Option<Defaults>,
    /// Weekly maintenance windows, in UTC.
    #[serde(default)]
    pub maintenance: Vec<Window>,
    /// Where alerts go, by kind.
    pub receivers: Option<Receivers>,
    /// Queues, retries and timeouts of alert delivery.
    pub delivery: Option<Delivery>,
    /// OpenTelemetry export of journey runs as traces (docs/tracing.md).
    pub traces: Option<Traces>,
    /// Deploy markers: how many are kept and the windows each is judged on.
    pub deploys: Option<Deploys>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traces {
    /// The OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`); default
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`. None: no export.
    pub endpoint: Option<String>,
    /// `http/protobuf` (default) or `grpc`; default `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, then
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub protocol: Option<String>,
    /// Headers sent with every export (`x-api-key: …`): secrets, never shown; added to
    /// `OTEL_EXPORTER_OTLP_HEADERS`, which they override.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Share of passing runs exported, 0 to 1 (default 0.1); failed and degraded runs always are.
    pub sample_passing: Option<f64>,
    /// A link to a run's trace, `{trace_id}` replaced (`https://tempo.example/trace/{trace_id}`): in alerts.
    pub trace_url: Option<String>,
    /// `service.name` of the exported spans; default `OTEL_SERVICE_NAME`, else `journeyd`.
    pub service_name: Option<String>,
    /// More resource attributes (`deployment.environment: prod`), over `OTEL_RESOURCE_ATTRIBUTES`.
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, String>,
    /// Runs waiting for export; when full, new ones are dropped and counted (at least 1; 512).
    pub queue_capacity: Option<usize>,
    /// Most runs in one export request (at least 1; 256).
    pub batch_size: Option<usize>,
    /// Deadline of one export request (`10s`).
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploys {
    /// Markers kept, with their verdicts, in `/api/v1/deploys` (1–100; default 20).
    pub keep: Option<usize>,
    /// The window before a marker its runs are compared with (`30m`, the default).
    pub before: Option<String>,
    /// How long after a marker runs are compared as they arrive (`10m`, the default); then the verdict
    /// is final.
    pub decision: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Failed runs in a row before a journey is down (at least 1; default 3).
    pub failure_threshold: Option<u32>,
    /// Passed runs in a row before a down journey is up again (at least 1; default 2).
    pub success_threshold: Option<u32>,
    /// How often webhook and Slack receivers are reminded of a firing alert (`4h`, the default).
    pub repeat_interval: Option<String>,
    /// The `severity` label of each alert.
    pub severity: Option<Severity>,
    /// Time left before a certificate expires at which its alerts fire.
    pub cert_expiry: Option<CertExpiry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertExpiry {
    /// JourneyCertExpiring fires with less than this left (`21d`, the default).
    pub ticket: Option<String>,
    /// JourneyCertExpiringSoon fires with less than this left (`7d`, the default); at most `ticket`.
    pub page: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Severity {
    /// `JourneyDown` (default `page`).
    pub down: Option<String>,
    /// `JourneyDegraded` (default `warning`).
    pub degraded: Option<String>,
    /// `JourneySLOBurnFast` (default `page`).
    pub slo_fast: Option<String>,
    /// `JourneySLOBurnSlow` (default `ticket`).
    pub slo_slow: Option<String>,
    /// `JourneyLatency` (default `ticket`).
    pub latency: Option<String>,
    /// `JourneyCertExpiring` (default `ticket`).
    pub cert_expiring: Option<String>,
    /// `JourneyCertExpiringSoon` (default `page`).
    pub cert_expiring_soon: Option<String>,
    /// `JourneyDeployRegression` (default `ticket`).
    pub deploy_regression: Option<String>,
    /// `JourneyCanaryRegression` (default `ticket`).
    pub canary_regression: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Journey names; empty or absent: every journey.
    #[serde(default)]
    pub journeys: Vec<String>,
    /// `mon` … `sun` (or the full names); empty or absent: every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// Time of day the window opens, UTC, `"HH:MM"`.
    pub start: String,
    /// How long it stays open (`1h`; more than 0s, at most 7d).
    pub duration: String,
    /// Only `UTC` is accepted: written so a reader knows which zone `start` is in.
    pub timezone: Option<String>,
    /// Shown on the status page and in held alerts.
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receivers {
    /// Alertmanager instances (API v2); every alert goes to each.
    #[serde(default)]
    pub alertmanager: Vec<Receiver>,
    /// journeyd's JSON webhook.
    #[serde(default)]
    pub webhook: Vec<Receiver>,
    /// Slack-compatible incoming webhooks.
    #[serde(default)]
    pub slack: Vec<Receiver>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// The `receiver` metric label, unique across all receivers; default: the kind, then `kind-2`, ….
    pub name: Option<String>,
    /// `http://` or `https://`; Slack and webhook URLs are secrets and never shown.
    pub url: String,
    /// Alertmanager: how often firing alerts are re-sent (default `1m`).
    pub resend_interval: Option<String>,
    /// Webhook and Slack: reminders while firing (default `defaults.repeat_interval`).
    pub repeat_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Webhook/Slack messages queued per receiver; when full the oldest is dropped (at least 1; 1024).
    pub queue_capacity: Option<usize>,
    /// First retry delay, doubled per failure (`250ms`).
    pub initial_backoff: Option<String>,
    /// Longest retry delay (`30s`).
    pub max_backoff: Option<String>,
    /// Per-request deadline (`10s`).
    pub timeout: Option<String>,
}

/// The keys each mapping accepts, by path (`[]`: any sequence item, `*`: any key). Kept next to the types
/// above and checked against them by a test: the unknown-key check reports every unknown key at once,
/// where serde stops at the first.
pub const FIELDS: &[(&str, &[&str])] = &[
    ("", &["external_url", "external_labels", "defaults", "maintenance", "receivers", "delivery", "traces", "deploys"]),
    ("defaults", &["failure_threshold", "success_threshold", "repeat_interval", "severity", "cert_expiry"]),
    (
        "defaults.severity",
        &[
            "down",
            "degraded",
            "slo_fast",
            "slo_slow",
            "latency",
            "cert_expiring",
            "cert_expiring_soon",
            "deploy_regression",
            "canary_regression",
        ],
    ),
    ("defaults.cert_expiry", &["ticket", "page"]),
    ("maintenance[]", &["journeys", "days", "start", "duration", "timezone", "reason"]),
    ("receivers", &["alertmanager", "webhook", "slack"]),
    ("receivers.*[]", &["name", "url", "resend_interval", "repeat_interval"]),
    ("delivery", &["queue_capacity", "initial_backoff", "max_backoff", "timeout"]),
    (
        "traces",
        &[
            "endpoint",
            "protocol",
            "headers",
            "sample_passing",
            "trace_url",
            "service_name",
            "resource_attributes",
            "queue_capacity",
            "batch_size",
            "timeout",
        ],
    ),
    ("deploys", &["keep", "before", "decision"]),
];
