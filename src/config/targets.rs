//! `targets:` and `canary:` — a journey run against 2–4 named targets side by side (stable beside canary),
//! each non-baseline target compared with the baseline (src/canary/).
//!
//! The baseline is `canary.baseline` when written, else the target named `stable`, else the first one
//! written: a file that says only `targets: { stable: …, canary: … }` compares the canary with stable.

use std::time::Duration;

use super::build::{target_url, template};
use super::diag::FileCtx;
use super::fields::duration;
use super::raw::{OrderedMap, RawCanary, RawJourney, Scalar};
use super::templates::{Env, Names};
use super::LoadOptions;
use crate::model::{Targets, Template};

/// Fewest and most targets: one is `target:`; more than four would multiply the load on every tick.
const MIN_TARGETS: usize = 2;
const MAX_TARGETS: usize = 4;
/// Longest target name: it is a label value.
const MAX_NAME: usize = 32;
/// `canary.window` when unset.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);
/// Shortest window: below it too few runs fit to compare at any usual `every`.
const MIN_WINDOW: Duration = Duration::from_secs(10);

/// The validated `targets:` (`None` when absent, invalid — reported — or replaced by `verify --target`).
pub(super) fn build_targets(
    ctx: &mut FileCtx,
    raw: &RawJourney,
    opts: &LoadOptions,
    names: &Names,
    env: &mut Env,
) -> Option<Targets> {
    if raw.canary.is_some() && raw.targets.is_none() {
        let hint = "name the targets to compare: targets: { stable: https://shop.example, canary: https://canary.shop.example }";
        ctx.error_key("canary", "`canary` compares the journey's `targets`, and it has none", Some(hint.into()));
    }
    let written = raw.targets.as_ref()?;
    if raw.target.is_some() {
        let hint = "keep `targets` (stable, canary, …) and remove `target`, or the other way round";
        ctx.error_key("targets", "`target` and `targets` cannot both be set", Some(hint.into()));
        return None;
    }
    let window = window(ctx, raw.canary.as_ref());
    let mut named = named(ctx, written, names, env);
    // Checked even when `verify --target` replaces them, so a file is valid or not whatever the flags.
    if opts.target_override.is_some() {
        return None;
    }
    let baseline = baseline(ctx, written, raw.canary.as_ref())?;
    if ctx.has_errors() {
        return None;
    }
    let first = named.remove(baseline);
    named.insert(0, first);
    Some(Targets { named: named.into_iter().map(|(n, t)| (n, t.expect("no errors"))).collect(), window: window? })
}

fn named(
    ctx: &mut FileCtx,
    written: &OrderedMap<Scalar>,
    names: &Names,
    env: &mut Env,
) -> Vec<(String, Option<Template>)> {
    let count = written.0.len();
    if !(MIN_TARGETS..=MAX_TARGETS).contains(&count) {
        let hint = "name two to four targets, the baseline and what is compared with it (stable, canary)";
        ctx.error_key(
            "targets",
            format!("{count} targets; a journey compares {MIN_TARGETS} to {MAX_TARGETS}"),
            Some(hint.into()),
        );
    }
    let mut out = Vec::new();
    for (name, url) in &written.0 {
        let path = format!("targets.{name}");
        let ok = !name.is_empty()
            && name.len() <= MAX_NAME
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            let msg = format!("target name `{name}` is not 1–32 of a-z, 0-9, `_`, `-`");
            ctx.error_key(&path, msg, Some("it becomes the `target` label: use a short name like canary".into()));
        }
        let t = template(ctx, &path, &url.0, names, env);
        out.push((name.clone(), t.map(|t| target_url(ctx, &path, t))));
    }
    out
}

/// The baseline's index in the written order.
fn baseline(ctx: &mut FileCtx, written: &OrderedMap<Scalar>, canary: Option<&RawCanary>) -> Option<usize> {
    let position = |name: &str| written.0.iter().position(|(n, _)| n == name);
    match canary.and_then(|c| c.baseline.as_deref()) {
        Some(name) => {
            let found = position(name);
            if found.is_none() {
                let known: Vec<&str> = written.0.iter().map(|(n, _)| n.as_str()).collect();
                let msg = format!("baseline `{name}` is not one of the targets ({})", known.join(", "));
                ctx.error("canary.baseline", msg, Some("name one of the keys of `targets`".into()));
            }
            found
        }
        None => Some(position("stable").unwrap_or(0)),
    }
}

fn window(ctx: &mut FileCtx, canary: Option<&RawCanary>) -> Option<Duration> {
    let Some(text) = canary.and_then(|c| c.window.as_ref()) else { return Some(DEFAULT_WINDOW) };
    let w = duration(ctx, "canary.window", &text.0)?;
    if w < MIN_WINDOW {
        let hint = "the comparison needs room for runs of every target: use 1m or more, typically 10m";
        ctx.error("canary.window", format!("a canary window is at least {}s", MIN_WINDOW.as_secs()), Some(hint.into()));
        return None;
    }
    Some(w)
}
