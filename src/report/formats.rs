//! Report formats for CI systems and review comments: JUnit XML and Markdown.
//!
//! JUnit: one `<testsuite>` per journey, holding one `<testcase>` for the journey itself, one per
//! threshold verdict, and one for the baseline comparison when there is one. The layout follows the common
//! (Ant / Jenkins) JUnit schema, so every CI system that reads JUnit can show it.

use std::fmt::Write as _;
use std::time::Duration;

use crate::report::{JourneyReport, Report};
use crate::units::format_latency;

/// Escapes text for XML attributes and character data (and drops characters XML 1.0 forbids).
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn journey_seconds(j: &JourneyReport) -> f64 {
    j.duration.mean().as_secs_f64() * j.runs as f64
}

/// Why a journey's test case fails, if it does.
fn journey_failure(r: &Report, name: &str, j: &JourneyReport) -> Option<String> {
    let mut why = Vec::new();
    let failed_thresholds: Vec<&str> =
        r.verdicts.iter().filter(|v| v.journey == name && !v.passed).map(|v| v.threshold.as_str()).collect();
    if !failed_thresholds.is_empty() {
        why.push(format!("thresholds failed: {}", failed_thresholds.join("; ")));
    }
    if let Some(c) = &r.comparison {
        why.extend(c.deltas.iter().filter(|d| d.journey == name && d.regression).flat_map(|d| d.notes.clone()));
    }
    if j.runs == 0 {
        why.push("no completed runs".into());
    }
    (!why.is_empty()).then(|| why.join("\n"))
}

/// `location` (and `locations`, after a merge of several) as JUnit properties; nothing without one.
fn location_properties(r: &Report) -> String {
    let mut out = String::new();
    if let Some(l) = &r.location {
        let _ = writeln!(out, "      <property name=\"location\" value=\"{}\"/>", xml(l));
    }
    if !r.locations.is_empty() {
        let _ = writeln!(out, "      <property name=\"locations\" value=\"{}\"/>", xml(&r.locations.join(",")));
    }
    out
}

/// The JUnit XML document.
pub fn junit(r: &Report) -> String {
    let timestamp = r.started_at.trim_end_matches('Z');
    let mut suites = String::new();
    let (mut total, mut total_failed) = (0usize, 0usize);
    for (id, (name, j)) in r.journeys.iter().enumerate() {
        let class = format!("journeyd.verify.{name}");
        let mut cases = String::new();
        let (mut tests, mut failed) = (0usize, 0usize);
        let mut case = |cases: &mut String, case_name: &str, secs: f64, failure: Option<(&str, String)>| {
            tests += 1;
            let _ = write!(
                cases,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{secs:.3}\"",
                xml(case_name),
                xml(&class)
            );
            match failure {
                None => cases.push_str("/>\n"),
                Some((kind, text)) => {
                    failed += 1;
                    let message = text.lines().next().unwrap_or("").to_string();
                    let _ = write!(
                        cases,
                        ">\n      <failure message=\"{}\" type=\"{kind}\">{}</failure>\n    </testcase>\n",
                        xml(&message),
                        xml(&text)
                    );
                }
            }
        };
        let mut journey_text = format!("journey {name}");
        if let Some(a) = j.availability() {
            journey_text = format!("journey {name} ({} runs, {:.2}% available)", j.runs, a * 100.0);
        }
        case(&mut cases, &journey_text, journey_seconds(j), journey_failure(r, name, j).map(|t| ("journey", t)));
        for v in r.verdicts.iter().filter(|v| &v.journey == name) {
            let text = format!("{}: actual {}", v.threshold, v.actual);
            case(&mut cases, &v.threshold, 0.0, (!v.passed).then_some(("threshold", text)));
        }
        if let Some(c) = &r.comparison {
            let notes: Vec<String> =
                c.deltas.iter().filter(|d| &d.journey == name && d.regression).flat_map(|d| d.notes.clone()).collect();
            let title = format!("{name}: no regression against the baseline of {}", c.baseline_started_at);
            case(&mut cases, &title, 0.0, (!notes.is_empty()).then(|| ("regression", notes.join("\n"))));
        }
        total += tests;
        total_failed += failed;
        let mut out_lines = Vec::new();
        for (reason, fc) in &j.failures {
            out_lines.push(format!("{reason} x{}: {}", fc.count, fc.first.line()));
            if let Some(shot) = &fc.first.failure.screenshot {
                // The attachment convention Jenkins and GitLab read, relative to the JUnit file.
                out_lines.push(format!("[[ATTACHMENT|{}/{shot}]]", super::SCREENSHOT_DIR));
            }
        }
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" package=\"journeyd.verify\" id=\"{id}\" timestamp=\"{}\" hostname=\"journeyd\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{:.3}\">\n    <properties>\n      <property name=\"target\" value=\"{}\"/>\n      <property name=\"shards\" value=\"{}\"/>\n{}    </properties>\n{cases}    <system-out>{}</system-out>\n    <system-err></system-err>\n  </testsuite>\n",
            xml(&class),
            xml(timestamp),
            journey_seconds(j),
            xml(r.target.as_deref().unwrap_or("")),
            xml(&r.shards.join(",")),
            location_properties(r),
            xml(&out_lines.join("\n")),
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"journeyd verify\" tests=\"{total}\" failures=\"{total_failed}\" errors=\"0\" time=\"{:.3}\">\n{suites}</testsuites>\n",
        r.elapsed_seconds
    )
}

fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// ` from `eu``, or ` from `eu`, `us`` after a merge; nothing without a location.
fn markdown_location(r: &Report) -> String {
    let names: Vec<String> = if r.locations.is_empty() {
        r.location.iter().map(|l| format!("`{}`", md(l))).collect()
    } else {
        r.locations.iter().map(|l| format!("`{}`", md(l))).collect()
    };
    if names.is_empty() {
        String::new()
    } else {
        format!(" from {}", names.join(", "))
    }
}

/// A Markdown summary for a pull-request or deploy comment.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let head = if r.unreachable {
        "❌ target unreachable"
    } else if r.passed {
        "✅ passed"
    } else {
        "❌ failed"
    };
    let runs: u64 = r.journeys.values().map(|j| j.runs).sum();
    let _ = writeln!(s, "### journeyd verify: {head}\n");
    let _ = writeln!(
        s,
        "{} journey(s), {runs} run(s) in {:.1}s{}{}, started {}.\n",
        r.journeys.len(),
        r.elapsed_seconds,
        r.target.as_ref().map_or(String::new(), |t| format!(" against `{t}`")),
        markdown_location(r),
        r.started_at
    );
    if let Some(why) = &r.stopped_early {
        let _ = writeln!(s, "> Stopped early: {}\n", md(why));
    }
    let _ = writeln!(s, "| Journey / step | Runs | Availability | p50 | p90 | p99 | max | Failures |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---|");
    let lat = |h: &crate::report::Hist, q: Option<f64>| {
        if h.is_empty() {
            "-".to_string()
        } else {
            format_latency(q.map_or_else(|| h.max(), |q| h.quantile(q)))
        }
    };
    let pct = |a: Option<f64>| a.map_or("-".to_string(), |a| format!("{:.2}%", a * 100.0));
    for (name, j) in &r.journeys {
        let reasons: Vec<String> = j.failures.iter().map(|(k, v)| format!("{k} ×{}", v.count)).collect();
        let _ = writeln!(
            s,
            "| **{}** | {} | {} | {} | {} | {} | {} | {} |",
            md(name),
            j.runs,
            pct(j.availability()),
            lat(&j.duration, Some(0.5)),
            lat(&j.duration, Some(0.9)),
            lat(&j.duration, Some(0.99)),
            lat(&j.duration, None),
            reasons.join(", ")
        );
        for st in &j.steps {
            let reasons: Vec<String> = st.failures.iter().map(|(k, v)| format!("{k} ×{}", v.count)).collect();
            let _ = writeln!(
                s,
                "| &nbsp;&nbsp;{} | {} | {} | {} | {} | {} | {} | {} |",
                md(&st.name),
                st.runs,
                pct(st.availability()),
                lat(&st.response, Some(0.5)),
                lat(&st.response, Some(0.9)),
                lat(&st.response, Some(0.99)),
                lat(&st.response, None),
                reasons.join(", ")
            );
        }
    }
    if !r.verdicts.is_empty() {
        let _ = writeln!(s, "\n**Thresholds**\n");
        for v in &r.verdicts {
            let mark = if v.passed { "✅" } else { "❌" };
            let _ = writeln!(
                s,
                "- {mark} `{}` — actual {}{}",
                v.threshold,
                md(&v.actual),
                if v.implicit { " _(default)_" } else { "" }
            );
        }
    }
    if let Some(c) = &r.comparison {
        let _ = writeln!(s, "\n**Baseline** (from {})\n", c.baseline_started_at);
        let noted: Vec<_> = c.deltas.iter().filter(|d| !d.notes.is_empty()).collect();
        if noted.is_empty() {
            let _ = writeln!(s, "No significant change.");
        }
        for d in noted {
            let what = d.step.as_ref().map_or(d.journey.clone(), |st| format!("{}.{st}", d.journey));
            let mark = if d.regression { "❌ regression" } else { "ℹ️" };
            let _ = writeln!(s, "- {mark} `{what}`: {}", md(&d.notes.join("; ")));
        }
    }
    let failing: Vec<_> = r.journeys.iter().filter(|(_, j)| !j.failures.is_empty()).collect();
    if !failing.is_empty() {
        let _ = writeln!(s, "\n<details><summary>First failure of each reason</summary>\n");
        for (name, j) in failing {
            for (reason, fc) in &j.failures {
                let _ = writeln!(s, "- `{}` {reason} ×{}: {}", md(name), fc.count, md(&fc.first.line()));
            }
        }
        let _ = writeln!(s, "\n</details>");
    }
    s
}

/// Seconds as a Prometheus sample value.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}
