//! Delivery against real HTTP receivers on 127.0.0.1:0 that fail on purpose, with paused time: retries
//! with capped backoff, coalescing to the current state for Alertmanager, 4xx drops, bounded queues,
//! reminders, re-sends, and the final flush on shutdown.

mod alerts;

use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use alerts::*;
use journeyd::pipeline::Sink;
use journeyd::units::rfc3339_millis;
use serde_json::Value;
use tokio::time::Instant;

type Rig = HandleRig;

impl HandleRig {
    fn count(&self, receiver: &str, result: &str) -> f64 {
        let series = format!(r#"journeyd_notifications_total{{receiver="{receiver}",result="{result}"}}"#);
        metric(&self.registry, &series).unwrap()
    }
}

/// An RFC 3339 timestamp to the second (paused time still moves a few ms while sockets are polled).
fn to_second(v: &Value) -> &str {
    &v.as_str().unwrap()[..19]
}

fn alert_names(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} {}", a["labels"]["alertname"].as_str().unwrap(), a["labels"]["journey"].as_str().unwrap()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn alertmanager_gets_the_current_state_after_an_outage_with_capped_backoff() {
    let (url, r, mut hits) = receiver(&[], 503).await;
    let settings = format!(
        "external_labels: {{ cluster: eu1 }}\nreceivers: {{ alertmanager: [{{ name: am, url: '{url}' }}] }}\n\
         delivery: {{ initial_backoff: 100ms, max_backoff: 2s }}"
    );
    let mut rig = Rig::new(&settings, &["shop"]);
    rig.feed(fail("shop"));
    let first = hits.recv().await.unwrap();
    assert_eq!(first.path, "/api/v2/alerts");
    assert_eq!(first.status, 503);
    assert_eq!(alert_names(&first.body), ["JourneyDown shop"]);
    let a = &first.body[0];
    assert_eq!(a["labels"]["cluster"], "eu1");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["annotations"]["step"], "home");
    assert_eq!(a["generatorURL"], "http://journeyd.test/api/v1/alerts?journey=shop");
    // Firing: endsAt is startsAt + 4 × the 1m resend interval.
    assert_eq!(to_second(&a["startsAt"]), &rfc3339_millis(UNIX_EPOCH + Duration::from_secs(SUNDAY))[..19]);
    assert_eq!(to_second(&a["endsAt"]), &rfc3339_millis(UNIX_EPOCH + Duration::from_secs(SUNDAY + 240))[..19]);

    // While Alertmanager is down, the journey recovers: the alert resolves.
    rig.feed(pass("shop"));
    let mut at = vec![first.at];
    let mut bodies = Vec::new();
    for _ in 0..8 {
        let h = hits.recv().await.unwrap();
        assert_eq!(h.status, 503);
        at.push(h.at);
        bodies.push(h.body);
    }
    // Retries back off exponentially, with jitter, up to the 2s cap.
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= Duration::from_millis(50) && *g <= Duration::from_secs(2)), "{gaps:?}");
    assert!(gaps[3] >= Duration::from_millis(400), "{gaps:?}");
    assert!(gaps[7] >= Duration::from_secs(1), "{gaps:?}");
    // Every retry carries the current state (resolved), never the stale firing one.
    for b in &bodies {
        assert_eq!(alert_names(b), ["JourneyDown shop"]);
        assert_eq!(b[0]["endsAt"], b[0]["startsAt"], "{b}");
    }
    // Alertmanager comes back: one accepted send, then nothing pending.
    r.default.store(200, Ordering::SeqCst);
    let ok = hits.recv().await.unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(alert_names(&ok.body), ["JourneyDown shop"]);
    settle(|| rig.count("am", "sent") == 1.0).await;
    assert_eq!(rig.count("am", "failed"), 9.0);
    assert_eq!(rig.dropped("am"), 0.0);
    assert_eq!(rig.handle.pending(), [("am".to_string(), 0)]);
}

#[tokio::test(start_paused = true)]
async fn alertmanager_firing_alerts_are_resent_every_resend_interval() {
    let (url, _r, mut hits) = receiver(&[], 200).await;
    let settings = format!("receivers: {{ alertmanager: [{{ url: '{url}', resend_interval: 30s }}] }}");
    let mut rig = Rig::new(&settings, &["shop"]);
    rig.feed(fail("shop"));
    let first = hits.recv().await.unwrap();
    let second = hits.recv().await.unwrap();
    let gap = second.at - first.at;
    assert!(gap >= Duration::from_secs(30) && gap < Duration::from_secs(31), "{gap:?}");
    assert_eq!(second.body[0]["startsAt"], first.body[0]["startsAt"]);
    let ends = rfc3339_millis(UNIX_EPOCH + Duration::from_secs(SUNDAY + 30 + 120));
    assert_eq!(to_second(&second.body[0]["endsAt"]), &ends[..19]);
    settle(|| rig.count("alertmanager", "sent") == 2.0).await;
}

#[tokio::test(start_paused = true)]
async fn webhook_4xx_is_dropped_and_counted_and_reminders_follow_the_repeat_interval() {
    let (url, _r, mut hits) = receiver(&[400], 200).await;
    let settings = format!(
        "receivers:\n  webhook: [{{ name: ops, url: '{url}/hook', repeat_interval: 5m }}]\n  \
         slack: [{{ url: '{url}/slack', repeat_interval: 1h }}]"
    );
    let mut rig = Rig::new(&settings, &["a", "b"]);
    rig.feed(fail("a"));
    rig.feed(fail("b"));
    let mut got = Vec::new();
    for _ in 0..4 {
        let h = hits.recv().await.unwrap();
        got.push((h.path.clone(), h.status, h.body));
    }
    got.sort_by(|x, y| x.0.cmp(&y.0));
    let hook: Vec<&(String, u16, Value)> = got.iter().filter(|h| h.0 == "/hook").collect();
    // The first webhook message met a 400: dropped, counted, and the next one still went out.
    assert_eq!(hook[0].1, 400);
    assert_eq!(hook[1].1, 200);
    assert_eq!(hook[1].2["version"], "1");
    assert_eq!(hook[1].2["status"], "firing");
    assert_eq!(hook[1].2["reminder"], false);
    assert_eq!(hook[1].2["alert"]["journey"], "b");
    assert_eq!(hook[1].2["alert"]["annotations"]["reason"], "status");
    settle(|| rig.count("ops", "sent") == 1.0).await;
    assert_eq!(rig.dropped("ops"), 1.0);
    let slack: Vec<&(String, u16, Value)> = got.iter().filter(|h| h.0 == "/slack").collect();
    assert_eq!(slack.len(), 2);
    assert!(slack[0].2["text"].as_str().unwrap().starts_with("[FIRING] JourneyDown"), "{}", slack[0].2);
    assert!(slack[0].2["blocks"].as_array().unwrap().len() >= 2);
    // Five minutes later: reminders for both (a's first notification was lost, the reminder is not).
    let t0 = Instant::now();
    let r1 = hits.recv().await.unwrap();
    let r2 = hits.recv().await.unwrap();
    let gap = r1.at - t0;
    assert!(gap >= Duration::from_secs(299) && gap < Duration::from_secs(301), "{gap:?}");
    let mut journeys = vec![r1.body["alert"]["journey"].clone(), r2.body["alert"]["journey"].clone()];
    journeys.sort_by_key(|v| v.to_string());
    assert_eq!(journeys, ["a", "b"]);
    assert_eq!(r1.body["reminder"], true);
    // Resolved: sent to both receivers.
    rig.feed(pass("b"));
    rig.feed(pass("b"));
    let mut resolved: Vec<(String, Value)> = Vec::new();
    for _ in 0..2 {
        let h = hits.recv().await.unwrap();
        resolved.push((h.path, h.body));
    }
    resolved.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(resolved[0].1["status"], "resolved");
    assert!(resolved[1].1["text"].as_str().unwrap().starts_with("[RESOLVED]"));
}

#[tokio::test(start_paused = true)]
async fn a_full_webhook_queue_drops_the_oldest_and_delivers_the_rest_in_order() {
    let (url, r, mut hits) = receiver(&[], 503).await;
    let settings = format!(
        "receivers: {{ webhook: [{{ url: '{url}/hook' }}] }}\ndelivery: {{ queue_capacity: 2, max_backoff: 1s }}"
    );
    let mut rig = Rig::new(&settings, &["a", "b", "c"]);
    rig.feed(fail("a"));
    rig.feed(fail("b"));
    rig.feed(fail("c"));
    assert_eq!(rig.dropped("webhook"), 1.0);
    let h = hits.recv().await.unwrap();
    assert_eq!((h.status, h.body["alert"]["journey"].as_str().unwrap()), (503, "b"));
    r.default.store(200, Ordering::SeqCst);
    let mut delivered = Vec::new();
    while delivered.len() < 2 {
        let h = hits.recv().await.unwrap();
        if h.status == 200 {
            delivered.push(h.body["alert"]["journey"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(delivered, ["b", "c"]);
    settle(|| rig.handle.pending() == [("webhook".to_string(), 0)]).await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_delivers_what_is_pending() {
    let (url, _r, mut hits) = receiver(&[503, 503], 200).await;
    let settings = format!("receivers: {{ webhook: [{{ url: '{url}/hook' }}] }}");
    let mut rig = Rig::new(&settings, &["shop"]);
    rig.feed(fail("shop"));
    rig.sink.finish();
    rig.handle.drain(Duration::from_secs(30)).await;
    let statuses: Vec<u16> = std::iter::from_fn(|| hits.try_recv().ok()).map(|h| h.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(rig.handle.pending(), [("webhook".to_string(), 0)]);
}
