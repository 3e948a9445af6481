//! Certificates on the status page and in `/api/v1/journeys`, served by the real status router on
//! 127.0.0.1:0 and fed through the real status and alert sinks: each journey's earliest expiry (date, days
//! left, the warning colour under its own ticket threshold) and each step's leaf.

mod certs;
mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use certs::{cert, run, unix, Seen, DAY};
use journeyd::alert::{AlertHandle, Clock};
use journeyd::model::Suite;
use journeyd::outcome::CertSeen;
use journeyd::pipeline::Sink;
use journeyd::settings::Settings;
use journeyd::shard::Shard;
use journeyd::status::{self, Status, StatusBoard, StatusSink};
use serde_json::Value;

fn journey(name: &str, alerts: &str, target: &str) -> Arc<journeyd::model::Journey> {
    let yaml = format!(
        "name: {name}\ntarget: {target}\n{alerts}\nsteps:\n  - name: login\n    get: /login\n  - name: pay\n    get: /pay\n"
    );
    common::journey(&yaml, &[])
}

/// The row of one journey on the page.
fn row<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html.find(&format!("<tr id=\"journey-{name}\"")).unwrap_or_else(|| panic!("no row {name}"));
    let end = start + html[start..].find("</tr>").unwrap();
    &html[start..end]
}

#[tokio::test]
async fn each_journey_shows_its_earliest_certificate_and_each_step_its_leaf() {
    let suite = Suite {
        journeys: vec![
            journey("shop", "alerts: { cert_expiry: { ticket: 40d } }", "https://shop.example"),
            journey("api", "", "https://api.example"),
            journey("plain", "", "http://127.0.0.1:9"),
        ],
    };
    let registry = prometheus::Registry::new();
    let alerts = AlertHandle::start(Arc::new(Settings::default()), &registry, "http://t/", Clock::system()).unwrap();
    let board = StatusBoard::new();
    let status = Status::new(board.clone(), Shard { index: 0, count: 1 }).with_source(Arc::new(alerts.clone()));
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(StatusSink::new(board.clone())), Box::new(alerts.sink())];
    let now = unix(SystemTime::now());
    // shop: login has 30 days left (under its own 40-day ticket threshold); pay presented a certificate,
    // then answered over plain http. The subject is hostile markup.
    let mut login = (*cert(1, now + 30 * DAY + 3600)).clone();
    login.subject = "CN=<script>alert(1)</script>".into();
    login.leaf_expiry = now + 80 * DAY;
    let login = Arc::new(login);
    let outcomes = [
        run("shop", now, &[Seen::Tls(Arc::clone(&login)), Seen::Tls(cert(2, now + 5 * DAY))]),
        run("shop", now, &[Seen::Reused, Seen::Plain]),
        run("api", now, &[Seen::Tls(cert(3, now + 30 * DAY + 3600)), Seen::Tls(cert(4, now + 200 * DAY))]),
        run("plain", now, &[Seen::Plain, Seen::Plain]),
    ];
    for s in &mut sinks {
        s.suite_changed(&suite);
        for o in &outcomes {
            let j = suite.get(&o.journey).unwrap();
            s.outcome(j, o);
        }
    }
    let url = common::serve(status::router(status)).await;
    let api: Value = reqwest::get(format!("{url}/api/v1/journeys")).await.unwrap().json().await.unwrap();
    let j = |name: &str| api["journeys"].as_array().unwrap().iter().find(|j| j["name"] == name).unwrap().clone();

    let shop = j("shop");
    let earliest = &shop["earliest_cert"];
    assert_eq!(earliest["step"], "login", "pay's 5-day certificate is gone with plain http: {shop}");
    assert_eq!(earliest["days_left"], 30);
    assert_eq!(earliest["expires_at"], journeyd::units::rfc3339_unix(now + 30 * DAY + 3600));
    assert_eq!(earliest["warning"], true, "under the journey's own 40-day ticket threshold");
    let tls = &shop["steps"][0]["tls"];
    assert_eq!(tls["version"], "TLS 1.3");
    assert_eq!(tls["subject"], "CN=<script>alert(1)</script>");
    assert_eq!(tls["issuer"], "CN=Test CA,O=journeyd");
    assert_eq!(tls["fingerprint_sha256"], login.fingerprint_sha256.as_str());
    assert_eq!(tls["serial"], "1");
    assert_eq!(tls["leaf_expires_at"], journeyd::units::rfc3339_unix(now + 80 * DAY));
    assert!(shop["steps"][1]["tls"].is_null());
    let api_j = j("api");
    assert_eq!(
        (api_j["earliest_cert"]["step"].as_str(), api_j["earliest_cert"]["warning"].as_bool()),
        (Some("login"), Some(false)),
        "30 days: over the default 21"
    );
    assert_eq!(api_j["steps"][1]["tls"]["days_left"], 200);
    assert!(j("plain")["earliest_cert"].is_null() && j("plain")["steps"][0]["tls"].is_null());

    let html = reqwest::get(format!("{url}/")).await.unwrap().text().await.unwrap();
    let shop_row = row(&html, "shop");
    assert!(shop_row.contains("<div class=\"cert warn\" data-days-left=\"30\">"), "{shop_row}");
    assert!(shop_row.contains("30 days left"), "{shop_row}");
    assert!(
        shop_row.contains("login: CN=&lt;script&gt;alert(1)&lt;/script&gt; · issued by CN=Test CA,O=journeyd"),
        "{shop_row}"
    );
    assert!(!html.contains("<script>"), "escaped");
    assert!(shop_row.contains(&format!(
        "<span title=\"{}\">sha256 {}…</span>",
        login.fingerprint_sha256,
        &login.fingerprint_sha256[..16]
    )));
    assert!(row(&html, "api").contains("<div class=\"cert\" data-days-left=\"30\">"));
    assert!(row(&html, "plain").contains("no TLS seen"));
    alerts.drain(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn without_the_alert_engine_the_default_ticket_threshold_colours_the_page() {
    let suite =
        Suite { journeys: vec![journey("soon", "", "https://a.example"), journey("later", "", "https://b.example")] };
    let board = StatusBoard::new();
    board.set_suite(&suite);
    let now = unix(SystemTime::now());
    board.record(&run("soon", now, &[Seen::Tls(cert(1, now + 20 * DAY + 3600)), Seen::Reused]));
    board.record(&run("later", now, &[Seen::Reused, Seen::Tls(cert(2, now + 22 * DAY))]));
    let url = common::serve(status::router(Status::new(board, Shard { index: 0, count: 1 }))).await;
    let api: Value = reqwest::get(format!("{url}/api/v1/journeys")).await.unwrap().json().await.unwrap();
    let warning: Vec<(String, bool)> = api["journeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["name"].as_str().unwrap().to_string(), j["earliest_cert"]["warning"].as_bool().unwrap()))
        .collect();
    assert_eq!(warning, [("later".to_string(), false), ("soon".to_string(), true)]);
    // Text from the server is clipped before it is shown.
    let long = CertSeen { subject: "CN=".to_string() + &"a".repeat(10_000), ..(*cert(3, now + DAY)).clone() };
    assert_eq!(journeyd::status::StepTlsView::of(&Arc::new(long), now).subject.len(), CertSeen::MAX_TEXT);
}
