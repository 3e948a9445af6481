//! A reloaded settings file applied to running alerting, against real HTTP receivers on 127.0.0.1:0 with
//! paused time: receivers added, removed and kept, the identity of firing alerts under new labels, and an
//! unchanged file that changes nothing.

mod alerts;

use std::sync::atomic::Ordering;
use std::time::Duration;

use alerts::*;
use journeyd::alert::receivers::RETIRE_WITHIN;
use tokio::sync::mpsc;

type Rig = HandleRig;

impl HandleRig {
    fn reload(&self, settings: &str) {
        let new = self.handle.prepare(parse_settings(settings)).unwrap();
        self.handle.apply_settings(new);
    }

    fn receivers(&self) -> Vec<String> {
        self.handle.pending().into_iter().map(|(name, _)| name).collect()
    }
}

/// Everything that reached the receiver so far.
fn drain(hits: &mut mpsc::UnboundedReceiver<Hit>) -> Vec<Hit> {
    std::iter::from_fn(|| hits.try_recv().ok()).collect()
}

/// `status journey` of a webhook message.
fn webhook(h: &Hit) -> String {
    format!("{} {} {}", h.path, h.body["status"].as_str().unwrap(), h.body["alert"]["journey"].as_str().unwrap())
}

#[tokio::test(start_paused = true)]
async fn an_added_receiver_hears_what_fires_and_a_removed_one_hears_nothing_more() {
    let (url, _r, mut hits) = receiver(&[], 200).await;
    let mut rig = Rig::new(&format!("receivers: {{ webhook: [{{ name: a, url: '{url}/a' }}] }}"), &["shop"]);
    rig.feed(fail("shop"));
    assert_eq!(webhook(&hits.recv().await.unwrap()), "/a firing shop");
    settle(|| rig.handle.pending() == [("a".to_string(), 0)]).await;

    // `a` is removed, `b` added: b is told at once about the alert that is already firing.
    rig.reload(&format!("receivers: {{ webhook: [{{ name: b, url: '{url}/b' }}] }}"));
    assert_eq!(rig.receivers(), ["b"]);
    let h = hits.recv().await.unwrap();
    assert_eq!(webhook(&h), "/b firing shop");
    assert_eq!(h.body["reminder"], false);
    assert_eq!(h.body["alert"]["alertname"], "JourneyDown");

    // The journey recovers: only b hears of it, then or later (a's task is gone).
    rig.feed(pass("shop"));
    assert_eq!(webhook(&hits.recv().await.unwrap()), "/b resolved shop");
    tokio::time::sleep(RETIRE_WITHIN * 2).await;
    let late: Vec<String> = drain(&mut hits).iter().map(webhook).collect();
    assert!(late.is_empty(), "{late:?}");
    assert_eq!(rig.dropped("a"), 0.0, "a had delivered everything before it was removed");
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_receiver_keeps_its_queue_and_an_unchanged_file_changes_nothing() {
    let (url, r, mut hits) = receiver(&[], 503).await;
    let first = format!("receivers: {{ webhook: [{{ name: a, url: '{url}/a' }}] }}\ndelivery: {{ max_backoff: 1s }}");
    let mut rig = Rig::new(&first, &["shop"]);
    rig.feed(fail("shop"));
    assert_eq!(hits.recv().await.unwrap().status, 503);
    assert_eq!(rig.handle.pending(), [("a".to_string(), 1)]);

    // The same file again: nothing is re-sent, the retrying outbox is the same one.
    rig.reload(&first);
    // A receiver added next to it: `a` keeps its pending message (one, not a second copy).
    let second = format!(
        "receivers: {{ webhook: [{{ name: a, url: '{url}/a' }}, {{ name: b, url: '{url}/b' }}] }}\n\
         delivery: {{ max_backoff: 1s }}"
    );
    rig.reload(&second);
    assert_eq!(rig.handle.pending(), [("a".to_string(), 1), ("b".to_string(), 1)]);
    r.default.store(200, Ordering::SeqCst);
    let mut delivered = Vec::new();
    while delivered.len() < 2 {
        let h = hits.recv().await.unwrap();
        if h.status == 200 {
            delivered.push(webhook(&h));
        }
    }
    delivered.sort();
    assert_eq!(delivered, ["/a firing shop", "/b firing shop"]);
    settle(|| rig.handle.pending() == [("a".to_string(), 0), ("b".to_string(), 0)]).await;
    // Nothing else was queued anywhere: no duplicate firing for `a` from either reload.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let rest: Vec<String> = drain(&mut hits).iter().filter(|h| h.status == 200).map(webhook).collect();
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test(start_paused = true)]
async fn a_removed_receiver_that_cannot_deliver_is_given_up_on_and_counted() {
    let (url, _r, mut hits) = receiver(&[], 503).await;
    let mut rig = Rig::new(&format!("receivers: {{ webhook: [{{ name: a, url: '{url}/a' }}] }}"), &["shop"]);
    rig.feed(fail("shop"));
    assert_eq!(hits.recv().await.unwrap().status, 503);
    rig.reload("");
    assert!(rig.receivers().is_empty());
    // It keeps trying for a short while, then stops for good; the message it never delivered is counted.
    tokio::time::sleep(RETIRE_WITHIN + Duration::from_secs(1)).await;
    settle(|| rig.dropped("a") == 1.0).await;
    drain(&mut hits);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(drain(&mut hits).is_empty(), "a removed receiver's task must be gone");
}

#[tokio::test(start_paused = true)]
async fn alertmanager_sees_the_old_identity_resolved_and_the_new_one_firing() {
    let (url, _r, mut hits) = receiver(&[], 200).await;
    let am = format!("receivers: {{ alertmanager: [{{ name: am, url: '{url}' }}] }}");
    let mut rig = Rig::new(&format!("external_labels: {{ cluster: eu1 }}\n{am}"), &["shop"]);
    rig.feed(fail("shop"));
    let first = hits.recv().await.unwrap();
    assert_eq!(first.body[0]["labels"]["cluster"], "eu1");
    settle(|| rig.handle.pending() == [("am".to_string(), 0)]).await;

    rig.reload(&format!("external_labels: {{ cluster: eu2 }}\nexternal_url: https://journeyd.example/\n{am}"));
    let h = hits.recv().await.unwrap();
    let alerts = h.body.as_array().unwrap();
    assert_eq!(alerts.len(), 2, "{}", h.body);
    let by = |cluster: &str| alerts.iter().find(|a| a["labels"]["cluster"] == cluster).unwrap();
    let (old, new) = (by("eu1"), by("eu2"));
    // Resolved: endsAt is the resolution time, not a time in the future.
    assert_eq!(old["endsAt"], old["startsAt"], "{old}");
    assert_eq!(new["startsAt"], first.body[0]["startsAt"]);
    assert_ne!(new["endsAt"], new["startsAt"], "{new}");
    assert_eq!(new["generatorURL"], "https://journeyd.example/api/v1/alerts?journey=shop");
    assert_eq!(new["labels"]["alertname"], "JourneyDown");
}
