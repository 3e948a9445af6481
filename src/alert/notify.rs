//! Alerts as receivers see them, and the three wire formats: Alertmanager API v2, journeyd's webhook
//! (documented in docs/alerting.md, `version: "1"`), and a Slack-compatible incoming-webhook message.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::units::rfc3339_millis;

/// The closed set of alerts journeyd raises (the `alertname` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertName {
    Down,
    Degraded,
    SloBurnFast,
    SloBurnSlow,
    Latency,
    /// A step's certificate chain expires within the ticket threshold.
    CertExpiring,
    /// …within the page threshold.
    CertExpiringSoon,
    /// A journey or step got slower or less available after a deploy marker (src/deploys/).
    DeployRegression,
    /// A journey's canary target is slower or less available than its baseline target (src/canary/).
    CanaryRegression,
}

impl AlertName {
    pub const ALL: [AlertName; 9] = [
        AlertName::Down,
        AlertName::Degraded,
        AlertName::SloBurnFast,
        AlertName::SloBurnSlow,
        AlertName::Latency,
        AlertName::CertExpiring,
        AlertName::CertExpiringSoon,
        AlertName::DeployRegression,
        AlertName::CanaryRegression,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertName::Down => "JourneyDown",
            AlertName::Degraded => "JourneyDegraded",
            AlertName::SloBurnFast => "JourneySLOBurnFast",
            AlertName::SloBurnSlow => "JourneySLOBurnSlow",
            AlertName::Latency => "JourneyLatency",
            AlertName::CertExpiring => "JourneyCertExpiring",
            AlertName::CertExpiringSoon => "JourneyCertExpiringSoon",
            AlertName::DeployRegression => "JourneyDeployRegression",
            AlertName::CanaryRegression => "JourneyCanaryRegression",
        }
    }
}

/// One alert: labels identify it (Alertmanager deduplicates on them), annotations explain it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: SystemTime,
    /// `Some`: resolved at that time.
    pub ends_at: Option<SystemTime>,
    pub generator_url: String,
}

impl Alert {
    /// The identity of the alert: its label set.
    pub fn key(&self) -> String {
        self.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join(",")
    }

    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    pub fn resolved(&self) -> bool {
        self.ends_at.is_some()
    }
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// It started firing: every receiver is told now.
    Firing,
    /// It stopped: every receiver is told now.
    Resolved,
    /// Still firing with new annotations (fresh evidence): Alertmanager gets it with the next send,
    /// webhooks with the next reminder.
    Update,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub alert: Alert,
}

/// The Alertmanager v2 body: firing alerts carry `endsAt` = now + 4 × the resend interval (so a lost
/// journeyd lets them expire), resolved ones their resolution time.
pub fn alertmanager_body(alerts: &[Alert], now: SystemTime, resend: Duration) -> Value {
    let items: Vec<Value> = alerts
        .iter()
        .map(|a| {
            json!({
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339_millis(a.starts_at),
                "endsAt": rfc3339_millis(a.ends_at.unwrap_or(now + resend * 4)),
                "generatorURL": a.generator_url,
            })
        })
        .collect();
    Value::Array(items)
}

/// journeyd's webhook body, schema version 1: one alert per message.
pub fn webhook_body(receiver: &str, a: &Alert, reminder: bool) -> Value {
    json!({
        "version": "1",
        "receiver": receiver,
        "status": if a.resolved() { "resolved" } else { "firing" },
        "reminder": reminder,
        "alert": {
            "alertname": a.label("alertname"),
            "journey": a.label("journey"),
            "severity": a.label("severity"),
            "labels": a.labels,
            "annotations": a.annotations,
            "startsAt": rfc3339_millis(a.starts_at),
            "endsAt": a.ends_at.map(rfc3339_millis),
            "generatorURL": a.generator_url,
        }
    })
}

/// A Slack incoming-webhook message: `text` for notifications, `blocks` for the channel.
/// ` · <url|open the trace>` when the alert carries a `trace_url` annotation.
fn trace_link(a: &Alert) -> String {
    a.annotations.get("trace_url").map(|u| format!(" · <{u}|open the trace>")).unwrap_or_default()
}

pub fn slack_body(a: &Alert, reminder: bool) -> Value {
    let state = match (a.resolved(), reminder) {
        (true, _) => "RESOLVED",
        (false, true) => "STILL FIRING",
        (false, false) => "FIRING",
    };
    let summary = a.annotations.get("summary").cloned().unwrap_or_default();
    let text =
        format!("[{state}] {} {} ({}): {summary}", a.label("alertname"), a.label("journey"), a.label("severity"));
    let mut detail = String::new();
    for key in ["step", "reason", "description", "evidence", "expires_at", "suppressed_by"] {
        if let Some(v) = a.annotations.get(key) {
            detail.push_str(&format!("*{key}*: {}\n", v.replace('`', "'")));
        }
    }
    let mut blocks = vec![json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("*{text}*") } })];
    if !detail.is_empty() {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": detail.trim_end() } }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": format!("<{}|open in journeyd>{} · since {}", a.generator_url, trace_link(a), rfc3339_millis(a.starts_at)) }]
    }));
    json!({ "text": text, "blocks": blocks })
}
