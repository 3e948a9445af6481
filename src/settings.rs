//! The settings file (`journeyd run --settings FILE`): alert defaults for every journey, labels and links
//! added to every alert, recurring maintenance windows, and where alerts are delivered.
//!
//! Journey files say *what* to check; this file says *who hears about it*. It is read at start and on
//! every reload. Errors name the file, the line and column of the offending value, and what to write
//! instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::limits::{self, read_capped, ReadError, YamlError, MAX_YAML_BYTES};
use crate::units::parse_duration;

/// Why a settings file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: cannot read the settings file: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}:{line}:{column}: `{field}`: {message}")]
    Invalid { path: PathBuf, line: usize, column: usize, field: String, message: String },
}

/// Validated settings. `Settings::default()` is what journeyd uses without a settings file: no receivers,
/// so alerts only show in metrics and on the status page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Base of the `generatorURL` link in every alert; `None`: `http://<listen>/`.
    pub external_url: Option<String>,
    /// Added to every alert's labels (cluster, region, team): identical across HA replicas so Alertmanager
    /// deduplicates them.
    pub external_labels: BTreeMap<String, String>,
    pub defaults: AlertDefaults,
    pub maintenance: Vec<RecurringWindow>,
    pub receivers: Vec<ReceiverConfig>,
    pub delivery: DeliveryConfig,
}

/// Defaults for journeys that do not set their own.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDefaults {
    pub failure_threshold: u32,
    pub success_threshold: u32,
    /// How often webhook and Slack receivers are reminded of an alert that is still firing.
    pub repeat_interval: Duration,
    pub severity: Severities,
}

impl Default for AlertDefaults {
    fn default() -> Self {
        AlertDefaults {
            failure_threshold: 3,
            success_threshold: 2,
            repeat_interval: Duration::from_secs(4 * 3600),
            severity: Severities::default(),
        }
    }
}

/// The `severity` label of each alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Severities {
    pub down: String,
    pub degraded: String,
    pub slo_fast: String,
    pub slo_slow: String,
    pub latency: String,
}

impl Default for Severities {
    fn default() -> Self {
        Severities {
            down: "page".into(),
            degraded: "warning".into(),
            slo_fast: "page".into(),
            slo_slow: "ticket".into(),
            latency: "ticket".into(),
        }
    }
}

/// A weekly window, in UTC: `{days: [sun], start: "02:00", duration: 1h}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecurringWindow {
    /// Journey names, or `*` for all.
    pub journeys: Vec<String>,
    /// 0 = Monday … 6 = Sunday.
    pub days: Vec<u8>,
    /// Seconds after midnight UTC.
    pub start_secs: u32,
    pub duration: Duration,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverKind {
    /// Alertmanager API v2: `POST {url}/api/v2/alerts`.
    Alertmanager,
    /// journeyd's JSON webhook (schema `version: "1"`, docs/alerting.md).
    Webhook,
    /// A Slack-compatible incoming webhook (`text` + `blocks`).
    Slack,
}

impl ReceiverKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReceiverKind::Alertmanager => "alertmanager",
            ReceiverKind::Webhook => "webhook",
            ReceiverKind::Slack => "slack",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverConfig {
    /// The `receiver` metric label: chosen by a person, never the URL (Slack URLs are secrets).
    pub name: String,
    pub kind: ReceiverKind,
    pub url: String,
    /// Alertmanager: how often firing alerts are re-sent (its resolve_timeout is 5m; endsAt = now + 4×this).
    pub resend_interval: Duration,
    /// Webhook/Slack: reminders while firing.
    pub repeat_interval: Duration,
}

/// How notifications are delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    /// Per-receiver queue of webhook/Slack messages; when full the oldest is dropped and counted.
    pub queue_capacity: usize,
    /// Retry backoff starts here and doubles per failure.
    pub initial_backoff: Duration,
    /// …up to this.
    pub max_backoff: Duration,
    /// Per-request deadline.
    pub timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            queue_capacity: 1024,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

pub const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);

mod raw {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Settings {
        pub external_url: Option<String>,
        #[serde(default)]
        pub external_labels: BTreeMap<String, String>,
        pub defaults: Option<Defaults>,
        #[serde(default)]
        pub maintenance: Vec<Window>,
        pub receivers: Option<Receivers>,
        pub delivery: Option<Delivery>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Defaults {
        pub failure_threshold: Option<u32>,
        pub success_threshold: Option<u32>,
        pub repeat_interval: Option<String>,
        pub severity: Option<Severity>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Severity {
        pub down: Option<String>,
        pub degraded: Option<String>,
        pub slo_fast: Option<String>,
        pub slo_slow: Option<String>,
        pub latency: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Window {
        #[serde(default)]
        pub journeys: Vec<String>,
        #[serde(default)]
        pub days: Vec<String>,
        pub start: String,
        pub duration: String,
        pub timezone: Option<String>,
        #[serde(default)]
        pub reason: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Receivers {
        #[serde(default)]
        pub alertmanager: Vec<Receiver>,
        #[serde(default)]
        pub webhook: Vec<Receiver>,
        #[serde(default)]
        pub slack: Vec<Receiver>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Receiver {
        pub name: Option<String>,
        pub url: String,
        pub resend_interval: Option<String>,
        pub repeat_interval: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Delivery {
        pub queue_capacity: Option<usize>,
        pub initial_backoff: Option<String>,
        pub max_backoff: Option<String>,
        pub timeout: Option<String>,
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Settings {
    /// Reads and validates a settings file.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let bytes = read_capped(path, MAX_YAML_BYTES).map_err(|e| match e {
            ReadError::Io(source) => SettingsError::Read { path: path.to_path_buf(), source },
            too_large @ ReadError::TooLarge { at, .. } => SettingsError::Parse {
                path: path.to_path_buf(),
                line: at.line,
                column: at.col,
                message: format!("the settings file {too_large}"),
            },
        })?;
        let text = String::from_utf8(bytes).map_err(|_| SettingsError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"),
        })?;
        Settings::parse(path, &text)
    }

    /// Validates settings text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, SettingsError> {
        let raw: raw::Settings = if text.trim().is_empty() {
            raw::Settings::default()
        } else {
            limits::from_str(text).map_err(|e| {
                let e = match e {
                    YamlError::Limit(limit) => {
                        let (line, column) = (limit.at.line, limit.at.col);
                        return SettingsError::Parse {
                            path: path.to_path_buf(),
                            line,
                            column,
                            message: limit.to_string(),
                        };
                    }
                    YamlError::Serde(e) => e,
                };
                let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
                let mut message = e.to_string();
                if let Some(i) = message.find(" at line ") {
                    message.truncate(i);
                }
                if let Some(hint) = unknown_field_hint(&message) {
                    message.push_str(&format!("; did you mean `{hint}`?"));
                }
                SettingsError::Parse { path: path.to_path_buf(), line, column, message }
            })?
        };
        // Semantic errors are found after serde is done: the position index locates the value they are
        // about (a label name: its key).
        let index = crate::config::PosIndex::build(text);
        let invalid = |field: &str, message: String| {
            let pos = if field.starts_with("external_labels.") { index.key(field) } else { index.value(field) };
            SettingsError::Invalid {
                path: path.to_path_buf(),
                line: pos.line,
                column: pos.col,
                field: field.to_string(),
                message,
            }
        };
        let dur = |field: &str, text: &Option<String>, default: Duration| -> Result<Duration, SettingsError> {
            match text {
                None => Ok(default),
                Some(t) => match parse_duration(t) {
                    Ok(d) if !d.is_zero() => Ok(d),
                    Ok(_) => Err(invalid(field, "must be longer than 0s".into())),
                    Err(e) => Err(invalid(field, e)),
                },
            }
        };
        let mut s = Settings::default();
        if let Some(url) = raw.external_url {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(invalid("external_url", format!("`{url}` is not an http:// or https:// URL")));
            }
            s.external_url = Some(url);
        }
        for k in raw.external_labels.keys() {
            let ok = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok || ["alertname", "journey", "severity"].contains(&k.as_str()) {
                let why =
                    if ok { "is set by journeyd itself" } else { "is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)" };
                return Err(invalid(&format!("external_labels.{k}"), format!("label `{k}` {why}")));
            }
        }
        s.external_labels = raw.external_labels;
        if let Some(d) = raw.defaults {
            for (field, v) in [
                ("defaults.failure_threshold", d.failure_threshold),
                ("defaults.success_threshold", d.success_threshold),
            ] {
                if v == Some(0) {
                    return Err(invalid(field, "must be at least 1".into()));
                }
            }
            s.defaults.failure_threshold = d.failure_threshold.unwrap_or(s.defaults.failure_threshold);
            s.defaults.success_threshold = d.success_threshold.unwrap_or(s.defaults.success_threshold);
            s.defaults.repeat_interval =
                dur("defaults.repeat_interval", &d.repeat_interval, s.defaults.repeat_interval)?;
            if let Some(sev) = d.severity {
                let sv = &mut s.defaults.severity;
                for (slot, v) in [
                    (&mut sv.down, sev.down),
                    (&mut sv.degraded, sev.degraded),
                    (&mut sv.slo_fast, sev.slo_fast),
                    (&mut sv.slo_slow, sev.slo_slow),
                    (&mut sv.latency, sev.latency),
                ] {
                    if let Some(v) = v {
                        *slot = v;
                    }
                }
            }
        }
        for (i, w) in raw.maintenance.into_iter().enumerate() {
            let field = format!("maintenance[{i}]");
            if let Some(tz) = &w.timezone {
                if !tz.eq_ignore_ascii_case("utc") {
                    let msg = format!("timezone `{tz}` is not supported; write the window in UTC (timezone: UTC)");
                    return Err(invalid(&format!("{field}.timezone"), msg));
                }
            }
            let mut days = Vec::new();
            for (j, d) in w.days.iter().enumerate() {
                let lower = d.to_ascii_lowercase();
                let key = lower.get(..3).unwrap_or(&lower);
                match DAYS.iter().position(|x| *x == key) {
                    Some(n) => days.push(n as u8),
                    None => {
                        let msg = format!("unknown day `{d}`; use {}", DAYS.join(", "));
                        return Err(invalid(&format!("{field}.days[{j}]"), msg));
                    }
                }
            }
            if days.is_empty() {
                days = (0..7).collect();
            }
            let start_secs = parse_clock(&w.start).ok_or_else(|| {
                invalid(
                    &format!("{field}.start"),
                    format!("`{}` is not a time of day; write it like \"02:00\"", w.start),
                )
            })?;
            let duration = dur(&format!("{field}.duration"), &Some(w.duration), Duration::ZERO)?;
            if duration > Duration::from_secs(7 * 86_400) {
                return Err(invalid(&format!("{field}.duration"), "a weekly window lasts at most 7d".into()));
            }
            let journeys = if w.journeys.is_empty() { vec!["*".to_string()] } else { w.journeys };
            s.maintenance.push(RecurringWindow { journeys, days, start_secs, duration, reason: w.reason });
        }
        if let Some(d) = raw.delivery {
            let dc = &mut s.delivery;
            if d.queue_capacity == Some(0) {
                return Err(invalid("delivery.queue_capacity", "must be at least 1".into()));
            }
            dc.queue_capacity = d.queue_capacity.unwrap_or(dc.queue_capacity);
            dc.initial_backoff = dur("delivery.initial_backoff", &d.initial_backoff, dc.initial_backoff)?;
            dc.max_backoff = dur("delivery.max_backoff", &d.max_backoff, dc.max_backoff)?;
            dc.timeout = dur("delivery.timeout", &d.timeout, dc.timeout)?;
        }
        if let Some(r) = raw.receivers {
            let groups = [
                (ReceiverKind::Alertmanager, r.alertmanager),
                (ReceiverKind::Webhook, r.webhook),
                (ReceiverKind::Slack, r.slack),
            ];
            for (kind, list) in groups {
                for (i, rc) in list.into_iter().enumerate() {
                    let field = format!("receivers.{}[{i}]", kind.as_str());
                    if !rc.url.starts_with("http://") && !rc.url.starts_with("https://") {
                        return Err(invalid(
                            &format!("{field}.url"),
                            "the url must start with http:// or https://".into(),
                        ));
                    }
                    let name = rc.name.unwrap_or_else(|| {
                        if i == 0 {
                            kind.as_str().to_string()
                        } else {
                            format!("{}-{}", kind.as_str(), i + 1)
                        }
                    });
                    if s.receivers.iter().any(|x| x.name == name) {
                        let msg = format!("receiver name `{name}` is used twice; give each receiver its own `name`");
                        return Err(invalid(&format!("{field}.name"), msg));
                    }
                    let resend_interval =
                        dur(&format!("{field}.resend_interval"), &rc.resend_interval, DEFAULT_RESEND_INTERVAL)?;
                    let repeat_interval =
                        dur(&format!("{field}.repeat_interval"), &rc.repeat_interval, s.defaults.repeat_interval)?;
                    s.receivers.push(ReceiverConfig {
                        name,
                        kind: kind.clone(),
                        url: rc.url,
                        resend_interval,
                        repeat_interval,
                    });
                }
            }
        }
        Ok(s)
    }
}

/// The closest expected field for serde's "unknown field `x`, expected one of `a`, `b`".
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (field, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    crate::config::did_you_mean(field, expected).map(str::to_string)
}

/// `HH:MM` → seconds after midnight.
fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 3600 + m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, SettingsError> {
        Settings::parse(Path::new("settings.yml"), text)
    }

    #[test]
    fn a_full_file_parses_with_defaults_filled_in() {
        let s = parse(
            r#"
external_url: https://journeyd.example/
external_labels: { cluster: eu1 }
defaults: { failure_threshold: 2, severity: { degraded: ticket } }
maintenance:
  - { journeys: [checkout], days: [sun, Saturday], start: "02:30", duration: 1h, timezone: UTC, reason: db }
receivers:
  alertmanager: [{ url: "http://127.0.0.1:9093" }, { url: "http://127.0.0.1:9094", resend_interval: 10s }]
  slack: [{ name: ops, url: "https://hooks.example/x" }]
delivery: { max_backoff: 2s }
"#,
        )
        .unwrap();
        assert_eq!(s.defaults.failure_threshold, 2);
        assert_eq!(s.defaults.success_threshold, 2);
        assert_eq!(s.defaults.severity.degraded, "ticket");
        assert_eq!(s.maintenance[0].days, vec![6, 5]);
        assert_eq!(s.maintenance[0].start_secs, 2 * 3600 + 30 * 60);
        let names: Vec<&str> = s.receivers.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["alertmanager", "alertmanager-2", "ops"]);
        assert_eq!(s.receivers[1].resend_interval, Duration::from_secs(10));
        assert_eq!(s.delivery.max_backoff, Duration::from_secs(2));
    }

    #[test]
    fn mistakes_are_explained() {
        let e = parse("defaults: { failure_treshold: 2 }").unwrap_err().to_string();
        assert!(e.starts_with("settings.yml:1:"), "{e}");
        assert!(e.contains("unknown field `failure_treshold`, expected one of"), "{e}");
        assert!(e.ends_with("did you mean `failure_threshold`?"), "{e}");
        let e = parse("maintenance: [{ start: '2am', duration: 1h }]").unwrap_err().to_string();
        assert!(e.contains("maintenance[0].start") && e.contains("\"02:00\""), "{e}");
        let e = parse("maintenance: [{ start: '02:00', duration: 1h, timezone: Europe/Paris }]").unwrap_err();
        assert!(e.to_string().contains("UTC"));
        let e = parse("external_labels: { severity: x }").unwrap_err().to_string();
        assert!(e.contains("set by journeyd"), "{e}");
        let e = parse("receivers: { webhook: [{ url: 'x' }, ] }").unwrap_err().to_string();
        assert!(e.contains("http://"), "{e}");
    }

    #[test]
    fn errors_found_after_parsing_point_at_the_value() {
        let e = parse("external_url: https://x/\ndefaults:\n  failure_threshold: 0\n").unwrap_err().to_string();
        assert_eq!(e, "settings.yml:3:22: `defaults.failure_threshold`: must be at least 1");
        let e =
            parse("maintenance:\n  - { days: [sun, snday], start: '02:00', duration: 1h }\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "settings.yml:2:19: `maintenance[0].days[1]`: unknown day `snday`; use mon, tue, wed, thu, fri, sat, sun"
        );
        let e = parse("external_labels:\n  cluster: eu1\n  severity: x\n").unwrap_err().to_string();
        assert!(e.starts_with("settings.yml:3:3: `external_labels.severity`:"), "{e}");
        let e = parse("receivers:\n  webhook:\n    - url: ftp://x\n").unwrap_err().to_string();
        assert!(e.starts_with("settings.yml:3:12: `receivers.webhook[0].url`:"), "{e}");
    }

    #[test]
    fn input_limits_apply_before_parsing() {
        let mut laughs = String::from("external_labels:\n  b0: &b0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..6 {
            laughs.push_str(&format!("  b{i}: &b{i} [{}]\n", vec![format!("*b{}", i - 1); 10].join(", ")));
        }
        let e = parse(&laughs).unwrap_err().to_string();
        assert!(e.starts_with("settings.yml:6:"), "{e}");
        assert!(e.contains("aliases expand this file past 100000 nodes"), "{e}");
        let deep = format!("external_labels: {}{}\n", "{a: ".repeat(70), "}".repeat(70));
        assert!(parse(&deep).unwrap_err().to_string().contains("nested deeper than 64 levels"));
        let big = std::env::temp_dir().join(format!("journeyd-settings-big-{}.yml", std::process::id()));
        std::fs::write(&big, format!("# {}\n", "x".repeat(1 << 20))).unwrap();
        let e = Settings::load(&big).unwrap_err().to_string();
        assert!(
            e.ends_with(":1:1048577: the settings file is larger than 1 MiB, the most journeyd reads from one"),
            "{e}"
        );
    }
}
