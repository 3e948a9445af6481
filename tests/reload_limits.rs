//! A reload that meets a YAML bomb is rejected like any other bad file: the running daemon keeps its old
//! configuration instead of expanding the aliases (issue 17: a 1 MB file with 300 aliases of a large
//! anchor took 1.7 GB to load, and a reload with a larger one killed the daemon). The daemon runs
//! in-process; reloads go through the queue SIGHUP uses, and the rejection comes back as a typed error.

mod daemon_support;

use daemon_support::InProcess;
use daemon_support::{counting_journey, counting_target, eventually, get_text, metric, options, tempdir, write_atomic};
use journeyd::daemon::{Options, ReloadError};

/// An anchor of 2,000 strings used 200 times: 400,000 nodes once expanded, from a 40 KB file.
fn alias_bomb() -> String {
    let anchor = vec!["\"lol\""; 2000].join(", ");
    let mut text = format!(
        "name: bomb\ntarget: \"{{{{ env.TARGET }}}}\"\nsteps:\n  - name: post\n    post: /hit/bomb\n    json:\n      a: &a [{anchor}]\n      b:\n"
    );
    for _ in 0..200 {
        text.push_str("        - *a\n");
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_an_alias_bomb_is_rejected_and_the_old_config_keeps_running() {
    let (counter, target) = counting_target().await;
    let dir = tempdir("reload-limits");
    let journeys = dir.join("journeys");
    std::fs::create_dir_all(&journeys).unwrap();
    write_atomic(&journeys.join("keep.yml"), &counting_journey("keep", "1s", "runs throughout"));
    let settings = dir.join("settings.yml");
    write_atomic(&settings, "defaults: { failure_threshold: 2 }\n");
    let d = InProcess::start(Options { settings: Some(settings.clone()), ..options(&journeys, &target) }).await;
    let http = reqwest::Client::new();
    let metrics_url = d.url("/metrics");
    eventually("the first run", || async { (counter.get("keep") > 0).then_some(()) }).await;
    assert_eq!(metric(&get_text(&http, &metrics_url).await, "journeyd_config_last_reload_successful"), Some(1.0));

    // A journey bomb.
    write_atomic(&journeys.join("bomb.yml"), &alias_bomb());
    let err = d.reloader.reload().await.unwrap_err();
    assert!(matches!(err, ReloadError::Journeys(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("bomb.yml:57:11: error: aliases expand this file past 100000 nodes"), "{text}");
    let body = get_text(&http, &metrics_url).await;
    assert_eq!(metric(&body, "journeyd_config_last_reload_successful"), Some(0.0));
    let keep_now = counter.get("keep");
    eventually("the old configuration keeps running", || async { (counter.get("keep") > keep_now).then_some(()) })
        .await;
    assert_eq!(counter.get("bomb"), 0, "the bomb journey never ran");

    // Fixed, then the same bomb in the settings file (re-read on every reload too).
    std::fs::remove_file(journeys.join("bomb.yml")).unwrap();
    d.reloader.reload().await.unwrap();
    assert_eq!(metric(&get_text(&http, &metrics_url).await, "journeyd_config_last_reload_successful"), Some(1.0));
    let journey_part = alias_bomb().find("      a: &a").unwrap();
    write_atomic(&settings, &format!("external_labels:\n{}", &alias_bomb()[journey_part..]));
    let err = d.reloader.reload().await.unwrap_err();
    assert!(matches!(err, ReloadError::Settings(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("settings.yml:52:11: aliases expand this file past 100000 nodes"), "{text}");
    assert_eq!(metric(&get_text(&http, &metrics_url).await, "journeyd_config_last_reload_successful"), Some(0.0));
    let keep_now = counter.get("keep");
    eventually("the old configuration still runs", || async { (counter.get("keep") > keep_now).then_some(()) }).await;
}
