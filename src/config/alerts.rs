//! The journey keys `alerts:` and `slo:`: validated into `model::AlertRules`. Defaults for unset values
//! live in the settings file (`crate::settings`), not here, so one file changes them for every journey.

use std::time::Duration;

use super::diag::FileCtx;
use super::fields::duration;
use super::position::{index_path, key_path};
use super::raw::{RawAlerts, RawCertExpiry, RawLatency, RawSlo, Scalar};
use super::suggest;
use crate::model::{AlertRules, CertExpiry, LatencyRule, Slo};
use crate::units::{format_duration, parse_duration};

/// The latency window when a rule sets none: long enough for a p99 over a few runs, short enough to page.
pub const DEFAULT_LATENCY_WINDOW: Duration = Duration::from_secs(5 * 60);
/// The SLO compliance window when `slo` sets none.
pub const DEFAULT_SLO_WINDOW: Duration = Duration::from_secs(30 * 86_400);
/// The quantile when a latency rule sets none.
pub const DEFAULT_QUANTILE: f64 = 0.99;
/// The longest SLO window: the coarse buckets are hourly, and 90 days of them stay small.
const MAX_SLO_WINDOW: Duration = Duration::from_secs(90 * 86_400);
/// The longest latency window: samples are kept in memory.
const MAX_LATENCY_WINDOW: Duration = Duration::from_secs(6 * 3600);

/// Most immediate retries of a failed monitor run (`alerts.confirm`).
pub const MAX_CONFIRM: u32 = 10;

/// What certificate thresholds look like, for their errors.
const DAYS_HINT: &str = "certificate thresholds are time left, usually in days: ticket: 21d, page: 7d";

/// Parses `p99`, `p99.9` or `0.99` into a ratio in (0, 1].
pub fn parse_quantile(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let q = match t.strip_prefix('p') {
        Some(pct) => pct.parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("invalid quantile `{t}`; write p99, p95, p99.9 or a ratio like 0.99"))?;
    if !(q > 0.0 && q <= 1.0) {
        return Err(format!("quantile `{t}` is out of range; it must be above 0 and at most 1 (p100)"));
    }
    Ok(q)
}

/// Parses `99.9%` or `0.999` into a ratio strictly between 0 and 1.
pub fn parse_objective(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let r = match t.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("invalid availability `{t}`; write a percentage like 99.9% or a ratio like 0.999"))?;
    if !(r > 0.0 && r < 1.0) {
        return Err(format!(
            "availability `{t}` leaves no error budget or no room for success; it must be above 0% and below 100%"
        ));
    }
    Ok(r)
}

/// Validates `alerts:` and `slo:`; `steps` are the journey's step names (for `latency[].step`).
pub fn build_alerts(
    ctx: &mut FileCtx,
    alerts: Option<&RawAlerts>,
    slo: Option<&RawSlo>,
    steps: &[String],
) -> AlertRules {
    let mut out = AlertRules::default();
    if let Some(a) = alerts {
        for (key, value) in [("failure_threshold", a.failure_threshold), ("success_threshold", a.success_threshold)] {
            if value == Some(0) {
                ctx.error(&key_path("alerts", key), format!("{key} must be at least 1"), None);
            }
        }
        out.failure_threshold = a.failure_threshold.filter(|n| *n > 0);
        match a.confirm {
            Some(n) if n > MAX_CONFIRM => ctx.error(
                &key_path("alerts", "confirm"),
                format!("confirm {n} is more than {MAX_CONFIRM} retries"),
                Some(format!(
                    "a run is retried at once; {MAX_CONFIRM} retries already confirm an outage (raise failure_threshold \
                     to wait longer)"
                )),
            ),
            Some(n) => out.confirm = n,
            None => {}
        }
        out.success_threshold = a.success_threshold.filter(|n| *n > 0);
        for (i, l) in a.latency.iter().enumerate() {
            if let Some(rule) = latency_rule(ctx, &index_path("alerts.latency", i), l, steps) {
                out.latency.push(rule);
            }
        }
        if let Some(c) = &a.cert_expiry {
            out.cert_expiry = cert_expiry(ctx, c);
        }
    }
    if let Some(s) = slo {
        let objective = match parse_objective(&s.availability.0) {
            Ok(r) => Some(r),
            Err(e) => {
                ctx.error("slo.availability", e, None);
                None
            }
        };
        let window = match &s.window {
            None => Some(DEFAULT_SLO_WINDOW),
            Some(w) => duration(ctx, "slo.window", &w.0).and_then(|w| {
                if w < Duration::from_secs(3600) || w > MAX_SLO_WINDOW {
                    let hint = "SLO windows are counted in hourly buckets: use 1h to 90d, typically 28d or 30d";
                    ctx.error("slo.window", "the SLO window must be between 1h and 90d", Some(hint.into()));
                    None
                } else {
                    Some(w)
                }
            }),
        };
        if let (Some(objective), Some(window)) = (objective, window) {
            out.slo = Some(Slo { objective, window });
        }
    }
    out
}

/// `alerts.cert_expiry`: each a duration; written together, the page must not come before the ticket. (With
/// one of them from the settings file that is not checked here: the alerts then simply fire in that order.)
fn cert_expiry(ctx: &mut FileCtx, c: &RawCertExpiry) -> CertExpiry {
    let mut days = |path: &str, text: &Option<Scalar>| {
        let text = &text.as_ref()?.0;
        match parse_duration(text) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                ctx.error(path, "must be longer than 0s", Some(DAYS_HINT.into()));
                None
            }
            Err(e) => {
                ctx.error(path, e, Some(DAYS_HINT.into()));
                None
            }
        }
    };
    let ticket = days("alerts.cert_expiry.ticket", &c.ticket);
    let page = days("alerts.cert_expiry.page", &c.page);
    if let (Some(t), Some(p)) = (ticket, page) {
        if p > t {
            let (p, t) = (format_duration(p), format_duration(t));
            ctx.error(
                "alerts.cert_expiry.page",
                format!("`page` ({p}) is longer than `ticket` ({t}): the page would come before the ticket"),
                Some(format!("page is the nearer threshold: e.g. {{ ticket: {p}, page: {t} }}")),
            );
            return CertExpiry::default();
        }
    }
    CertExpiry { ticket, page }
}

fn latency_rule(ctx: &mut FileCtx, path: &str, l: &RawLatency, steps: &[String]) -> Option<LatencyRule> {
    let mut ok = true;
    if let Some(step) = &l.step {
        if !steps.iter().any(|s| s == step) {
            let hint = suggest::hint(step, steps.iter().map(String::as_str))
                .or_else(|| Some(format!("steps of this journey: {}", steps.join(", "))));
            ctx.error(&key_path(path, "step"), format!("latency rule names unknown step `{step}`"), hint);
            ok = false;
        }
    }
    let quantile = match &l.quantile {
        None => DEFAULT_QUANTILE,
        Some(q) => parse_quantile(&q.0).unwrap_or_else(|e| {
            ctx.error(&key_path(path, "quantile"), e, None);
            ok = false;
            DEFAULT_QUANTILE
        }),
    };
    let budget = duration(ctx, &key_path(path, "budget"), &l.budget.0);
    let window = match &l.window {
        None => Some(DEFAULT_LATENCY_WINDOW),
        Some(w) => duration(ctx, &key_path(path, "window"), &w.0).and_then(|w| {
            if w > MAX_LATENCY_WINDOW {
                ctx.error(&key_path(path, "window"), "a latency window is at most 6h", None);
                None
            } else {
                Some(w)
            }
        }),
    };
    match (ok, budget, window) {
        (true, Some(budget), Some(window)) => Some(LatencyRule { step: l.step.clone(), quantile, budget, window }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_objectives_parse_or_explain() {
        assert_eq!(parse_quantile("p99").unwrap(), 0.99);
        assert!((parse_quantile("p99.9").unwrap() - 0.999).abs() < 1e-12);
        assert_eq!(parse_quantile("0.5").unwrap(), 0.5);
        assert!(parse_quantile("p0").unwrap_err().contains("out of range"));
        assert!(parse_quantile("high").unwrap_err().contains("p99"));
        assert!((parse_objective("99.9%").unwrap() - 0.999).abs() < 1e-12);
        assert_eq!(parse_objective("0.95").unwrap(), 0.95);
        assert!(parse_objective("100%").unwrap_err().contains("below 100%"));
        assert!(parse_objective("nines").unwrap_err().contains("99.9%"));
    }

    #[test]
    fn certificate_thresholds_are_optional_and_ordered() {
        let day = Duration::from_secs(86_400);
        let read = |yaml: &str| {
            let raw: RawCertExpiry = serde_yaml::from_str(yaml).unwrap();
            let mut ctx = FileCtx::new(std::path::Path::new("j.yml"), yaml);
            let c = cert_expiry(&mut ctx, &raw);
            (c, ctx.finish().len())
        };
        assert_eq!(
            read("{ ticket: 30d, page: 10d }"),
            (CertExpiry { ticket: Some(30 * day), page: Some(10 * day) }, 0)
        );
        assert_eq!(read("{ page: 3d }"), (CertExpiry { ticket: None, page: Some(3 * day) }, 0));
        assert_eq!(read("{ ticket: 3d, page: 10d }"), (CertExpiry::default(), 1));
    }
}
