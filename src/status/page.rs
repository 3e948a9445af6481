//! The server-rendered status page: one row per journey (state badge, availability, latency plot as inline
//! SVG), then the last failures with their evidence. No JavaScript; it refreshes itself every 10 s.
//! Everything that comes from journey files or responses is HTML-escaped.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::units::rfc3339;

use super::api::{failure_views, journey_views, FailureView, JourneyView};
use super::history::{minute_of, PLOT_MINUTES};
use super::{DeployMark, JourneyState, Status, TargetRow};

/// How many failures the page lists.
const PAGE_FAILURES: usize = 20;
const PLOT_W: f64 = 360.0;
const PLOT_H: f64 = 64.0;
/// Step colours in the plot, reused in order (readable on white, distinct for colour-blind readers).
const PALETTE: &[&str] = &["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];

pub(super) async fn index(State(status): State<Status>) -> Response {
    let body = render(&status, SystemTime::now());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// `&`, `<`, `>`, `"` and `'` become entities: safe in element content and quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn percent(a: Option<f64>) -> String {
    match a {
        Some(v) => format!("{:.2}%", v * 100.0),
        None => "–".into(),
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{ms:.1}ms")
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1f2328;background:#fff}\
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}.meta{color:#59636e;margin-bottom:1rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #d1d9e0;vertical-align:top}\
th{font-size:.8rem;text-transform:uppercase;color:#59636e}\
.badge{display:inline-block;padding:.1rem .55rem;border-radius:1rem;color:#fff;font-weight:600;font-size:.8rem}\
.up{background:#1a7f37}.degraded{background:#9a6700}.down{background:#cf222e}.maintenance{background:#0969da}\
.unknown{background:#6e7781}.reason{color:#59636e;font-size:.85rem;max-width:28rem}\
.legend{font-size:.75rem;color:#59636e}.legend span{margin-right:.6rem}\
.sw{display:inline-block;width:.7rem;height:.2rem;vertical-align:middle;margin-right:.2rem}\
.failure{border-left:4px solid #cf222e;padding:.3rem .8rem;margin:.6rem 0;background:#fff8f8}\
.failure.soft{border-color:#9a6700;background:#fffbf0}\
pre{white-space:pre-wrap;word-break:break-all;margin:.3rem 0;font-size:.8rem;background:#f6f8fa;padding:.4rem}\
svg{background:#f6f8fa}.t{white-space:nowrap}.cert.warn{color:#9a6700;font-weight:600}";

/// The whole page as of `now`.
pub fn render(status: &Status, now: SystemTime) -> String {
    let journeys = journey_views(status, now);
    let failures = failure_views(status, PAGE_FAILURES);
    let mut h = String::with_capacity(16 * 1024);
    let down = journeys.iter().filter(|j| j.state == JourneyState::Down).count();
    // Label-safe by construction (`Location`), escaped anyway: the page escapes everything it shows.
    let where_from = status.location.as_ref().map(|l| escape(l.as_str()));
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>journeyd{}: {} journeys, {} down</title>\
<style>{STYLE}</style></head><body><h1>journeyd status{}</h1><div class=\"meta\">{}{} journeys · shard {} · \
{} schedulers · version {} · {}</div>",
        where_from.as_ref().map_or(String::new(), |l| format!(" ({l})")),
        journeys.len(),
        down,
        where_from.as_ref().map_or(String::new(), |l| format!(" from {l}")),
        where_from.as_ref().map_or(String::new(), |l| format!("location <span id=\"location\">{l}</span> · ")),
        journeys.len(),
        escape(&status.shard.to_string()),
        status.schedulers(),
        escape(crate::VERSION),
        escape(&rfc3339(now)),
    );
    h.push_str(
        "<table><thead><tr><th>Journey</th><th>State</th><th>Availability 1h</th><th>Availability 24h</th>\
<th>Last run</th><th>Certificate</th><th>Step latency, last 3h (solid p50, dashed p99)</th></tr></thead><tbody>",
    );
    let marks = status.deploys.as_ref().map(|d| d.marks()).unwrap_or_default();
    for j in &journeys {
        row(&mut h, j, now, &marks);
    }
    if journeys.is_empty() {
        h.push_str("<tr><td colspan=\"7\">No journeys loaded (or none owned by this shard).</td></tr>");
    }
    h.push_str("</tbody></table>");
    let targets = status.targets.as_ref().map(|t| t.targets()).unwrap_or_default();
    if !targets.is_empty() {
        target_table(&mut h, &targets);
    }
    h.push_str("<h2>Last failures</h2>");
    if failures.is_empty() {
        h.push_str("<p>No failures recorded.</p>");
    }
    let trace_url = status.trace_url();
    for f in &failures {
        failure(&mut h, f, trace_url.as_deref());
    }
    h.push_str("</body></html>\n");
    h
}

/// Journeys with `targets:`: each target's runs, availability and latency over the canary window, and what
/// it shows against the baseline.
fn target_table(h: &mut String, rows: &[TargetRow]) {
    h.push_str(
        "<h2>Targets</h2><table><thead><tr><th>Journey</th><th>Target</th><th>Runs</th><th>Availability</th>\
<th>p50</th><th>p90</th><th>Against the baseline</th></tr></thead><tbody>",
    );
    for r in rows {
        let verdict = if r.baseline {
            "baseline".to_string()
        } else if r.evidence.is_empty() {
            "no regression".to_string()
        } else {
            r.evidence.iter().map(|e| escape(e)).collect::<Vec<_>>().join("<br>")
        };
        let _ = write!(
            h,
            "<tr class=\"target\" data-regression=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
<td>{}</td><td>{verdict}</td></tr>",
            !r.evidence.is_empty(),
            escape(&r.journey),
            escape(&r.target),
            r.runs,
            percent(r.availability),
            ms(r.p50),
            ms(r.p90),
        );
    }
    h.push_str("</tbody></table>");
}

fn row(h: &mut String, j: &JourneyView, now: SystemTime, marks: &[DeployMark]) {
    let state = j.state.as_str();
    let _ = write!(
        h,
        "<tr id=\"journey-{name}\" data-state=\"{state}\"><td><strong>{name}</strong>\
<div class=\"reason\">{desc}</div></td><td><span class=\"badge {state}\">{state}</span>",
        name = escape(&j.name),
        desc = escape(&j.description),
    );
    if let Some(since) = &j.state_since {
        let _ = write!(h, "<div class=\"reason\">since <span class=\"t\">{}</span></div>", escape(since));
    }
    if let (Some(reason), true) = (&j.state_reason, j.state != JourneyState::Up) {
        let _ = write!(h, "<div class=\"reason\">{}</div>", escape(reason));
    }
    let _ = write!(
        h,
        "</td><td>{}<div class=\"reason\">{} runs, {} failed</div></td><td>{}</td><td>",
        percent(j.availability_1h),
        j.runs_1h,
        j.failures_1h,
        percent(j.availability_24h)
    );
    match &j.last_run {
        Some(r) => {
            let _ = write!(
                h,
                "<span class=\"t\">{}</span><div class=\"reason\">{} in {}</div>",
                escape(&r.at),
                r.outcome,
                ms(Duration::from_secs_f64(r.duration_seconds))
            );
        }
        None => h.push_str("not yet"),
    }
    h.push_str("</td><td>");
    certificate(h, j, now);
    h.push_str("</td><td>");
    plot(h, j, now, marks);
    h.push_str("</td></tr>");
}

/// The journey's certificate that expires first (in the warning colour under its ticket threshold), then
/// each step's leaf: subject, issuer and fingerprint (shortened; whole on hover).
fn certificate(h: &mut String, j: &JourneyView, now: SystemTime) {
    let Some(c) = &j.earliest_cert else {
        h.push_str("<span class=\"reason\">no TLS seen</span>");
        return;
    };
    let now = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let _ = write!(
        h,
        "<div class=\"cert{}\" data-days-left=\"{}\"><span class=\"t\">expires {}</span><div>{}</div></div>",
        if c.warning { " warn" } else { "" },
        c.days_left,
        escape(&c.expires_at),
        escape(&crate::units::time_left(c.expires_unix, now)),
    );
    for (step, tls) in j.steps.iter().filter_map(|s| s.tls.as_ref().map(|t| (s, t))) {
        let short: String = tls.fingerprint_sha256.chars().take(16).collect();
        let _ = write!(
            h,
            "<div class=\"reason\">{}: {} · issued by {} · <span title=\"{}\">sha256 {}…</span></div>",
            escape(&step.name),
            escape(&tls.subject),
            escape(&tls.issuer),
            escape(&tls.fingerprint_sha256),
            escape(&short),
        );
    }
}

/// One SVG per journey: x is time over the plot window, y is latency scaled to the highest p99 shown.
fn plot(h: &mut String, j: &JourneyView, now: SystemTime, marks: &[DeployMark]) {
    let from = minute_of(now).saturating_sub(PLOT_MINUTES - 1);
    let max = j.plot.iter().flatten().map(|p| p.p99).max().unwrap_or(Duration::ZERO);
    let _ = write!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{PLOT_W}\" height=\"{PLOT_H}\" \
viewBox=\"0 0 {PLOT_W} {PLOT_H}\" role=\"img\" aria-label=\"latency of {}\">",
        escape(&j.name)
    );
    if max.is_zero() {
        let _ = write!(h, "<text x=\"8\" y=\"{}\" font-size=\"11\" fill=\"#59636e\">no data yet</text>", PLOT_H / 2.0);
    } else {
        let scale = (PLOT_H - 14.0) / max.as_secs_f64();
        let x = |minute: u64| (minute.saturating_sub(from) as f64 + 0.5) * PLOT_W / PLOT_MINUTES as f64;
        let y = |d: Duration| PLOT_H - 2.0 - d.as_secs_f64() * scale;
        for (i, points) in j.plot.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            for (dash, p99) in [("", false), (" stroke-dasharray=\"3 2\"", true)] {
                let coords: Vec<(f64, f64)> =
                    points.iter().map(|p| (x(p.minute), y(if p99 { p.p99 } else { p.p50 }))).collect();
                match coords.as_slice() {
                    [] => {}
                    [(cx, cy)] => {
                        let _ = write!(h, "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"2\" fill=\"{colour}\"/>");
                    }
                    _ => {
                        let pts: Vec<String> = coords.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
                        let _ = write!(
                            h,
                            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"{dash} points=\"{}\"/>",
                            pts.join(" ")
                        );
                    }
                }
            }
        }
        let _ = write!(
            h,
            "<text x=\"{}\" y=\"10\" font-size=\"10\" text-anchor=\"end\" fill=\"#59636e\">max p99 {}</text>",
            PLOT_W - 4.0,
            ms(max)
        );
    }
    deploy_lines(h, &j.name, from, marks);
    let _ = write!(
        h,
        "<text x=\"3\" y=\"10\" font-size=\"10\" fill=\"#8c959f\">-3h</text>\
<line x1=\"0\" y1=\"{b}\" x2=\"{PLOT_W}\" y2=\"{b}\" stroke=\"#d1d9e0\"/>",
        b = PLOT_H - 1.0
    );
    h.push_str("</svg><div class=\"legend\">");
    for (i, s) in j.steps.iter().enumerate() {
        let q = |v: Option<f64>| v.map(|s| ms(Duration::from_secs_f64(s))).unwrap_or_else(|| "–".into());
        let _ = write!(
            h,
            "<span><i class=\"sw\" style=\"background:{}\"></i>{} p50 {} p99 {}</span>",
            PALETTE[i % PALETTE.len()],
            escape(&s.name),
            q(s.p50_seconds),
            q(s.p99_seconds)
        );
    }
    h.push_str("</div>");
}

/// A vertical dashed line per deploy marker covering `journey` inside the plot window, titled with its
/// version and time (red when the journey or one of its steps regressed after it).
fn deploy_lines(h: &mut String, journey: &str, from: u64, marks: &[DeployMark]) {
    for m in marks.iter().filter(|m| m.journeys.iter().any(|n| n == journey)) {
        let minute = minute_of(m.at);
        if minute < from {
            continue;
        }
        let x = (minute - from) as f64 * PLOT_W / PLOT_MINUTES as f64;
        let colour = if m.regression { "#cf222e" } else { "#8250df" };
        let _ = write!(
            h,
            "<line class=\"deploy\" x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{PLOT_H}\" stroke=\"{colour}\" \
stroke-dasharray=\"2 2\"><title>deploy {} at {}</title></line>",
            escape(&m.version),
            escape(&rfc3339(m.at))
        );
    }
}

fn failure(h: &mut String, v: &FailureView, trace_url: Option<&str>) {
    let f = &v.failure;
    let _ = write!(
        h,
        "<div class=\"failure{}\"><strong>{}</strong> · step <strong>{}</strong> · {} · {}{}<div>{}</div>",
        if v.soft { " soft" } else { "" },
        escape(&v.journey),
        escape(&f.step_name),
        v.reason,
        escape(&v.at),
        if v.soft { " · soft check (degraded)" } else { "" },
        escape(&f.message)
    );
    let evidence = f.evidence().to_string();
    if !evidence.is_empty() {
        let _ = write!(h, "<pre>{}</pre>", escape(&evidence));
    }
    if let (Some(id), Some(template)) = (&f.trace_id, trace_url) {
        let link = crate::settings::trace_link(template, id);
        let _ = write!(h, "<a class=\"trace\" href=\"{}\">open the trace</a>", escape(&link));
    }
    if let Some(shot) = &f.screenshot {
        let url = format!("evidence/{}", escape(shot));
        let _ = write!(h, "<a href=\"{url}\"><img src=\"{url}\" alt=\"screenshot of the page\" width=\"320\"></a>");
    }
    h.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Suite;
    use crate::outcome::{Failure, Reason, RunStatus};
    use crate::shard::Shard;
    use crate::status::history::tests::{journey, outcome};
    use crate::status::history::StatusBoard;

    #[test]
    fn page_escapes_evidence_and_shows_states() {
        let board = StatusBoard::new();
        board.set_suite(&Suite { journeys: vec![journey("xss", &["home"], 1), journey("fine", &["home"], 1)] });
        let now = SystemTime::now();
        let mut o = outcome("xss", now, true, 20);
        let mut f = Failure::new(0, "home", Reason::Check, "body had <img src=x onerror=alert(1)>");
        f.excerpt = Some("</pre><script>alert('x')</script>".into());
        o.status = RunStatus::Failed(Box::new(f));
        board.record(&o);
        board.record(&outcome("fine", now, false, 20));
        let status = Status::new(board, Shard { index: 1, count: 3 });
        let html = render(&status, now);
        assert!(!html.contains("<script>"), "unescaped: {html}");
        assert!(!html.contains("<img"), "unescaped: {html}");
        assert!(html.contains("&lt;/pre&gt;&lt;script&gt;alert(&#39;x&#39;)"));
        assert!(html.contains("data-state=\"down\""));
        assert!(html.contains("id=\"journey-fine\" data-state=\"up\""));
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
        assert!(html.contains("shard 1/3"));
        assert!(html.contains("<circle"), "a plot point per step");
        assert!(!html.contains("location"), "no --location, no location anywhere");
    }

    #[test]
    fn page_header_names_the_location() {
        let board = StatusBoard::new();
        board.set_suite(&Suite { journeys: vec![journey("fine", &["home"], 1)] });
        let status = Status::new(board, Shard::ALL).with_location(Some("eu-west".parse().unwrap()));
        let html = render(&status, SystemTime::now());
        assert!(html.contains("<title>journeyd (eu-west): 1 journeys, 0 down</title>"), "{html}");
        assert!(html.contains("<h1>journeyd status from eu-west</h1>"), "{html}");
        assert!(html.contains("location <span id=\"location\">eu-west</span> · 1 journeys"), "{html}");
    }

    #[test]
    fn a_failures_trace_id_shows_and_links_to_the_trace() {
        let board = StatusBoard::new();
        board.set_suite(&Suite { journeys: vec![journey("pay", &["home"], 1)] });
        let now = SystemTime::now();
        let mut o = outcome("pay", now, true, 20);
        let mut f = Failure::new(0, "home", Reason::Status, "expected status == 200");
        f.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        o.status = RunStatus::Failed(Box::new(f));
        board.record(&o);
        let status = Status::new(board, Shard { index: 0, count: 1 });
        let html = render(&status, now);
        assert!(html.contains("trace: 4bf92f3577b34da6a3ce929d0e0e4736"), "{html}");
        assert!(!html.contains("open the trace"), "no trace_url, no link");
        let status = status.with_trace_url(Some("https://tempo.example/trace/{trace_id}?a=1&b=2".into()));
        let html = render(&status, now);
        assert!(
            html.contains(
                "<a class=\"trace\" href=\"https://tempo.example/trace/4bf92f3577b34da6a3ce929d0e0e4736?a=1&amp;b=2\">open the trace</a>"
            ),
            "{html}"
        );
    }

    #[test]
    fn page_shows_the_redirect_chain_escaped() {
        let board = StatusBoard::new();
        board.set_suite(&Suite { journeys: vec![journey("hop", &["home"], 1)] });
        let now = SystemTime::now();
        let mut o = outcome("hop", now, true, 20);
        let mut f = Failure::new(0, "home", Reason::Connect, "tcp connect error");
        f.redirects = vec![
            crate::outcome::RedirectHop { url: "https://a.example/start".into(), status: Some(302) },
            crate::outcome::RedirectHop { url: "http://169.254.169.254/<script>".into(), status: None },
        ];
        o.status = RunStatus::Failed(Box::new(f));
        board.record(&o);
        let html = render(&Status::new(board, Shard { index: 0, count: 1 }), now);
        assert!(
            html.contains(
                "redirects: https://a.example/start (302) → http://169.254.169.254/&lt;script&gt; (no response)"
            ),
            "{html}"
        );
    }
}
