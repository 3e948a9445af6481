//! Merging shard reports into one exact result: counts and histograms add, the earliest evidence of each
//! failure reason wins, and so does the earliest-expiring certificate. Reports from several `--location`s
//! merge into one whose location is `mixed`, listing them. The merged report is unjudged; `Report::judge`
//! evaluates it again.

use std::collections::BTreeSet;

use crate::location::MIXED;
use crate::report::cert::keep_earliest;
use crate::report::{add_failure, Report};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("nothing to merge: give at least one report")]
    Empty,
    #[error("{a} and {b} both cover shard {shard}: each shard's report must be merged once")]
    Overlap { a: String, b: String, shard: String },
    #[error("{a} covers shards of {n} and {b} shards of {m}: merge reports of one sharded run (same --shard i/N)")]
    Count { a: String, n: String, b: String, m: String },
    #[error("journey {journey:?} has different steps in {a} and {b}: the reports come from different journey files")]
    Steps { journey: String, a: String, b: String },
    #[error("{a} ran against {ta} and {b} against {tb}: merge reports of the same target")]
    Target { a: String, ta: String, b: String, tb: String },
}

fn shard_count(s: &str) -> &str {
    s.split_once('/').map_or(s, |(_, n)| n)
}

/// Merges reports named by `labels` (file names, for messages).
pub fn merge(reports: &[(String, Report)]) -> Result<Report, MergeError> {
    let Some(((first_label, first), rest)) = reports.split_first() else { return Err(MergeError::Empty) };
    let mut out = first.clone();
    out.verdicts.clear();
    out.comparison = None;
    out.passed = false;
    out.unreachable = false;
    let mut owner: Vec<(String, String)> = first.shards.iter().map(|s| (s.clone(), first_label.clone())).collect();
    for (label, r) in rest {
        for s in &r.shards {
            if let Some((_, other)) = owner.iter().find(|(o, _)| o == s && shard_count(s) != "1") {
                return Err(MergeError::Overlap { a: other.clone(), b: label.clone(), shard: s.clone() });
            }
            if let Some((o, other)) = owner.iter().find(|(o, _)| shard_count(o) != shard_count(s)) {
                return Err(MergeError::Count {
                    a: other.clone(),
                    n: shard_count(o).to_string(),
                    b: label.clone(),
                    m: shard_count(s).to_string(),
                });
            }
            owner.push((s.clone(), label.clone()));
        }
        match (&out.target, &r.target) {
            (Some(ta), Some(tb)) if ta != tb => {
                return Err(MergeError::Target {
                    a: first_label.clone(),
                    ta: ta.clone(),
                    b: label.clone(),
                    tb: tb.clone(),
                })
            }
            (None, Some(t)) => out.target = Some(t.clone()),
            _ => {}
        }
        if r.started_unix_ms < out.started_unix_ms {
            out.started_unix_ms = r.started_unix_ms;
            out.started_at = r.started_at.clone();
        }
        out.elapsed_seconds = out.elapsed_seconds.max(r.elapsed_seconds);
        if let Some(why) = &r.stopped_early {
            out.stopped_early = Some(match out.stopped_early.take() {
                Some(prev) if &prev != why => format!("{prev}; {why}"),
                _ => why.clone(),
            });
        }
        for spec in &r.threshold_specs {
            if !out.threshold_specs.contains(spec) {
                out.threshold_specs.push(spec.clone());
            }
        }
        for (name, jr) in &r.journeys {
            let Some(acc) = out.journeys.get_mut(name) else {
                out.journeys.insert(name.clone(), jr.clone());
                continue;
            };
            if acc.steps.iter().map(|s| &s.name).ne(jr.steps.iter().map(|s| &s.name)) {
                return Err(MergeError::Steps { journey: name.clone(), a: first_label.clone(), b: label.clone() });
            }
            acc.runs += jr.runs;
            acc.failed += jr.failed;
            acc.cancelled += jr.cancelled;
            acc.dropped += jr.dropped;
            acc.unreachable_runs += jr.unreachable_runs;
            acc.duration.add(&jr.duration);
            if let Some(c) = &jr.earliest_cert {
                keep_earliest(&mut acc.earliest_cert, c);
            }
            for (reason, fc) in &jr.failures {
                add_failure(&mut acc.failures, reason, fc.count, &fc.first);
            }
            for (sa, sb) in acc.steps.iter_mut().zip(&jr.steps) {
                sa.runs += sb.runs;
                sa.failed += sb.failed;
                sa.response.add(&sb.response);
                for (vital, h) in &sb.vitals {
                    sa.vitals.entry(vital.clone()).or_default().add(h);
                }
                if let Some(c) = &sb.earliest_cert {
                    keep_earliest(&mut sa.earliest_cert, c);
                }
                for (reason, fc) in &sb.failures {
                    add_failure(&mut sa.failures, reason, fc.count, &fc.first);
                }
            }
        }
    }
    let shards: BTreeSet<String> = owner.into_iter().map(|(s, _)| s).collect();
    out.shards = shards.into_iter().collect();
    merge_locations(&mut out, reports.iter().map(|(_, r)| r));
    Ok(out)
}

/// One location when every report shares it (or none has one); otherwise `mixed`, with every named location
/// in `locations` (a merged report's own list included, so merges of merges keep them all).
fn merge_locations<'a>(out: &mut Report, reports: impl Iterator<Item = &'a Report> + Clone) {
    let mut named: BTreeSet<String> = BTreeSet::new();
    for r in reports.clone() {
        named.extend(r.locations.iter().cloned());
        named.extend(r.location.iter().filter(|l| l.as_str() != MIXED).cloned());
    }
    let mut seen = reports.map(|r| r.location.as_deref());
    let first = seen.next().flatten();
    let same = seen.all(|l| l == first);
    if same && first != Some(MIXED) {
        out.location = first.map(str::to_string);
        out.locations = Vec::new();
    } else {
        out.location = Some(MIXED.to_string());
        out.locations = named.into_iter().collect();
    }
}
