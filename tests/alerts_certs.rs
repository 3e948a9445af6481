//! Certificate expiry alerts, through the real engine on its injected (paused) clock: JourneyCertExpiring at
//! the ticket threshold, JourneyCertExpiringSoon at the page threshold, per-journey overrides, resolution
//! when a later certificate is presented, an expired certificate beside JourneyDown, maintenance, and one
//! delivery to a webhook on 127.0.0.1:0.

mod alerts;
mod certs;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use alerts::*;
use certs::{cert, failed, run, Seen, DAY};
use journeyd::alert::{AlertMetrics, Clock, Engine, Notice, NoticeKind};
use journeyd::model::Suite;
use journeyd::outcome::{Failure, Reason, RunStatus};
use tokio::time::{advance, Instant};

/// Two steps against an https site; `alerts` is the journey's `alerts:` block.
fn yaml(name: &str, alerts: &str) -> String {
    format!(
        "name: {name}\ntarget: https://shop.example\nevery: 30s\n{alerts}\nsteps:\n  - name: login\n    post: /login\n  \
         - name: pay\n    post: /pay\n"
    )
}

struct Rig {
    engine: Engine,
    registry: prometheus::Registry,
    suite: Suite,
}

impl Rig {
    fn new(journeys: &[(&str, &str)], settings: &str) -> Rig {
        let files: Vec<(String, String)> = journeys.iter().map(|(n, a)| (format!("{n}.yml"), yaml(n, a))).collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let suite = suite(&files);
        let registry = prometheus::Registry::new();
        let metrics = AlertMetrics::register(&registry).unwrap();
        let clock = Clock::at(UNIX_EPOCH + Duration::from_secs(SUNDAY));
        let mut engine = Engine::new(Arc::new(parse_settings(settings)), "http://127.0.0.1:9898/", clock, metrics);
        assert!(engine.suite_changed(&suite, Instant::now()).is_empty());
        Rig { engine, registry, suite }
    }

    fn feed(&mut self, o: journeyd::outcome::RunOutcome) -> Vec<Notice> {
        let j = get(&self.suite, &o.journey);
        self.engine.outcome(&j, &o, Instant::now())
    }

    /// The engine's wall clock now, in Unix seconds.
    fn now(&self) -> i64 {
        self.engine.wall(Instant::now()).duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
    }
}

fn names(notices: &[Notice]) -> Vec<String> {
    notices
        .iter()
        .map(|n| format!("{:?} {} {}", n.kind, n.alert.label("alertname"), n.alert.label("journey")))
        .collect()
}

fn find<'a>(notices: &'a [Notice], alertname: &str) -> &'a Notice {
    notices.iter().find(|n| n.alert.label("alertname") == alertname).unwrap_or_else(|| panic!("no {alertname}"))
}

#[tokio::test(start_paused = true)]
async fn the_ticket_then_the_page_fire_as_expiry_nears_and_resolve_on_a_later_certificate() {
    let mut r = Rig::new(&[("shop", "")], "external_labels: { cluster: eu1 }");
    let now = r.now();
    let fine = cert(1, now + 60 * DAY);
    assert!(r.feed(run("shop", now, &[Seen::Tls(Arc::clone(&fine)), Seen::Reused])).is_empty(), "60 days left");
    // pay's server presents a chain whose first certificate expires in 20 days and 5 hours: a ticket.
    let mut soon = (*cert(2, now + 20 * DAY + 5 * 3600)).clone();
    soon.leaf_expiry = now + 60 * DAY;
    let soon = Arc::new(soon);
    let n = r.feed(run("shop", now, &[Seen::Tls(Arc::clone(&fine)), Seen::Tls(Arc::clone(&soon))]));
    assert_eq!(names(&n), ["Firing JourneyCertExpiring shop"]);
    let a = &n[0].alert;
    assert_eq!((a.label("severity"), a.label("cluster")), ("ticket", "eu1"));
    let expires = journeyd::units::rfc3339_unix(now + 20 * DAY + 5 * 3600);
    assert_eq!(
        a.annotations["summary"],
        format!(
            "journey shop: the TLS certificate of step \"pay\" (CN=shop-2.example) expires on {expires} (20 days left)"
        )
    );
    assert_eq!(a.annotations["step"], "pay");
    assert_eq!(a.annotations["subject"], "CN=shop-2.example");
    assert_eq!(a.annotations["issuer"], "CN=Test CA,O=journeyd");
    assert_eq!(a.annotations["fingerprint_sha256"], soon.fingerprint_sha256);
    assert_eq!(a.annotations["expires_at"], expires);
    let d = &a.annotations["description"];
    assert!(d.contains("above the leaf expires first"), "an intermediate expires before the leaf: {d}");
    assert!(d.contains("on 2 fresh connection(s) in a row") && d.contains("less than 21d left"), "{d}");
    assert_eq!(
        metric(&r.registry, r#"journey_alert_firing{alertname="JourneyCertExpiring",journey="shop"}"#),
        Some(1.0)
    );
    assert_eq!(metric(&r.registry, r#"journey_state{journey="shop",state="up"}"#), Some(1.0), "still up");

    // Two weeks later: 6 days left, so it pages; the ticket says how many days are left now.
    advance(Duration::from_secs(14 * 86_400)).await;
    let n = r.feed(run("shop", r.now(), &[Seen::Reused, Seen::Tls(Arc::clone(&soon))]));
    assert_eq!(names(&n), ["Update JourneyCertExpiring shop", "Firing JourneyCertExpiringSoon shop"]);
    let page = &find(&n, "JourneyCertExpiringSoon").alert;
    assert_eq!(page.label("severity"), "page");
    assert!(page.annotations["summary"].ends_with("(6 days left)"), "{:?}", page.annotations["summary"]);
    assert!(r.feed(run("shop", r.now(), &[Seen::Reused, Seen::Reused])).is_empty(), "reused connections say nothing");

    // A renewed certificate: once is not enough (a balancer may still serve the old one), twice in a row is.
    let renewed = Seen::Tls(cert(3, r.now() + 90 * DAY));
    assert!(r.feed(run("shop", r.now(), &[Seen::Reused, renewed.clone()])).is_empty());
    let n = r.feed(run("shop", r.now(), &[Seen::Reused, renewed.clone()]));
    assert_eq!(names(&n), ["Resolved JourneyCertExpiring shop", "Resolved JourneyCertExpiringSoon shop"]);
    assert!(n.iter().all(|n| n.kind == NoticeKind::Resolved && n.alert.ends_at.is_some()));
    assert!(r.feed(run("shop", r.now(), &[Seen::Reused, renewed])).is_empty());
}

#[tokio::test(start_paused = true)]
async fn thresholds_come_from_the_journey_then_the_settings_file() {
    let files = [("own", "alerts: { cert_expiry: { ticket: 40d, page: 35d } }"), ("defaults", "")];
    let mut r =
        Rig::new(&files, "defaults: { cert_expiry: { ticket: 10d, page: 2d }, severity: { cert_expiring: low } }");
    let now = r.now();
    let in_36_days = [Seen::Tls(cert(1, now + 36 * DAY)), Seen::Reused];
    let n = r.feed(run("own", now, &in_36_days));
    assert_eq!(names(&n), ["Firing JourneyCertExpiring own"]);
    assert_eq!(n[0].alert.label("severity"), "low");
    assert!(r.feed(run("defaults", now, &in_36_days)).is_empty(), "10d from the settings file");
    let in_9_days = [Seen::Tls(cert(2, now + 9 * DAY)), Seen::Reused];
    assert_eq!(names(&r.feed(run("defaults", now, &in_9_days))), ["Firing JourneyCertExpiring defaults"]);
    let in_1_day = [Seen::Tls(cert(3, now + DAY + 60)), Seen::Reused];
    let n = r.feed(run("defaults", now, &in_1_day));
    assert!(names(&n).contains(&"Firing JourneyCertExpiringSoon defaults".to_string()), "{:?}", names(&n));
}

/// The documented choice: an expired certificate is its own alert, beside JourneyDown. When it expires the
/// handshake fails (reason tls) and presents nothing, so the certificate last seen keeps its alert firing,
/// saying when it expired; JourneyDown pages for the outage.
#[tokio::test(start_paused = true)]
async fn an_expired_certificate_keeps_its_alert_beside_journey_down() {
    let mut r = Rig::new(&[("shop", "alerts: { failure_threshold: 1 }")], "");
    let now = r.now();
    let n = r.feed(run("shop", now, &[Seen::Tls(cert(1, now + 3600 * 5)), Seen::Reused]));
    assert_eq!(names(&n), ["Firing JourneyCertExpiring shop", "Firing JourneyCertExpiringSoon shop"]);
    advance(Duration::from_secs(2 * 86_400)).await;
    let mut o = failed("shop", r.now(), &[Seen::Reused]);
    o.steps[0].status = None;
    o.status = RunStatus::Failed(Box::new(Failure::new(0, "login", Reason::Tls, "invalid peer certificate: Expired")));
    let n = r.feed(o);
    assert_eq!(
        names(&n),
        ["Firing JourneyDown shop", "Update JourneyCertExpiring shop", "Update JourneyCertExpiringSoon shop"]
    );
    let page = &find(&n, "JourneyCertExpiringSoon").alert;
    assert!(page.annotations["summary"].contains("expired on") && page.annotations["summary"].ends_with("(1 day ago)"));
    assert_eq!(find(&n, "JourneyDown").alert.annotations["reason"], "tls");
}

#[tokio::test(start_paused = true)]
async fn maintenance_holds_certificate_alerts_like_the_others() {
    let settings = "maintenance: [{ journeys: [shop], days: [sun], start: '00:00', duration: 1h, reason: renewal }]";
    let mut r = Rig::new(&[("shop", "")], settings);
    let now = r.now();
    assert!(r.feed(run("shop", now, &[Seen::Tls(cert(1, now + 3 * DAY)), Seen::Reused])).is_empty());
    advance(Duration::from_secs(3601)).await;
    let n = r.engine.tick(Instant::now());
    assert_eq!(names(&n), ["Firing JourneyCertExpiring shop", "Firing JourneyCertExpiringSoon shop"]);
}

#[tokio::test(start_paused = true)]
async fn a_webhook_receives_the_certificate_alert() {
    let (url, _r, mut hits) = receiver(&[], 200).await;
    let mut rig = HandleRig::new(&format!("receivers: {{ webhook: [{{ name: ops, url: '{url}/hook' }}] }}"), &["shop"]);
    let now = SUNDAY as i64;
    rig.feed(run("shop", now, &[Seen::Tls(cert(9, now + 10 * DAY))]));
    let hit = hits.recv().await.unwrap();
    let alert = &hit.body["alert"];
    assert_eq!(
        (alert["alertname"].as_str(), alert["severity"].as_str()),
        (Some("JourneyCertExpiring"), Some("ticket"))
    );
    assert_eq!(alert["annotations"]["step"], "home");
    assert_eq!(alert["annotations"]["subject"], "CN=shop-9.example");
    assert!(alert["annotations"]["summary"].as_str().unwrap().ends_with("(10 days left)"), "{alert}");
}
