//! Shutdown of the real daemon against the demo shop with a slow route: on SIGTERM no new runs start, an
//! in-flight run shorter than the grace period finishes, a longer one is cancelled (counted as cancelled,
//! never as a failure), and the process exits 0. A second signal during the grace period ends it at once.

mod daemon_support;

use std::time::Duration;

use daemon_support::{tempdir, write_atomic, Daemon};
use journeyd::runner::monitor::phase_offset;
use journeyd::shop::{self, ShopOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A TCP relay in front of the shop that reports each new connection: the readiness signal that a
/// journey's request is in flight, without sleeping.
async fn relay(upstream: std::net::SocketAddr) -> (String, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let _ = tx.send(());
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (url, rx)
}

/// Of a few names, the one whose first run comes soonest (the scheduler spreads journeys by name hash).
fn early_name(prefix: &str, every: Duration) -> String {
    (0..50).map(|i| format!("{prefix}-{i}")).min_by_key(|n| phase_offset(n, every)).unwrap()
}

fn slow_journey(name: &str, every: &str) -> String {
    format!(
        "name: {name}\ntarget: \"{{{{ env.SHOP_URL }}}}\"\nevery: {every}\ntimeout: {every}\nsteps:\n  - name: price\n    get: /api/products/SKU-1001\n    expect: [ status == 200 ]\n"
    )
}

fn final_counts(d: &Daemon, journey: &str) -> (u64, u64, u64) {
    let events = d.log_events("final counts");
    let e = events
        .iter()
        .find(|e| e["journey"] == journey)
        .unwrap_or_else(|| panic!("no final counts for {journey}; log:\n{}", d.log_text()));
    // journey_runs_total{outcome=…} as the daemon exported it last.
    (e["success"].as_u64().unwrap(), e["failure"].as_u64().unwrap(), e["cancelled"].as_u64().unwrap())
}

async fn start(fault: &str, journey: &str, every: &str, grace: &str) -> (Daemon, mpsc::UnboundedReceiver<()>) {
    let shop = shop::spawn(ShopOptions { faults: vec![shop::parse_fault(fault).unwrap()], ..ShopOptions::default() })
        .await
        .unwrap();
    let (url, connections) = relay(shop.addr).await;
    // The shop lives as long as the test's runtime.
    std::mem::forget(shop);
    let dir = tempdir(&format!("shutdown-{journey}"));
    write_atomic(&dir.join("slow.yml"), &slow_journey(journey, every));
    let d = Daemon::start(journey, &["--grace", grace, dir.to_str().unwrap()], &[("SHOP_URL", &url)]);
    (d, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_flight_run_shorter_than_the_grace_period_finishes_and_the_daemon_exits_0() {
    let name = early_name("finishes", Duration::from_secs(10));
    let (mut d, mut connections) = start("product=latency:3s", &name, "10s", "60s").await;
    connections.recv().await.expect("the journey's request reaches the shop");
    d.signal("TERM");
    let status = tokio::task::block_in_place(|| d.wait_exit());
    assert_eq!(status.code(), Some(0), "log:\n{}", d.log_text());
    assert_eq!(final_counts(&d, &name), (1, 0, 0), "the in-flight run completed and passed");
    assert!(connections.try_recv().is_err(), "no run may start after SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_flight_run_longer_than_the_grace_period_is_cancelled_not_failed() {
    let name = early_name("cancelled", Duration::from_secs(30));
    let (mut d, mut connections) = start("product=hang", &name, "30s", "500ms").await;
    connections.recv().await.expect("the journey's request reaches the shop");
    // SIGINT (Ctrl-C) shuts down the same way as SIGTERM.
    d.signal("INT");
    let status = tokio::task::block_in_place(|| d.wait_exit());
    assert_eq!(status.code(), Some(0), "log:\n{}", d.log_text());
    assert_eq!(final_counts(&d, &name), (0, 0, 1), "cancelled, not failed");
    assert!(!d.log_text().contains("step failed"), "a cancelled run is never logged as a failure:\n{}", d.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_during_the_grace_period_forces_an_exit_with_128_plus_the_signal() {
    let name = early_name("forced", Duration::from_secs(30));
    // A hanging route and a grace period longer than any patience: only the second signal can end it.
    let (mut d, mut connections) = start("product=hang", &name, "30s", "1h").await;
    connections.recv().await.expect("the journey's request reaches the shop");
    d.signal("TERM");
    daemon_support::eventually("the daemon is in its grace period", || async {
        (!d.log_events("shutting down: no new runs").is_empty()).then_some(())
    })
    .await;
    d.signal("INT");
    let status = tokio::task::block_in_place(|| d.wait_exit());
    assert_eq!(status.code(), Some(130), "128 + SIGINT; log:\n{}", d.log_text());
    let forced = d.log_events("second signal during shutdown: exiting now");
    assert_eq!(forced.len(), 1, "the forced exit is logged; log:\n{}", d.log_text());
    assert_eq!(forced[0]["signal"], "SIGINT");
    assert!(d.log_events("final counts").is_empty(), "the grace period was cut short");
}
