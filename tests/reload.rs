//! Reload of the daemon: `POST /-/reload` and SIGHUP re-read every file; unchanged journeys keep their
//! counters, removed journeys' series disappear, new ones start, a bad config is rejected with
//! `file:line:col` and the old one keeps running, and a storm of reloads leaves one scheduler per journey.
//! The daemon runs in-process through the library entry; SIGHUP is tested on the real binary.

mod daemon_support;

use std::time::Instant;

use daemon_support::{
    counting_journey, counting_target, eventually, get_text, logs, metric, options, tempdir, write_atomic, Daemon,
    InProcess,
};
use journeyd::server::WriteAccess;

/// `--enable-lifecycle`: `POST /-/reload` is served.
fn lifecycle() -> WriteAccess {
    WriteAccess { lifecycle: true, admin: false }
}

fn runs(body: &str, journey: &str, outcome: &str) -> f64 {
    metric(body, &format!("journey_runs_total{{journey=\"{journey}\",outcome=\"{outcome}\"}}")).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_unchanged_journeys_starts_new_ones_forgets_removed_ones_and_rejects_bad_config() {
    let (counter, target) = counting_target().await;
    let dir = tempdir("reload");
    write_atomic(&dir.join("keep.yml"), &counting_journey("keep", "1s", "stays"));
    write_atomic(&dir.join("gone.yml"), &counting_journey("gone", "1s", "removed by the reload"));
    let d = InProcess::start(journeyd::daemon::Options { access: lifecycle(), ..options(&dir, &target) }).await;
    let http = reqwest::Client::new();
    let metrics_url = d.url("/metrics");

    let before = eventually("keep has run 3 times and gone once", || async {
        let body = get_text(&http, &metrics_url).await;
        (runs(&body, "keep", "success") >= 3.0 && runs(&body, "gone", "success") >= 1.0).then_some(body)
    })
    .await;
    let kept_before = runs(&before, "keep", "success");
    let ts_before = metric(&before, "journeyd_config_last_reload_success_timestamp_seconds").unwrap();
    assert_eq!(metric(&before, "journeyd_config_last_reload_successful"), Some(1.0));

    // Good reload: one journey removed, one added, one unchanged.
    std::fs::remove_file(dir.join("gone.yml")).unwrap();
    write_atomic(&dir.join("new.yml"), &counting_journey("new", "1s", "added by the reload"));
    let resp = http.post(d.url("/-/reload")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    // The sinks learn about the new suite through the outcome pipeline, just after the reply.
    let after = eventually("the removed journey's series disappear", || async {
        let body = get_text(&http, &metrics_url).await;
        (!body.contains("journey=\"gone\"")).then_some(body)
    })
    .await;
    assert!(
        runs(&after, "keep", "success") >= kept_before,
        "unchanged journey lost its counter: {} < {kept_before}",
        runs(&after, "keep", "success")
    );
    let ts_good = metric(&after, "journeyd_config_last_reload_success_timestamp_seconds").unwrap();
    assert!(ts_good > ts_before, "a good reload moves the timestamp");
    assert_eq!(metric(&after, "journeyd_config_last_reload_successful"), Some(1.0));
    eventually("the new journey runs", || async {
        (counter.get("new") >= 1 && runs(&get_text(&http, &metrics_url).await, "new", "success") >= 1.0).then_some(())
    })
    .await;
    let gone_hits = counter.get("gone");

    // Bad reload: rejected with file:line:col, the running configuration keeps going.
    std::fs::write(
        dir.join("bad.yml"),
        "name: bad\ntarget: http://127.0.0.1:1\nsteps:\n  - name: one\n    get: /\n    expect: [ status => 200 ]\n",
    )
    .unwrap();
    let resp = http.post(d.url("/-/reload")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("bad.yml:6:"), "no file:line:col in the reply:\n{text}");
    assert!(text.contains("previous configuration keeps running"), "{text}");
    let body = get_text(&http, &metrics_url).await;
    assert_eq!(metric(&body, "journeyd_config_last_reload_successful"), Some(0.0));
    assert_eq!(
        metric(&body, "journeyd_config_last_reload_success_timestamp_seconds"),
        Some(ts_good),
        "the timestamp only moves on success"
    );
    let bad = dir.join("bad.yml");
    assert!(logs().contains(&format!("{}:6:", bad.display())), "the rejection is logged with its location");
    let keep_now = runs(&body, "keep", "success");
    eventually("the old configuration keeps running after a rejected reload", || async {
        (runs(&get_text(&http, &metrics_url).await, "keep", "success") > keep_now).then_some(())
    })
    .await;
    assert_eq!(counter.get("gone"), gone_hits, "a removed journey must not run again");

    // Fixed: applied, and the journey it adds runs next to the kept and new ones.
    write_atomic(&dir.join("bad.yml"), &counting_journey("fixed", "1s", "added by the fix"));
    d.reloader.reload().await.unwrap();
    let body = get_text(&http, &metrics_url).await;
    assert_eq!(metric(&body, "journeyd_config_last_reload_successful"), Some(1.0));
    assert_eq!(metric(&body, "journeyd_schedulers"), Some(3.0), "keep, new, fixed:\n{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rereads_the_files_rejecting_a_bad_one_with_its_location_in_the_log() {
    let (_counter, target) = counting_target().await;
    let dir = tempdir("reload-hup");
    write_atomic(&dir.join("keep.yml"), &counting_journey("keep", "1s", "stays"));
    let d = Daemon::start("reload-hup", &[dir.to_str().unwrap()], &[("TARGET", &target)]);
    let http = reqwest::Client::new();
    let metrics_url = d.url("/metrics");
    std::fs::write(
        dir.join("bad.yml"),
        "name: bad\ntarget: http://127.0.0.1:1\nsteps:\n  - name: one\n    get: /\n    expect: [ status => 200 ]\n",
    )
    .unwrap();
    d.signal("HUP");
    eventually("SIGHUP rejected the bad configuration", || async {
        let body = get_text(&http, &metrics_url).await;
        (metric(&body, "journeyd_config_last_reload_successful") == Some(0.0)).then_some(())
    })
    .await;
    assert!(d.log_text().contains("bad.yml:6:"), "the rejection is logged with its location");

    write_atomic(&dir.join("bad.yml"), &counting_journey("hup", "1s", "added by SIGHUP"));
    d.signal("HUP");
    let body = eventually("SIGHUP applied the fixed configuration", || async {
        let body = get_text(&http, &metrics_url).await;
        (metric(&body, "journeyd_config_last_reload_successful") == Some(1.0) && body.contains("journey=\"hup\""))
            .then_some(body)
    })
    .await;
    assert_eq!(metric(&body, "journeyd_schedulers"), Some(2.0), "keep, hup:\n{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_reloads_leaves_exactly_one_scheduler_per_journey() {
    let (counter, target) = counting_target().await;
    let dir = tempdir("reload-storm");
    for name in ["a", "b", "c"] {
        write_atomic(&dir.join(format!("{name}.yml")), &counting_journey(name, "1s", "v0"));
    }
    let d = InProcess::start(journeyd::daemon::Options { access: lifecycle(), ..options(&dir, &target) }).await;
    let http = reqwest::Client::new();
    eventually("every journey ran", || async { ["a", "b", "c"].iter().all(|n| counter.get(n) >= 1).then_some(()) })
        .await;

    // 50 concurrent reloads of unchanged files, then 50 while journey `a` keeps changing (so its scheduler
    // is replaced again and again).
    for round in 0..2 {
        let storm = (0..50).map(|i| {
            let http = http.clone();
            let url = d.url("/-/reload");
            let dir = dir.clone();
            async move {
                if round == 1 && i % 5 == 0 {
                    write_atomic(&dir.join("a.yml"), &counting_journey("a", "1s", &format!("v{i}")));
                }
                http.post(url).send().await.unwrap().status()
            }
        });
        let statuses = futures_util::future::join_all(storm).await;
        assert!(statuses.iter().all(|s| *s == 200), "every reload applies: {statuses:?}");
    }
    let body = get_text(&http, &d.url("/metrics")).await;
    assert_eq!(metric(&body, "journeyd_schedulers"), Some(3.0), "{body}");
    let api: serde_json::Value = http.get(d.url("/api/v1/journeys")).send().await.unwrap().json().await.unwrap();
    assert_eq!(api["schedulers"], 3);

    // Runs per interval do not multiply: over a window long enough to see 30 runs, three journeys every
    // second can make at most one run per journey per second (plus one at each edge). A doubled scheduler
    // would need only half the time for the same hits and break the bound.
    let start_hits = counter.total();
    let t0 = Instant::now();
    eventually("30 more runs", || async { (counter.total() >= start_hits + 30).then_some(()) }).await;
    let hits = (counter.total() - start_hits) as f64;
    let bound = 3.0 * (t0.elapsed().as_secs_f64().ceil() + 2.0);
    assert!(hits <= bound, "{hits} runs in {:?} from 3 journeys every 1s: schedulers multiplied", t0.elapsed());
}
