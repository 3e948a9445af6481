//! The journey keys `alerts:` and `slo:`: validated into `model::AlertRules`. Defaults for unset values
//! live in the settings file (`crate::settings`), not here, so one file changes them for every journey.

use std::time::Duration;

use super::diag::FileCtx;
use super::fields::duration;
use super::position::{index_path, key_path};
use super::raw::{RawAlerts, RawLatency, RawSlo};
use super::suggest;
use crate::model::{AlertRules, LatencyRule, Slo};

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
        out.success_threshold = a.success_threshold.filter(|n| *n > 0);
        for (i, l) in a.latency.iter().enumerate() {
            if let Some(rule) = latency_rule(ctx, &index_path("alerts.latency", i), l, steps) {
                out.latency.push(rule);
            }
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
}
