//! The earliest certificate in verify reports: kept per step and journey by the real report sink, merged
//! across shards as a minimum, judged by `cert_expiry` thresholds from the end of the run, shown where
//! threshold verdicts are shown (terminal, Markdown, JUnit), and absent (old reports still read) without TLS.

mod certs;
mod common;

use std::sync::Arc;

use certs::{cert, failed, run, Seen, DAY};
use journeyd::outcome::RunOutcome;
use journeyd::report::formats::{junit, markdown};
use journeyd::report::text::{summary, Style};
use journeyd::report::{merge, Report, ReportSink};
use journeyd::threshold;

const YAML: &str = "name: shop\ntarget: https://shop.example\nsteps:\n  - name: login\n    get: /login\n  \
                    - name: pay\n    get: /pay\n";
const PLAIN: &str = "name: plain\ntarget: http://127.0.0.1:9\nsteps:\n  - name: home\n    get: /\n";
/// The run starts here (Unix seconds) and lasts a minute.
const START: i64 = 1_800_000_000;

fn report_of(outcomes: &[&RunOutcome], shard: &str) -> Report {
    let journeys = [common::journey(YAML, &[]), common::journey(PLAIN, &[])];
    let sink = ReportSink::new(START as u64 * 1000, None);
    sink.add_journeys(&journeys);
    for o in outcomes {
        sink.record(o);
    }
    let mut r = sink.report();
    r.shards = vec![shard.to_string()];
    r.elapsed_seconds = 60.0;
    r
}

/// login presents one certificate (40 days left) then a renewed one; pay's balancer serves two, the older
/// with 10 days and 6 hours left, on some connections; most runs reuse connections; one run fails at pay.
fn outcomes() -> Vec<RunOutcome> {
    let login = [cert(1, START + 40 * DAY), cert(2, START + 90 * DAY)];
    let pay = [cert(3, START + 30 * DAY), cert(4, START + 10 * DAY + 6 * 3600)];
    (0..40usize)
        .map(|i| {
            let l = if i % 10 == 0 { Seen::Tls(Arc::clone(&login[i / 20])) } else { Seen::Reused };
            let p = if i % 7 == 0 { Seen::Tls(Arc::clone(&pay[usize::from(i == 21)])) } else { Seen::Reused };
            if i == 13 {
                failed("shop", START + i as i64, &[l, p])
            } else {
                run("shop", START + i as i64, &[l, p])
            }
        })
        .chain([run("plain", START, &[Seen::Plain])])
        .collect()
}

fn judge(r: &Report, specs: &[&str]) -> Report {
    let mut r = r.clone();
    let parsed: Vec<_> = specs.iter().map(|t| threshold::parse(t).unwrap()).collect();
    r.judge(&parsed, None);
    r
}

fn verdict<'a>(r: &'a Report, threshold: &str) -> &'a journeyd::report::Verdict {
    r.verdicts.iter().find(|v| v.threshold == threshold).unwrap_or_else(|| panic!("no {threshold}: {:?}", r.verdicts))
}

#[test]
fn the_earliest_certificate_is_kept_per_step_and_journey_and_merged_as_a_minimum() {
    let all = outcomes();
    let whole = report_of(&all.iter().collect::<Vec<_>>(), "0/1");
    let j = &whole.journeys["shop"];
    let earliest = |r: &Report, step: usize| r.journeys["shop"].steps[step].earliest_cert.clone().unwrap();
    assert_eq!(earliest(&whole, 0).subject, "CN=shop-1.example", "the first login certificate expires first");
    assert_eq!(earliest(&whole, 1).subject, "CN=shop-4.example");
    assert_eq!(earliest(&whole, 1).expires_unix, START + 10 * DAY + 6 * 3600);
    assert_eq!(earliest(&whole, 1).expires_at, journeyd::units::rfc3339_unix(START + 10 * DAY + 6 * 3600));
    assert_eq!(j.earliest_cert.as_ref(), Some(&earliest(&whole, 1)), "the journey's is its steps' minimum");
    assert!(whole.journeys["plain"].earliest_cert.is_none());

    // Shards split the runs (only one of them saw pay's old certificate); through JSON, as `report merge`
    // reads files, the merge keeps the minimum and equals the whole run.
    let a = report_of(&all.iter().step_by(2).collect::<Vec<_>>(), "0/2");
    let b = report_of(&all.iter().skip(1).step_by(2).collect::<Vec<_>>(), "1/2");
    assert_ne!(a.journeys["shop"].earliest_cert, b.journeys["shop"].earliest_cert);
    let a: Report = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    let b: Report = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
    for (x, y) in [(&a, &b), (&b, &a)] {
        let merged = merge(&[("x".into(), x.clone()), ("y".into(), y.clone())]).unwrap();
        assert_eq!(merged.journeys, whole.journeys, "counts, histograms and certificates are exact");
    }
}

#[test]
fn cert_expiry_counts_from_the_end_of_the_run_and_fails_without_a_certificate() {
    let all = outcomes();
    let r = report_of(&all.iter().collect::<Vec<_>>(), "0/1");
    let r = judge(
        &r,
        &[
            "availability >= 90%",
            "shop: cert_expiry > 10d",
            "shop: cert_expiry > 11d",
            "shop.login: cert_expiry >= 30d",
            "plain: cert_expiry > 14d",
        ],
    );
    let pass = verdict(&r, "shop: cert_expiry > 10d");
    assert!(pass.passed, "{pass:?}");
    // 10 days 6 hours after the start, a minute before the end: 10 days 5 hours 59 minutes left.
    assert_eq!(pass.value, Some((10 * DAY + 6 * 3600 - 60) as f64));
    let at = journeyd::units::rfc3339_unix(START + 10 * DAY + 6 * 3600);
    assert_eq!(pass.actual, format!("{at}, 10 days left when the run ended: CN=shop-4.example (step \"pay\")"));
    assert!(!verdict(&r, "shop: cert_expiry > 11d").passed);
    assert!(verdict(&r, "shop.login: cert_expiry >= 30d").passed, "login's own certificate: 40 days");
    let none = verdict(&r, "plain: cert_expiry > 14d");
    assert!(!none.passed && none.value.is_none());
    assert!(none.actual.starts_with("no TLS certificate seen"), "{}", none.actual);
    assert!(!r.passed);

    // Where threshold verdicts are shown, so is what was measured.
    let text = summary(&r, Style { color: false });
    assert!(text.contains("FAIL  shop: cert_expiry > 11d  — actual 20"), "{text}");
    assert!(text.contains("FAIL  plain: cert_expiry > 14d  — actual no TLS certificate seen"), "{text}");
    let md = markdown(&r);
    assert!(md.contains("❌ `shop: cert_expiry > 11d` — actual 20") && md.contains("CN=shop-4.example"), "{md}");
    let xml = junit(&r);
    assert!(xml.contains("<testcase name=\"shop: cert_expiry &gt; 11d\""), "{xml}");
    assert!(xml.contains("10 days left when the run ended: CN=shop-4.example (step &quot;pay&quot;)"), "{xml}");
}

#[test]
fn without_tls_the_field_is_absent_and_old_reports_still_read() {
    let plain = [run("plain", START, &[Seen::Plain])];
    let r = report_of(&plain.iter().collect::<Vec<_>>(), "0/1");
    let json = serde_json::to_string_pretty(&r).unwrap();
    assert!(!json.contains("earliest_cert"), "absent without TLS: {json}");
    let path = std::env::temp_dir().join(format!("journeyd-report-certs-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, &json).unwrap();
    assert_eq!(Report::read(&path).unwrap(), r, "a report written before the field reads the same");

    let with = report_of(&outcomes().iter().collect::<Vec<_>>(), "0/1");
    with.write(&path).unwrap();
    let back = Report::read(&path).unwrap();
    assert_eq!(back, with);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"earliest_cert\": {\n        \"expires_at\""), "{text}");
    let _ = std::fs::remove_file(&path);
}
