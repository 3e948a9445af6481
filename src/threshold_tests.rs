//! Unit tests of the threshold parser, scope resolution and checks.

use super::*;

#[test]
fn parses_the_documented_forms() {
    let t = parse("availability >= 99.5%").unwrap();
    assert_eq!((t.metric.clone(), t.op, t.limit.clone()), (Metric::Availability, CmpOp::Ge, Limit::Ratio(0.995)));
    assert_eq!(parse("availability > 0.9").unwrap().limit, Limit::Ratio(0.9));
    let t = parse("checkout.login: p99 < 300ms").unwrap();
    assert_eq!((t.journey.as_deref(), t.step.as_deref()), (Some("checkout"), Some("login")));
    assert_eq!(
        (t.metric.clone(), t.limit.clone()),
        (Metric::Quantile(0.99), Limit::Duration(Duration::from_millis(300)))
    );
    assert_eq!(t.expr, "p99 < 300ms");
    assert!(matches!(parse("p99.9<2s").unwrap().metric, Metric::Quantile(q) if (q - 0.999).abs() < 1e-12));
    assert_eq!(parse("checkout: max < 2s").unwrap().metric, Metric::Max);
    let t = parse("failures{reason=timeout} == 0").unwrap();
    assert_eq!((t.metric, t.limit), (Metric::Failures(Some(Reason::Timeout)), Limit::Count(0)));
    assert_eq!(parse("runs >= 10").unwrap().metric, Metric::Runs);
    let t = parse("checkout.login: cert_expiry > 14d").unwrap();
    assert_eq!((t.step.as_deref(), t.metric.clone(), t.op), (Some("login"), Metric::CertExpiry, CmpOp::Gt));
    assert_eq!(t.limit, Limit::Duration(Duration::from_secs(14 * 86_400)));
    let e = parse("cert_expiry > 14").unwrap_err();
    assert_eq!((e.column, e.len, e.message.as_str()), (14, 2, "time left `14` has no unit"));
    assert_eq!(e.hint.as_deref(), Some("add one: 14d (days) or 14h"));
    assert!(parse("cert_expiry > 2 weeks").unwrap_err().message.contains("unknown unit"));
}

#[test]
fn errors_point_at_the_offending_text() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("p99x < 800ms", 0, 4, "unknown metric `p99x`"),
        ("checkout: p99 < 800", 16, 3, "latency `800` has no unit"),
        ("p99 ~ 800ms", 4, 1, "expected a comparison"),
        ("availability >= 101%", 16, 4, "availability `101%` is out of range"),
        ("failures{reason=slow} == 0", 9, 11, "unknown failure reason `slow`"),
        ("failures == lots", 12, 4, "`lots` is not a count"),
        ("p99 =< 1s", 4, 2, "expected a comparison"),
        ("a b: p99 < 1s", 0, 3, "invalid scope `a b`"),
        ("p99 <", 4, 1, "missing value after the comparison"),
    ];
    for (text, col, len, msg) in cases {
        let e = parse(text).unwrap_err();
        assert_eq!((e.column, e.len, e.message.as_str()), (*col, *len, *msg), "{text}");
    }
    let shown = parse("checkout: p99 < 800").unwrap_err().to_string();
    assert!(
        shown.contains("\n  checkout: p99 < 800\n                  ^^^\n  hint: add one: 800ms or 800s"),
        "{shown}"
    );
}

#[test]
fn dotted_names_resolve_to_the_journey_that_exists() {
    let mut j = BTreeMap::new();
    j.insert("shop.eu".to_string(), vec!["log.in".to_string()]);
    j.insert("shop".to_string(), vec!["a".to_string()]);
    let mut ts: Vec<Threshold> = ["shop.eu.log.in: p99 < 1s", "shop.eu: p99 < 1s", "shop.a: p99 < 1s"]
        .iter()
        .map(|t| parse(t).unwrap())
        .collect();
    resolve_scopes(&mut ts, &j);
    let scopes: Vec<(Option<&str>, Option<&str>)> =
        ts.iter().map(|t| (t.journey.as_deref(), t.step.as_deref())).collect();
    assert_eq!(scopes, vec![(Some("shop.eu"), Some("log.in")), (Some("shop.eu"), None), (Some("shop"), Some("a"))]);
    assert!(check_scopes(&ts, &j).is_ok());
}

#[test]
fn scopes_are_checked_against_the_suite() {
    let mut j = BTreeMap::new();
    j.insert("checkout".to_string(), vec!["login".to_string()]);
    assert!(check_scopes(&[parse("checkout.login: p99 < 1s").unwrap()], &j).is_ok());
    let e = check_scopes(&[parse("chekout: p99 < 1s").unwrap()], &j).unwrap_err();
    assert_eq!((e.column, e.len), (0, 7));
    let e = check_scopes(&[parse("checkout.pay: p99 < 1s").unwrap()], &j).unwrap_err();
    assert_eq!((e.column, e.len, e.message.as_str()), (9, 3, "journey `checkout` has no step `pay`"));
}

#[test]
fn errors_next_to_multi_byte_characters_do_not_panic() {
    // Each of these once sliced inside a character: a one-byte caret on `é`, the last byte of a
    // no-break space that `trim` drops, an unknown operator of two-byte characters.
    let cases: &[(&str, usize, usize, &str)] = &[
        ("é < 1", 0, 1, "expected a metric"),
        ("p99 <\u{a0}", 5, 1, "missing value after the comparison"),
        ("p99 ≤ 1s", 4, 1, "expected a comparison"),
        ("checkout:\u{a0}", 9, 1, "missing expression"),
    ];
    for &(text, column, len, message) in cases {
        let e = parse(text).unwrap_err();
        assert_eq!((e.column, e.len, e.message.as_str()), (column, len, message), "{text:?}");
    }
}

#[test]
fn page_timings_are_latencies_with_a_vital() {
    let t = parse("checkout.view-price: p75{vital=lcp} < 2.5s").unwrap();
    assert_eq!(t.metric, Metric::Vital("lcp", VitalStat::Quantile(0.75)));
    assert_eq!(t.limit, Limit::Duration(Duration::from_millis(2500)));
    assert_eq!(parse("max{vital=ttfb} < 800ms").unwrap().metric, Metric::Vital("ttfb", VitalStat::Max));
    assert_eq!(parse("mean{vital=\"fcp\"} < 1s").unwrap().metric, Metric::Vital("fcp", VitalStat::Mean));
    let e = parse("p75{vital=inp} < 200ms").unwrap_err();
    assert!(e.message.contains("unknown selector `vital=inp`"), "{e}");
    assert!(e.hint.as_deref().unwrap_or("").contains("fcp, lcp, tbt, ttfb, dom_content_loaded, load"));
    assert!(parse("p75{vital=lcp} < 5").is_err(), "a vital is a time: it needs a unit");
    assert!(parse("runs{vital=lcp} > 1").is_err());
}
