//! The settings file (`journeyd run --settings FILE`): alert defaults for every journey, labels and links
//! added to every alert, recurring maintenance windows, and where alerts are delivered.
//!
//! Journey files say *what* to check; this file says *who hears about it*. It is read at start and on
//! every reload. Errors name the file, the line and column of the offending value, show the line with a
//! caret under it, and say what to write instead: every mistake in the file, through the same diagnostics
//! as journey files (`config::diag`). The table of invalid files is `tests/settings_errors.rs`.
//!
//! Files: this one (the validated types and the entry points), `raw` (serde types, every field
//! documented, and the table of known keys), `keys` (every unknown key at once), `validate` (raw →
//! validated, one located diagnostic per mistake), `traces` (the `traces:` section).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::limits::{self, read_capped, ReadError, YamlError, MAX_YAML_BYTES};
use crate::config::{Diagnostics, FileCtx, Severity};

mod keys;
mod raw;
mod traces;
mod validate;

pub use traces::{trace_link, Protocol, TraceSettings};

/// Why a settings file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: cannot read the settings file: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// Every mistake found in the file, each with its `file:line:col`, the line, a caret and a hint.
    #[error("{}", located(.0))]
    Invalid(Diagnostics),
}

/// Diagnostics as settings and web-config errors print them: `file:line:col: message`, then the line
/// with a caret under the offending text and the hint, as `journeyd check` shows journey errors. The
/// headline has no `error:` (every entry is one): its wording is pinned by docs and tests.
pub(crate) fn located(diags: &Diagnostics) -> String {
    let plain: Vec<String> = diags
        .0
        .iter()
        .map(|d| {
            let text = d.to_string();
            let file = d.file.display();
            let (with, without) = if d.line == 0 {
                (format!("{file}: {}: ", d.severity), format!("{file}: "))
            } else {
                (
                    format!("{file}:{}:{}: {}: ", d.line, d.column, d.severity),
                    format!("{file}:{}:{}: ", d.line, d.column),
                )
            };
            match text.strip_prefix(&with) {
                Some(rest) if d.severity == Severity::Error => format!("{without}{rest}"),
                _ => text,
            }
        })
        .collect();
    plain.join("\n\n")
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
    /// `traces:`: OTLP export of runs and the `trace_url` link in alerts.
    pub traces: TraceSettings,
    /// `deploys:`: how many deploy markers are kept and the windows each is judged on.
    pub deploys: DeploySettings,
}

/// Most markers `deploys.keep` may ask for: each keeps a verdict per journey and step.
pub const MAX_DEPLOYS_KEPT: usize = 100;
/// Longest `deploys.before` or `deploys.decision`: the runs of the window before a marker are held in memory.
pub const MAX_DEPLOY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Deploy markers (`POST /api/v1/deploys`): how many are kept and the windows each is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploySettings {
    /// Markers kept with their verdicts; the oldest goes first.
    pub keep: usize,
    /// Runs this long before a marker are what runs after it are compared with.
    pub before: Duration,
    /// Runs this long after a marker are compared as they arrive; then the verdict is final.
    pub decision: Duration,
}

impl Default for DeploySettings {
    /// 30 minutes before (360 runs at `every: 5s`, enough for the tests to see a small change), 10 minutes
    /// to decide (long enough for slow journeys to run a few times, short enough to roll back in time).
    fn default() -> Self {
        DeploySettings { keep: 20, before: Duration::from_secs(1800), decision: Duration::from_secs(600) }
    }
}

/// Defaults for journeys that do not set their own.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDefaults {
    pub failure_threshold: u32,
    pub success_threshold: u32,
    /// How often webhook and Slack receivers are reminded of an alert that is still firing.
    pub repeat_interval: Duration,
    pub severity: Severities,
    /// When a step's certificate raises its alerts, for journeys that set no `alerts.cert_expiry`.
    pub cert_expiry: CertExpiryDefaults,
}

impl Default for AlertDefaults {
    fn default() -> Self {
        AlertDefaults {
            failure_threshold: 3,
            success_threshold: 2,
            repeat_interval: Duration::from_secs(4 * 3600),
            severity: Severities::default(),
            cert_expiry: CertExpiryDefaults::default(),
        }
    }
}

/// Time left before a certificate chain expires at which JourneyCertExpiring (`ticket`) and
/// JourneyCertExpiringSoon (`page`) fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertExpiryDefaults {
    pub ticket: Duration,
    pub page: Duration,
}

impl Default for CertExpiryDefaults {
    /// 21 and 7 days. ACME clients renew with a third of a 90-day certificate left (certbot and cert-manager
    /// at 30 days), so at 21 days renewal has been failing for over a week: a ticket, with three weeks to
    /// fix it in working hours. At 7 days one working week is left: a page. docs/alerting.md says why and
    /// what to set for shorter-lived certificates.
    fn default() -> Self {
        CertExpiryDefaults { ticket: Duration::from_secs(21 * 86_400), page: Duration::from_secs(7 * 86_400) }
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
    pub cert_expiring: String,
    pub cert_expiring_soon: String,
    pub deploy_regression: String,
    pub canary_regression: String,
}

impl Default for Severities {
    fn default() -> Self {
        Severities {
            down: "page".into(),
            degraded: "warning".into(),
            slo_fast: "page".into(),
            slo_slow: "ticket".into(),
            latency: "ticket".into(),
            cert_expiring: "ticket".into(),
            cert_expiring_soon: "page".into(),
            deploy_regression: "ticket".into(),
            canary_regression: "ticket".into(),
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

impl Settings {
    /// Reads and validates a settings file.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let bytes = read_capped(path, MAX_YAML_BYTES).map_err(|e| match e {
            ReadError::Io(source) => SettingsError::Read { path: path.to_path_buf(), source },
            too_large @ ReadError::TooLarge { at, .. } => {
                let mut ctx = FileCtx::unindexed(path, "");
                let hint = "journeyd's settings are a few kilobytes; is this the right file?".to_string();
                ctx.push(Severity::Error, at, format!("the settings file {too_large}"), Some(hint));
                SettingsError::Invalid(Diagnostics(ctx.finish()))
            }
        })?;
        let text = String::from_utf8(bytes).map_err(|_| SettingsError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"),
        })?;
        Settings::parse(path, &text)
    }

    /// Validates settings text; `path` is only used in messages. Reports every unknown key, else the
    /// first type error serde finds, else every semantic mistake.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, SettingsError> {
        let mut ctx = FileCtx::new(path, text);
        let settings = match parse_raw(&mut ctx, text) {
            Some(raw) => validate::settings(&mut ctx, raw),
            None => Settings::default(),
        };
        if ctx.has_errors() {
            // In file order, as a person fixes them.
            let mut diags = ctx.finish();
            diags.sort_by_key(|d| (d.line, d.column));
            return Err(SettingsError::Invalid(Diagnostics(diags)));
        }
        Ok(settings)
    }
}

/// The file as written, or `None` after reporting why it is not a settings file.
fn parse_raw(ctx: &mut FileCtx, text: &str) -> Option<raw::Settings> {
    if text.trim().is_empty() {
        return Some(raw::Settings::default());
    }
    let value: serde_yaml::Value = match limits::from_str(text) {
        Ok(v) => v,
        Err(YamlError::Limit(limit)) => {
            ctx.push(Severity::Error, limit.at, limit.message(), limit.hint());
            return None;
        }
        Err(YamlError::Serde(e)) => {
            serde_error(ctx, &e);
            return None;
        }
    };
    keys::check(ctx, &value);
    if ctx.has_errors() {
        return None;
    }
    // From the text, not the value: serde_yaml locates errors only there.
    match serde_yaml::from_str(text) {
        Ok(raw) => Some(raw),
        Err(e) => {
            serde_error(ctx, &e);
            None
        }
    }
}

/// A syntax or type error, where serde found it.
fn serde_error(ctx: &mut FileCtx, e: &serde_yaml::Error) {
    let (line, col) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let mut message = e.to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    let hint = "docs/alerting.md lists every settings key with its type".to_string();
    ctx.push(Severity::Error, crate::config::Pos { line, col }, message, Some(hint));
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
        assert_eq!(s.defaults.cert_expiry, CertExpiryDefaults::default(), "unset: 21d and 7d");
    }

    #[test]
    fn certificate_thresholds_and_severities_are_read() {
        let s =
            parse("defaults:\n  cert_expiry: { ticket: 30d }\n  severity: { cert_expiring_soon: urgent }\n").unwrap();
        let day = Duration::from_secs(86_400);
        assert_eq!((s.defaults.cert_expiry.ticket, s.defaults.cert_expiry.page), (30 * day, 7 * day));
        assert_eq!(s.defaults.severity.cert_expiring_soon, "urgent");
        assert_eq!(s.defaults.severity.cert_expiring, "ticket");
        let e = parse("defaults: { cert_expiry: { ticket: 3d } }").unwrap_err().to_string();
        assert!(e.contains("7d is longer than `ticket` (3d)"), "the default page counts in the order check: {e}");
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
        assert_eq!(
            e,
            "settings.yml:3:22: `defaults.failure_threshold`: must be at least 1\n  |\n3 |   failure_threshold: 0\n  |                      ^\n  = hint: 1 acts on a single run; the defaults are 3 (failure) and 2 (success)"
        );
        let e =
            parse("maintenance:\n  - { days: [sun, snday], start: '02:00', duration: 1h }\n").unwrap_err().to_string();
        assert_eq!(
            e.lines().next().unwrap(),
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
        let dir = std::env::temp_dir().join("journeyd-unit-tests");
        std::fs::create_dir_all(&dir).unwrap();
        // A fixed file every run overwrites with the same text: nothing piles up in /tmp.
        let big = dir.join("settings-big.yml");
        std::fs::write(&big, format!("# {}\n", "x".repeat(1 << 20))).unwrap();
        let e = Settings::load(&big).unwrap_err().to_string();
        assert!(
            e.lines()
                .next()
                .unwrap()
                .ends_with(":1:1048577: the settings file is larger than 1 MiB, the most journeyd reads from one"),
            "{e}"
        );
    }

    #[test]
    fn every_mistake_is_reported_not_just_the_first() {
        let e = parse("defaults: { failure_treshold: 2 }\nrecievers: {}\n").unwrap_err().to_string();
        assert!(e.contains("settings.yml:1:13: defaults: unknown field `failure_treshold`"), "{e}");
        assert!(e.contains("settings.yml:2:1: unknown field `recievers`"), "{e}");
        assert!(e.contains("= hint: did you mean `receivers`?"), "{e}");
        let e = parse("defaults:\n  failure_threshold: 0\ndelivery:\n  timeout: soon\n").unwrap_err().to_string();
        assert!(e.contains("settings.yml:2:22:") && e.contains("settings.yml:4:12:"), "{e}");
    }

    /// The unknown-key table lists exactly the fields serde accepts.
    #[test]
    fn the_key_table_matches_the_raw_types() {
        fn expected<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> String {
            let e = serde_yaml::from_str::<T>("zzz: 1").unwrap_err().to_string();
            // serde says `expected one of `a`, `b`, `c`` but `expected `a` or `b`` for two.
            let list = e.split("expected ").nth(1).unwrap().split(" at line").next().unwrap();
            list.trim_start_matches("one of ").replace("` or `", "`, `")
        }
        let serde = [
            ("", expected::<raw::Settings>()),
            ("defaults", expected::<raw::Defaults>()),
            ("defaults.severity", expected::<raw::Severity>()),
            ("defaults.cert_expiry", expected::<raw::CertExpiry>()),
            ("maintenance[]", expected::<raw::Window>()),
            ("receivers", expected::<raw::Receivers>()),
            ("receivers.*[]", expected::<raw::Receiver>()),
            ("delivery", expected::<raw::Delivery>()),
            ("traces", expected::<raw::Traces>()),
            ("deploys", expected::<raw::Deploys>()),
        ];
        assert_eq!(serde.len(), raw::FIELDS.len());
        for ((pattern, fields), (p, want)) in raw::FIELDS.iter().zip(serde) {
            assert_eq!(*pattern, p);
            let table: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
            assert_eq!(table.join(", "), want, "{pattern}");
        }
    }
}
