//! The alert state machine, driven with paused time: hysteresis, degraded, dependency suppression,
//! maintenance, SLO burn rates, latency windows, and state across reloads.

mod alerts;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alerts::*;
use journeyd::alert::{AlertMetrics, Clock, Engine, Health, Notice};
use journeyd::settings::Settings;
use tokio::time::{advance, Instant};

struct Rig {
    engine: Engine,
    registry: prometheus::Registry,
    suite: journeyd::model::Suite,
}

impl Rig {
    fn new(files: &[(&str, String)], settings: &str, wall: SystemTime) -> Rig {
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let suite = suite(&files);
        let settings = parse_settings(settings);
        let registry = prometheus::Registry::new();
        let metrics = AlertMetrics::register(&registry).unwrap();
        let mut engine = Engine::new(Arc::new(settings), "http://127.0.0.1:9898/", Clock::at(wall), metrics);
        assert!(engine.suite_changed(&suite, Instant::now()).is_empty());
        Rig { engine, registry, suite }
    }

    fn feed(&mut self, o: journeyd::outcome::RunOutcome) -> Vec<Notice> {
        let j = get(&self.suite, &o.journey);
        self.engine.outcome(&j, &o, Instant::now())
    }

    fn metric(&self, series: &str) -> Option<f64> {
        metric(&self.registry, series)
    }
}

fn names(notices: &[Notice]) -> Vec<String> {
    notices
        .iter()
        .map(|n| format!("{:?} {} {}", n.kind, n.alert.label("alertname"), n.alert.label("journey")))
        .collect()
}

fn one(files: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    files
        .iter()
        .map(|(n, extra)| (Box::leak(format!("{n}.yml").into_boxed_str()) as &str, journey_yaml(n, extra)))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn down_fires_after_n_failures_and_resolves_after_m_passes() {
    let mut r = Rig::new(&one(&[("shop", "")]), "external_labels: { cluster: eu1 }", SystemTime::now());
    assert_eq!(r.metric(r#"journey_state{journey="shop",state="unknown"}"#), Some(1.0));
    assert!(r.feed(fail("shop")).is_empty());
    assert!(r.feed(fail("shop")).is_empty());
    // A cancelled run is neither: the streak goes on.
    assert!(r.feed(cancelled("shop")).is_empty());
    // Until the threshold, the state machine still says up: one flaky run is not an outage.
    assert_eq!(r.metric(r#"journey_state{journey="shop",state="up"}"#), Some(1.0));
    let n = r.feed(fail("shop"));
    assert_eq!(names(&n), ["Firing JourneyDown shop"]);
    let a = &n[0].alert;
    assert_eq!(a.label("severity"), "page");
    assert_eq!(a.label("cluster"), "eu1");
    assert_eq!(a.annotations["step"], "home");
    assert_eq!(a.annotations["reason"], "status");
    assert!(
        a.annotations["evidence"].contains("status: 503") && a.annotations["evidence"].contains("upstream unavailable")
    );
    assert!(a.annotations["summary"].contains("shop is down"));
    assert_eq!(a.generator_url, "http://127.0.0.1:9898/api/v1/alerts?journey=shop");
    assert_eq!(r.metric(r#"journey_state{journey="shop",state="down"}"#), Some(1.0));
    assert_eq!(r.metric(r#"journey_alert_firing{alertname="JourneyDown",journey="shop"}"#), Some(1.0));
    // More failures do not fire again.
    assert!(r.feed(fail("shop")).is_empty());
    // One pass is not enough; a failure in between restarts the count.
    assert!(r.feed(pass("shop")).is_empty());
    assert!(r.feed(fail("shop")).is_empty());
    assert!(r.feed(pass("shop")).is_empty());
    let n = r.feed(pass("shop"));
    assert_eq!(names(&n), ["Resolved JourneyDown shop"]);
    assert!(n[0].alert.ends_at.is_some());
    assert_eq!(r.metric(r#"journey_state{journey="shop",state="up"}"#), Some(1.0));
    assert_eq!(r.metric(r#"journey_alert_firing{alertname="JourneyDown",journey="shop"}"#), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn journey_thresholds_override_the_settings_defaults() {
    let files = one(&[("shop", "alerts: { failure_threshold: 1, success_threshold: 1 }")]);
    let mut r = Rig::new(&files, "defaults: { failure_threshold: 5 }", SystemTime::now());
    assert_eq!(names(&r.feed(fail("shop"))), ["Firing JourneyDown shop"]);
    assert_eq!(names(&r.feed(pass("shop"))), ["Resolved JourneyDown shop"]);
}

#[tokio::test(start_paused = true)]
async fn soft_failures_and_slow_steps_degrade_with_their_own_severity() {
    let files = one(&[("shop", "alerts:\n  latency: [{ step: home, budget: 200ms, window: 1m }]")]);
    let mut r = Rig::new(&files, "defaults: { failure_threshold: 2, success_threshold: 2 }", SystemTime::now());
    assert!(r.feed(soft("shop")).is_empty());
    let n = r.feed(slow("shop", 500));
    let fired = names(&n);
    assert!(fired.contains(&"Firing JourneyDegraded shop".to_string()), "{fired:?}");
    let degraded = n.iter().find(|n| n.alert.label("alertname") == "JourneyDegraded").unwrap();
    assert_eq!(degraded.alert.label("severity"), "warning");
    assert!(degraded.alert.annotations["description"].contains("over its 200ms budget"), "{degraded:?}");
    assert_eq!(r.metric(r#"journey_state{journey="shop",state="degraded"}"#), Some(1.0));
    // The p99 over the last minute is 500ms: JourneyLatency fires too.
    assert!(fired.contains(&"Firing JourneyLatency shop".to_string()), "{fired:?}");
    // Clean runs: degraded resolves after two; latency once the slow sample leaves the window.
    assert!(!names(&r.feed(pass("shop"))).contains(&"Resolved JourneyDegraded shop".to_string()));
    assert!(names(&r.feed(pass("shop"))).contains(&"Resolved JourneyDegraded shop".to_string()));
    advance(Duration::from_secs(61)).await;
    // The once-a-second tick, not an outcome, notices the window emptied.
    assert_eq!(names(&r.engine.tick(Instant::now())), ["Resolved JourneyLatency shop"]);
}

#[tokio::test(start_paused = true)]
async fn the_tick_passes_over_quiet_journeys_and_keeps_time_driven_ones() {
    let files = one(&[("quiet", ""), ("slow", "alerts:\n  latency: [{ step: home, budget: 200ms, window: 1m }]")]);
    let mut r = Rig::new(&files, "", SystemTime::now());
    for _ in 0..3 {
        r.feed(fail("quiet"));
    }
    assert_eq!(r.engine.views().iter().find(|v| v.journey == "quiet").unwrap().firing, ["JourneyDown"]);
    assert!(names(&r.feed(slow("slow", 500))).contains(&"Firing JourneyLatency slow".to_string()));
    advance(Duration::from_secs(30)).await;
    assert!(r.engine.tick(Instant::now()).is_empty());
    advance(Duration::from_secs(31)).await;
    // Only the latency alert moves with the clock; the quiet journey's alert stands until an outcome.
    assert_eq!(names(&r.engine.tick(Instant::now())), ["Resolved JourneyLatency slow"]);
    assert_eq!(r.metric(r#"journey_alert_firing{alertname="JourneyDown",journey="quiet"}"#), Some(1.0));
    assert_eq!(names(&r.feed(pass("quiet"))), Vec::<String>::new());
    assert_eq!(names(&r.feed(pass("quiet"))), ["Resolved JourneyDown quiet"]);
}

#[tokio::test(start_paused = true)]
async fn a_down_dependency_suppresses_its_dependents_and_says_why() {
    let files = one(&[("login", ""), ("account", "depends_on: [login]")]);
    let mut r = Rig::new(&files, "", SystemTime::now());
    for _ in 0..2 {
        assert!(r.feed(fail("account")).is_empty());
        assert!(r.feed(fail("login")).is_empty());
    }
    // account reaches its threshold first, but login is failing too: account waits for login's verdict.
    assert!(r.feed(fail("account")).is_empty());
    let held = r.engine.views().into_iter().find(|v| v.journey == "account").unwrap();
    assert_eq!(held.suppressed_by.as_deref(), Some("login"));
    // login is down: one outage, one page, which names what it holds back.
    let n = r.feed(fail("login"));
    assert_eq!(names(&n), ["Firing JourneyDown login"]);
    assert!(n[0].alert.annotations["suppressing"].contains("account"));
    assert_eq!(r.metric(r#"journey_alert_suppressed{journey="account"}"#), Some(1.0));
    assert_eq!(r.metric(r#"journey_alert_firing{alertname="JourneyDown",journey="account"}"#), Some(0.0));
    assert!(r.feed(fail("account")).is_empty());
    let view = r.engine.views().into_iter().find(|v| v.journey == "account").unwrap();
    assert_eq!(view.suppressed_by.as_deref(), Some("login"));
    assert_eq!(view.state, Health::Down);
    // login recovers, account is still broken: now account pages on its own.
    r.feed(pass("login"));
    let n = r.feed(pass("login"));
    assert_eq!(names(&n), ["Firing JourneyDown account", "Resolved JourneyDown login"]);
    assert_eq!(r.metric(r#"journey_alert_suppressed{journey="account"}"#), Some(0.0));
    // account already pages; one flaky login failure does not withdraw it (only a down login would).
    assert!(r.feed(fail("login")).is_empty());
    assert!(r.feed(fail("account")).is_empty());
    r.feed(fail("login"));
    let n = r.feed(fail("login"));
    assert_eq!(names(&n), ["Resolved JourneyDown account", "Firing JourneyDown login"]);
    assert_eq!(n[0].alert.annotations["suppressed_by"], "depends on login, which is down");
}

#[tokio::test(start_paused = true)]
async fn ad_hoc_maintenance_holds_alerts_until_it_ends() {
    let mut r = Rig::new(&one(&[("shop", "")]), "", SystemTime::now());
    for _ in 0..2 {
        r.feed(fail("shop"));
    }
    assert_eq!(names(&r.feed(fail("shop"))), ["Firing JourneyDown shop"]);
    let now = Instant::now();
    let wall = r.engine.wall(now);
    r.engine.maintenance.add("*", Duration::from_secs(1800), "deploying v2", now, wall).unwrap();
    let n = r.engine.reconcile(now);
    assert_eq!(names(&n), ["Resolved JourneyDown shop"]);
    assert_eq!(n[0].alert.annotations["suppressed_by"], "in maintenance: deploying v2");
    assert_eq!(r.metric(r#"journey_maintenance{journey="shop"}"#), Some(1.0));
    assert_eq!(r.metric(r#"journey_state{journey="shop",state="maintenance"}"#), Some(1.0));
    assert!(r.feed(fail("shop")).is_empty());
    advance(Duration::from_secs(1799)).await;
    assert!(r.engine.tick(Instant::now()).is_empty());
    advance(Duration::from_secs(1)).await;
    // Still failing when the window closes: the tick brings the alert back (no outcome needed).
    assert_eq!(names(&r.engine.tick(Instant::now())), ["Firing JourneyDown shop"]);
    assert!(r.engine.tick(Instant::now()).is_empty());
    assert_eq!(r.metric(r#"journey_maintenance{journey="shop"}"#), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn weekly_maintenance_from_the_settings_file_follows_the_wall_clock() {
    let settings = r#"maintenance: [{ journeys: [shop], days: [sun], start: "02:00", duration: 1h, reason: backups }]"#;
    // 01:59:30 on a Sunday.
    let wall = UNIX_EPOCH + Duration::from_secs(SUNDAY + 2 * 3600 - 30);
    let mut r = Rig::new(&one(&[("shop", ""), ("other", "")]), settings, wall);
    for _ in 0..2 {
        r.feed(fail("shop"));
    }
    advance(Duration::from_secs(31)).await;
    assert!(r.feed(fail("shop")).is_empty(), "02:00:01 is inside the window");
    assert_eq!(r.metric(r#"journey_maintenance{journey="shop"}"#), Some(1.0));
    assert_eq!(r.metric(r#"journey_maintenance{journey="other"}"#), Some(0.0));
    advance(Duration::from_secs(3600)).await;
    assert_eq!(names(&r.engine.reconcile(Instant::now())), ["Firing JourneyDown shop"]);
}

#[tokio::test(start_paused = true)]
async fn slo_burn_rates_page_fast_and_ticket_slow() {
    let files = one(&[("shop", "slo: { availability: 99%, window: 1d }")]);
    let mut r = Rig::new(&files, "defaults: { failure_threshold: 1000 }", SystemTime::now());
    // Six hours at 1 failure in 12 runs (8.3% errors = burn 8.3): slow burn only.
    let mut fired = Vec::new();
    for i in 0..720 {
        let o = if i % 12 == 0 { fail("shop") } else { pass("shop") };
        fired.extend(names(&r.feed(o)));
        advance(Duration::from_secs(30)).await;
    }
    assert!(fired.contains(&"Firing JourneySLOBurnSlow shop".to_string()), "{fired:?}");
    assert!(!fired.iter().any(|f| f.contains("BurnFast")), "{fired:?}");
    let burn6h = r.metric(r#"journey_slo_burn_rate{journey="shop",window="6h"}"#).unwrap();
    assert!((burn6h - 100.0 / 12.0).abs() < 0.5, "{burn6h}");
    assert_eq!(r.metric(r#"journey_slo_objective_ratio{journey="shop"}"#), Some(0.99));
    let budget = r.metric(r#"journey_slo_error_budget_remaining_ratio{journey="shop"}"#).unwrap();
    assert!(budget < 0.0, "{budget}");
    // Then a hard outage: everything fails, the fast burn pages within minutes.
    let mut fired = Vec::new();
    for _ in 0..10 {
        fired.extend(names(&r.feed(fail("shop"))));
        advance(Duration::from_secs(30)).await;
    }
    assert!(fired.contains(&"Firing JourneySLOBurnFast shop".to_string()), "{fired:?}");
    let n = r.engine.reconcile(Instant::now());
    assert!(n.is_empty(), "{:?}", names(&n));
    let fast = r.engine.firing().into_iter().find(|a| a["labels"]["alertname"] == "JourneySLOBurnFast").unwrap();
    assert_eq!(fast["labels"]["severity"], "page");
}

#[tokio::test(start_paused = true)]
async fn unchanged_journeys_keep_their_alerts_across_a_reload() {
    let files = one(&[("shop", ""), ("gone", "")]);
    let mut r = Rig::new(&files, "", SystemTime::now());
    for _ in 0..3 {
        r.feed(fail("shop"));
        r.feed(fail("gone"));
    }
    // The same files again: same fingerprints, nothing changes, the alert stays.
    let same = suite(&[("shop.yml", &journey_yaml("shop", ""))]);
    let n = r.engine.suite_changed(&same, Instant::now());
    assert_eq!(names(&n), ["Resolved JourneyDown gone"]);
    assert_eq!(r.metric(r#"journey_state{journey="gone",state="down"}"#), None);
    let views = r.engine.views();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].firing, ["JourneyDown"]);
    // A changed journey starts over.
    let changed = suite(&[("shop.yml", &journey_yaml("shop", "description: edited"))]);
    let n = r.engine.suite_changed(&changed, Instant::now());
    assert_eq!(names(&n), ["Resolved JourneyDown shop"]);
}

fn settings(text: &str) -> Arc<Settings> {
    Arc::new(parse_settings(text))
}

#[tokio::test(start_paused = true)]
async fn reloaded_thresholds_apply_to_the_kept_streaks_of_unchanged_journeys() {
    let files = one(&[("shop", ""), ("slow", ""), ("pinned", "alerts: { failure_threshold: 5 }")]);
    let mut r = Rig::new(&files, "", SystemTime::now());
    for j in ["shop", "slow", "pinned"] {
        assert!(r.feed(fail(j)).is_empty());
        assert!(r.feed(fail(j)).is_empty());
    }
    // Raised from 3 to 4: nothing fires, and the two failures before the reload still count.
    assert!(r.engine.settings_changed(settings("defaults: { failure_threshold: 4 }"), Instant::now()).is_empty());
    assert!(r.feed(fail("shop")).is_empty());
    assert_eq!(names(&r.feed(fail("shop"))), ["Firing JourneyDown shop"]);
    // Lowered to 2: `slow` has failed twice in a row, so it is down now; `pinned` keeps its own 5.
    let n = r.engine.settings_changed(settings("defaults: { failure_threshold: 2 }"), Instant::now());
    assert_eq!(names(&n), ["Firing JourneyDown slow"]);
    assert!(n[0].alert.annotations["evidence"].contains("status: 503"), "the kept evidence: {:?}", n[0]);
    assert_eq!(r.metric(r#"journey_state{journey="slow",state="down"}"#), Some(1.0));
    assert_eq!(r.metric(r#"journey_state{journey="pinned",state="up"}"#), Some(1.0));
    assert!(r.feed(fail("pinned")).is_empty());
    assert!(r.feed(fail("pinned")).is_empty());
    assert_eq!(names(&r.feed(fail("pinned"))), ["Firing JourneyDown pinned"]);
    // A success threshold lowered below the passes already seen recovers at once.
    assert!(r.feed(pass("shop")).is_empty());
    let n =
        r.engine.settings_changed(settings("defaults: { failure_threshold: 2, success_threshold: 1 }"), Instant::now());
    assert_eq!(names(&n), ["Resolved JourneyDown shop"]);
}

#[tokio::test(start_paused = true)]
async fn changed_labels_resolve_the_old_identity_and_fire_the_new_one() {
    let mut r = Rig::new(&one(&[("shop", "")]), "external_labels: { cluster: eu1 }", SystemTime::now());
    for _ in 0..2 {
        r.feed(fail("shop"));
    }
    let started = r.feed(fail("shop"))[0].alert.starts_at;
    advance(Duration::from_secs(10)).await;
    let next = "external_labels: { cluster: eu2 }\ndefaults: { severity: { down: critical } }";
    let n = r.engine.settings_changed(settings(next), Instant::now());
    assert_eq!(names(&n), ["Resolved JourneyDown shop", "Firing JourneyDown shop"]);
    let (old, new) = (&n[0].alert, &n[1].alert);
    assert_eq!((old.label("cluster"), old.label("severity")), ("eu1", "page"));
    assert!(old.ends_at.is_some());
    assert!(old.annotations["suppressed_by"].contains("labels"), "{old:?}");
    assert_eq!((new.label("cluster"), new.label("severity")), ("eu2", "critical"));
    assert_eq!(new.ends_at, None);
    assert_eq!(new.starts_at, started, "the outage started when it started");
    assert_eq!(r.engine.firing()[0]["labels"]["cluster"], "eu2");
    // A new external_url keeps the identity: the link is updated.
    let linked = format!("external_url: https://journeyd.example/\n{next}");
    let n = r.engine.settings_changed(settings(&linked), Instant::now());
    assert_eq!(names(&n), ["Update JourneyDown shop"]);
    assert_eq!(n[0].alert.generator_url, "https://journeyd.example/api/v1/alerts?journey=shop");
    assert!(r.engine.settings_changed(settings(&linked), Instant::now()).is_empty());
    // Dropping it falls back to journeyd's own address.
    let n = r.engine.settings_changed(settings(next), Instant::now());
    assert_eq!(n[0].alert.generator_url, "http://127.0.0.1:9898/api/v1/alerts?journey=shop");
}

#[tokio::test(start_paused = true)]
async fn reloaded_weekly_windows_apply_at_once_and_ad_hoc_windows_stay() {
    // 02:30 on a Sunday.
    let wall = UNIX_EPOCH + Duration::from_secs(SUNDAY + 2 * 3600 + 1800);
    let mut r = Rig::new(&one(&[("shop", ""), ("other", "")]), "", wall);
    for _ in 0..3 {
        r.feed(fail("shop"));
        r.feed(fail("other"));
    }
    let now = Instant::now();
    r.engine.maintenance.add("other", Duration::from_secs(3600), "deploying", now, r.engine.wall(now)).unwrap();
    assert_eq!(names(&r.engine.reconcile(now)), ["Resolved JourneyDown other"]);
    let weekly = r#"maintenance: [{ journeys: [shop], days: [sun], start: "02:00", duration: 1h, reason: backups }]"#;
    let n = r.engine.settings_changed(settings(weekly), Instant::now());
    assert_eq!(names(&n), ["Resolved JourneyDown shop"]);
    assert_eq!(n[0].alert.annotations["suppressed_by"], "in maintenance: backups");
    assert_eq!(r.metric(r#"journey_maintenance{journey="shop"}"#), Some(1.0));
    // The window is gone from the file: shop pages again; the ad hoc window on `other` is untouched.
    let n = r.engine.settings_changed(settings(""), Instant::now());
    assert_eq!(names(&n), ["Firing JourneyDown shop"]);
    assert_eq!(r.metric(r#"journey_maintenance{journey="other"}"#), Some(1.0));
    assert_eq!(r.engine.maintenance.list(Instant::now(), r.engine.wall(Instant::now())).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_reload_that_adds_or_removes_a_dependency_changes_what_an_outcome_reaches() {
    // login runs alone; a reload adds account, which depends on it (login itself is unchanged).
    let mut r = Rig::new(&one(&[("login", "")]), "", SystemTime::now());
    let files = one(&[("login", ""), ("account", "depends_on: [login]")]);
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    r.suite = suite(&files);
    assert!(r.engine.suite_changed(&r.suite, Instant::now()).is_empty());
    r.feed(fail("account"));
    r.feed(fail("account"));
    assert_eq!(names(&r.feed(fail("account"))), ["Firing JourneyDown account"]);
    r.feed(fail("login"));
    r.feed(fail("login"));
    // login's own outcome now reaches account: its alert is held back, and login's page says so.
    let n = r.feed(fail("login"));
    assert_eq!(names(&n), ["Resolved JourneyDown account", "Firing JourneyDown login"]);
    assert_eq!(n[0].alert.annotations["suppressed_by"], "depends on login, which is down");
    assert!(n[1].alert.annotations["suppressing"].contains("account"));

    // A reload drops the dependency (account changed, so it starts over): account pages on its own while
    // login is still down, and login's outcomes no longer touch it.
    let files = one(&[("login", ""), ("account", "")]);
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    r.suite = suite(&files);
    let n = r.engine.suite_changed(&r.suite, Instant::now());
    assert_eq!(names(&n), ["Update JourneyDown login"]);
    assert!(!n[0].alert.annotations.contains_key("suppressing"), "it holds nothing back any more");
    r.feed(fail("account"));
    r.feed(fail("account"));
    assert_eq!(names(&r.feed(fail("account"))), ["Firing JourneyDown account"]);
    let n = r.feed(fail("login"));
    assert_eq!(names(&n), Vec::<String>::new());
    let login = r.engine.views().into_iter().find(|v| v.journey == "login").unwrap();
    assert_eq!(login.firing, ["JourneyDown"]);
}
