//! What a person reads on a terminal: the progress line during the run and the summary at the end.

use std::fmt::Write as _;
use std::time::Duration;

use crate::report::sink::Progress;
use crate::report::{FailureCount, Hist, Report};
use crate::units::format_latency;

/// ANSI colours, or none (`NO_COLOR`, not a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn pass(&self, text: &str) -> String {
        self.paint("32", text)
    }
    pub fn fail(&self, text: &str) -> String {
        self.paint("1;31", text)
    }
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// `elapsed 12s · runs 240 · failed 3 · p99 412ms`.
pub fn progress_line(elapsed: Duration, p: &Progress) -> String {
    format!(
        "verify: elapsed {}s · runs {} · failed {} · p99 {}",
        elapsed.as_secs(),
        p.runs,
        p.failed,
        if p.runs == 0 { "-".to_string() } else { format_latency(p.p99) }
    )
}

fn pct(a: Option<f64>) -> String {
    a.map_or("-".into(), |a| format!("{:.2}%", a * 100.0))
}

fn lat(h: &Hist, q: Option<f64>) -> String {
    if h.is_empty() {
        return "-".into();
    }
    format_latency(q.map_or_else(|| h.max(), |q| h.quantile(q)))
}

fn reasons(f: &std::collections::BTreeMap<String, FailureCount>) -> String {
    f.iter().map(|(r, c)| format!("{r}×{}", c.count)).collect::<Vec<_>>().join(" ")
}

/// The end-of-run summary: a table per journey and step, failures with their first evidence, the
/// verdict of every threshold, the baseline comparison, and the overall verdict.
pub fn summary(r: &Report, style: Style) -> String {
    let mut s = String::new();
    write_header(&mut s, r);
    write_table(&mut s, r, style);
    write_failures(&mut s, r);
    write_thresholds(&mut s, r, style);
    write_baseline(&mut s, r, style);
    write_verdict(&mut s, r, style);
    s
}

/// `journeyd verify: 2 journey(s), 240 run(s) in 12.0s against … from eu (shards …)`, why it stopped early, a
/// blank line.
fn write_header(s: &mut String, r: &Report) {
    let runs: u64 = r.journeys.values().map(|j| j.runs).sum();
    let _ = writeln!(
        s,
        "journeyd verify: {} journey(s), {runs} run(s) in {:.1}s{}{}{}",
        r.journeys.len(),
        r.elapsed_seconds,
        r.target.as_ref().map_or(String::new(), |t| format!(" against {t}")),
        match (r.locations.is_empty(), &r.location) {
            (false, _) => format!(" from {}", r.locations.join(", ")),
            (true, Some(l)) => format!(" from {l}"),
            (true, None) => String::new(),
        },
        if r.shards.len() == 1 && r.shards[0] == "0/1" {
            String::new()
        } else {
            format!(" (shards {})", r.shards.join(", "))
        }
    );
    if let Some(why) = &r.stopped_early {
        let _ = writeln!(s, "stopped early: {why}");
    }
    let _ = writeln!(s);
}

/// The table: a row per journey, indented rows for its steps, and its dropped and cancelled counts.
fn write_table(s: &mut String, r: &Report, style: Style) {
    let _ = writeln!(
        s,
        "{:<28} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}  FAILURES",
        "JOURNEY / STEP", "RUNS", "AVAIL", "P50", "P90", "P99", "MAX"
    );
    for (name, j) in &r.journeys {
        let _ = writeln!(
            s,
            "{:<28} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}  {}",
            name,
            j.runs,
            pct(j.availability()),
            lat(&j.duration, Some(0.5)),
            lat(&j.duration, Some(0.9)),
            lat(&j.duration, Some(0.99)),
            lat(&j.duration, None),
            reasons(&j.failures)
        );
        for st in &j.steps {
            let _ = writeln!(
                s,
                "  {:<26} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}  {}",
                st.name,
                st.runs,
                pct(st.availability()),
                lat(&st.response, Some(0.5)),
                lat(&st.response, Some(0.9)),
                lat(&st.response, Some(0.99)),
                lat(&st.response, None),
                reasons(&st.failures)
            );
        }
        if j.dropped > 0 || j.cancelled > 0 {
            let _ = writeln!(
                s,
                "  {}",
                style.dim(&format!("({} dropped arrivals, {} cancelled runs)", j.dropped, j.cancelled))
            );
        }
    }
}

/// Each failure reason of each journey with its count and first evidence; nothing when none failed.
fn write_failures(s: &mut String, r: &Report) {
    let failing: Vec<_> = r.journeys.iter().filter(|(_, j)| !j.failures.is_empty()).collect();
    if !failing.is_empty() {
        let _ = writeln!(s, "\nFailures (first occurrence):");
        for (name, j) in failing {
            for (reason, fc) in &j.failures {
                let _ = writeln!(s, "  {name}: {reason} ×{}: {}", fc.count, fc.first.line());
            }
        }
    }
}

/// PASS or FAIL per threshold verdict, with what was measured; nothing without verdicts.
fn write_thresholds(s: &mut String, r: &Report, style: Style) {
    if !r.verdicts.is_empty() {
        let _ = writeln!(s, "\nThresholds:");
        for v in &r.verdicts {
            let mark = if v.passed { style.pass("PASS") } else { style.fail("FAIL") };
            let implicit = if v.implicit { style.dim(" (default)") } else { String::new() };
            let _ = writeln!(s, "  {mark}  {}{implicit}  — actual {}", v.threshold, v.actual);
        }
    }
}

/// The baseline comparison's notable rows (regressions and notes); nothing without `--baseline`.
fn write_baseline(s: &mut String, r: &Report, style: Style) {
    if let Some(c) = &r.comparison {
        let _ = writeln!(s, "\nBaseline (from {}):", c.baseline_started_at);
        let mut any = false;
        for d in c.deltas.iter().filter(|d| !d.notes.is_empty()) {
            any = true;
            let what = match &d.step {
                Some(st) => format!("{}.{st}", d.journey),
                None => d.journey.clone(),
            };
            let mark = if d.regression { style.fail("REGRESSION") } else { style.dim("note") };
            let _ = writeln!(s, "  {mark}  {what}: {}", d.notes.join("; "));
        }
        if !any {
            let _ = writeln!(s, "  {}", style.pass("no significant change"));
        }
    }
}

/// `Verdict: PASSED (…)`, `FAILED (…)` or `UNREACHABLE: …`.
fn write_verdict(s: &mut String, r: &Report, style: Style) {
    let failed = r.verdicts.iter().filter(|v| !v.passed).count();
    let regressions = r.comparison.as_ref().map_or(0, |c| c.regressions());
    let verdict = if r.unreachable {
        style.fail("UNREACHABLE: no run got an HTTP response from the target")
    } else if r.passed {
        style.pass(&format!("PASSED ({} threshold(s))", r.verdicts.len()))
    } else {
        style.fail(&format!(
            "FAILED ({failed} of {} threshold(s) failed, {regressions} regression(s))",
            r.verdicts.len()
        ))
    };
    let _ = writeln!(s, "\nVerdict: {verdict}");
}
