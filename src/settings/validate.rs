//! From the raw file to [`Settings`]: every semantic mistake becomes a located diagnostic, and checking
//! goes on after one, so a file with three mistakes reports three.

use std::time::Duration;

use super::raw;
use super::{
    ReceiverConfig, ReceiverKind, RecurringWindow, Settings, DEFAULT_RESEND_INTERVAL, MAX_DEPLOYS_KEPT,
    MAX_DEPLOY_WINDOW,
};
use crate::config::FileCtx;
use crate::units::{format_duration, parse_duration};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const DURATION_HINT: &str = "write a duration like 30s, 5m or 1h";

/// An error at the value of `field`, its message prefixed with the field (``` `delivery.timeout`: … ```).
pub(super) fn invalid(ctx: &mut FileCtx, field: &str, message: String, hint: Option<String>) {
    ctx.error(field, format!("`{field}`: {message}"), hint);
}

/// A duration longer than 0s, or `default` when absent; `None` after reporting a bad one.
pub(super) fn duration(ctx: &mut FileCtx, field: &str, text: &Option<String>, default: Duration) -> Option<Duration> {
    match text {
        None => Some(default),
        Some(t) => match parse_duration(t) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                invalid(ctx, field, "must be longer than 0s".into(), Some(DURATION_HINT.into()));
                None
            }
            Err(e) => {
                invalid(ctx, field, e, Some(DURATION_HINT.into()));
                None
            }
        },
    }
}

pub(super) fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// Validates everything serde could not; the settings are only used when `ctx` has no errors.
pub(super) fn settings(ctx: &mut FileCtx, raw: raw::Settings) -> Settings {
    let mut s = Settings::default();
    if let Some(url) = raw.external_url {
        if !is_http(&url) {
            let hint = "the address people open journeyd at, e.g. https://journeyd.example/".to_string();
            invalid(ctx, "external_url", format!("`{url}` is not an http:// or https:// URL"), Some(hint));
        }
        s.external_url = Some(url);
    }
    for k in raw.external_labels.keys() {
        let ok = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok || ["alertname", "journey", "severity"].contains(&k.as_str()) {
            let (why, hint) = if ok {
                ("is set by journeyd itself", "alertname, journey and severity are journeyd's own; pick another name")
            } else {
                ("is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)", "use letters, digits and _, e.g. `team_name`")
            };
            let field = format!("external_labels.{k}");
            ctx.error_key(&field, format!("`{field}`: label `{k}` {why}"), Some(hint.into()));
        }
    }
    s.external_labels = raw.external_labels;
    if let Some(d) = raw.defaults {
        defaults(ctx, d, &mut s);
    }
    for (i, w) in raw.maintenance.into_iter().enumerate() {
        if let Some(w) = window(ctx, &format!("maintenance[{i}]"), w) {
            s.maintenance.push(w);
        }
    }
    if let Some(d) = raw.delivery {
        let dc = &mut s.delivery;
        if d.queue_capacity == Some(0) {
            let hint = "the default, 1024, holds a long outage of one receiver".to_string();
            invalid(ctx, "delivery.queue_capacity", "must be at least 1".into(), Some(hint));
        }
        dc.queue_capacity = d.queue_capacity.unwrap_or(dc.queue_capacity);
        let fields = [
            ("delivery.initial_backoff", &d.initial_backoff, &mut dc.initial_backoff),
            ("delivery.max_backoff", &d.max_backoff, &mut dc.max_backoff),
            ("delivery.timeout", &d.timeout, &mut dc.timeout),
        ];
        for (field, text, slot) in fields {
            *slot = duration(ctx, field, text, *slot).unwrap_or(*slot);
        }
    }
    if let Some(r) = raw.receivers {
        receivers(ctx, r, &mut s);
    }
    if let Some(t) = raw.traces {
        s.traces = super::traces::validate(ctx, t);
    }
    if let Some(d) = raw.deploys {
        deploys(ctx, d, &mut s);
    }
    s
}

/// `deploys`: a bounded number of markers and two windows, the decision no longer than the window before.
fn deploys(ctx: &mut FileCtx, d: raw::Deploys, s: &mut Settings) {
    let slots = &mut s.deploys;
    if let Some(keep) = d.keep {
        if (1..=MAX_DEPLOYS_KEPT).contains(&keep) {
            slots.keep = keep;
        } else {
            let hint = format!("between 1 and {MAX_DEPLOYS_KEPT}; the default, 20, covers a busy week");
            invalid(ctx, "deploys.keep", format!("{keep} markers is out of range"), Some(hint));
        }
    }
    let before = duration(ctx, "deploys.before", &d.before, slots.before);
    let decision = duration(ctx, "deploys.decision", &d.decision, slots.decision);
    for (field, value) in [("deploys.before", before), ("deploys.decision", decision)] {
        if value.is_some_and(|v| v > MAX_DEPLOY_WINDOW) {
            let hint = "the runs of the window are kept in memory; the defaults are 30m and 10m".to_string();
            invalid(ctx, field, format!("at most {}", format_duration(MAX_DEPLOY_WINDOW)), Some(hint));
        }
    }
    slots.before = before.unwrap_or(slots.before).min(MAX_DEPLOY_WINDOW);
    slots.decision = decision.unwrap_or(slots.decision).min(MAX_DEPLOY_WINDOW);
}

fn defaults(ctx: &mut FileCtx, d: raw::Defaults, s: &mut Settings) {
    for (field, v) in
        [("defaults.failure_threshold", d.failure_threshold), ("defaults.success_threshold", d.success_threshold)]
    {
        if v == Some(0) {
            let hint = "1 acts on a single run; the defaults are 3 (failure) and 2 (success)".to_string();
            invalid(ctx, field, "must be at least 1".into(), Some(hint));
        }
    }
    s.defaults.failure_threshold = d.failure_threshold.unwrap_or(s.defaults.failure_threshold);
    s.defaults.success_threshold = d.success_threshold.unwrap_or(s.defaults.success_threshold);
    let repeat = s.defaults.repeat_interval;
    s.defaults.repeat_interval =
        duration(ctx, "defaults.repeat_interval", &d.repeat_interval, repeat).unwrap_or(repeat);
    if let Some(c) = d.cert_expiry {
        cert_expiry(ctx, c, s);
    }
    if let Some(sev) = d.severity {
        let sv = &mut s.defaults.severity;
        for (slot, v) in [
            (&mut sv.down, sev.down),
            (&mut sv.degraded, sev.degraded),
            (&mut sv.slo_fast, sev.slo_fast),
            (&mut sv.slo_slow, sev.slo_slow),
            (&mut sv.latency, sev.latency),
            (&mut sv.cert_expiring, sev.cert_expiring),
            (&mut sv.cert_expiring_soon, sev.cert_expiring_soon),
            (&mut sv.deploy_regression, sev.deploy_regression),
            (&mut sv.canary_regression, sev.canary_regression),
        ] {
            if let Some(v) = v {
                *slot = v;
            }
        }
    }
}

/// `defaults.cert_expiry`: two durations, the page no earlier than the ticket.
fn cert_expiry(ctx: &mut FileCtx, c: raw::CertExpiry, s: &mut Settings) {
    let slots = &mut s.defaults.cert_expiry;
    let ticket = duration(ctx, "defaults.cert_expiry.ticket", &c.ticket, slots.ticket);
    let page = duration(ctx, "defaults.cert_expiry.page", &c.page, slots.page);
    if let (Some(t), Some(p)) = (ticket, page) {
        if p > t {
            let (p, t) = (format_duration(p), format_duration(t));
            let msg = format!("{p} is longer than `ticket` ({t}): the page would come before the ticket");
            let hint = "page is the nearer threshold, e.g. { ticket: 21d, page: 7d } (the defaults)".to_string();
            invalid(ctx, "defaults.cert_expiry.page", msg, Some(hint));
            return;
        }
    }
    slots.ticket = ticket.unwrap_or(slots.ticket);
    slots.page = page.unwrap_or(slots.page);
}

/// One weekly window; `None` when it has a mistake (reported).
fn window(ctx: &mut FileCtx, field: &str, w: raw::Window) -> Option<RecurringWindow> {
    let before = ctx.diags.len();
    if let Some(tz) = &w.timezone {
        if !tz.eq_ignore_ascii_case("utc") {
            let msg = format!("timezone `{tz}` is not supported; write the window in UTC (timezone: UTC)");
            invalid(ctx, &format!("{field}.timezone"), msg, None);
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
                invalid(ctx, &format!("{field}.days[{j}]"), msg, None);
            }
        }
    }
    if days.is_empty() {
        days = (0..7).collect();
    }
    let start_secs = parse_clock(&w.start);
    if start_secs.is_none() {
        let msg = format!("`{}` is not a time of day; write it like \"02:00\"", w.start);
        invalid(ctx, &format!("{field}.start"), msg, Some("24-hour clock, UTC".into()));
    }
    let duration_field = format!("{field}.duration");
    let duration = duration(ctx, &duration_field, &Some(w.duration), Duration::ZERO);
    if duration.is_some_and(|d| d > Duration::from_secs(7 * 86_400)) {
        let hint = "for a longer outage open an ad hoc window (POST /api/v1/maintenance)".to_string();
        invalid(ctx, &duration_field, "a weekly window lasts at most 7d".into(), Some(hint));
    }
    if ctx.diags.len() > before {
        return None;
    }
    let journeys = if w.journeys.is_empty() { vec!["*".to_string()] } else { w.journeys };
    Some(RecurringWindow { journeys, days, start_secs: start_secs?, duration: duration?, reason: w.reason })
}

fn receivers(ctx: &mut FileCtx, r: raw::Receivers, s: &mut Settings) {
    let groups = [
        (ReceiverKind::Alertmanager, r.alertmanager),
        (ReceiverKind::Webhook, r.webhook),
        (ReceiverKind::Slack, r.slack),
    ];
    for (kind, list) in groups {
        for (i, rc) in list.into_iter().enumerate() {
            let field = format!("receivers.{}[{i}]", kind.as_str());
            if kind != ReceiverKind::Alertmanager && is_http(&rc.url) {
                // Slack and webhook URLs carry their credentials: never in a snippet.
                ctx.secrets.push(rc.url.clone());
            }
            if !is_http(&rc.url) {
                let hint = format!("e.g. {}", example_url(&kind));
                invalid(ctx, &format!("{field}.url"), "the url must start with http:// or https://".into(), Some(hint));
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
                let hint = "the name is the `receiver` label of journeyd_notifications_total".to_string();
                invalid(ctx, &format!("{field}.name"), msg, Some(hint));
            }
            let resend =
                duration(ctx, &format!("{field}.resend_interval"), &rc.resend_interval, DEFAULT_RESEND_INTERVAL);
            let repeat_default = s.defaults.repeat_interval;
            let repeat = duration(ctx, &format!("{field}.repeat_interval"), &rc.repeat_interval, repeat_default);
            s.receivers.push(ReceiverConfig {
                name,
                kind: kind.clone(),
                url: rc.url,
                resend_interval: resend.unwrap_or(DEFAULT_RESEND_INTERVAL),
                repeat_interval: repeat.unwrap_or(repeat_default),
            });
        }
    }
}

fn example_url(kind: &ReceiverKind) -> &'static str {
    match kind {
        ReceiverKind::Alertmanager => "http://alertmanager:9093",
        ReceiverKind::Webhook => "https://hooks.example/journeyd",
        ReceiverKind::Slack => "https://hooks.slack.com/services/…",
    }
}

/// `HH:MM` → seconds after midnight.
pub(super) fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 3600 + m * 60)
}
