//! Fault matrix, memory row: concurrent users fed 100 MB bodies, endless chunked bodies and gzip bombs stay
//! under baseline + cap × concurrency. One test in this binary, so no other test's allocations share the
//! process while the peak RSS (VmHWM, reset through /proc/self/clear_refs) is measured. Each body is
//! served over plain http, then over https (the hostile servers' TLS mode), one after the other.

mod common;
mod hostile;

use std::sync::Arc;
use std::time::Instant;

use common::{describe, journey};
use journeyd::http::Clients;
use journeyd::outcome::Reason;
use journeyd::runner::{run_iteration, Plan, VirtualUser};
use tokio_util::sync::CancellationToken;

const CONCURRENCY: usize = 8;
const CAP: u64 = 1 << 20;
const MIB: u64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_under_baseline_plus_cap_times_concurrency() {
    hostile::gzip_bomb_bytes();
    let clients = Clients::new().unwrap();
    for tls in [false, true] {
        let scheme = if tls { "https" } else { "http" };
        let big = hostile::spawn_on(tls, hostile::huge(100_000_000)).await;
        let endless = hostile::spawn_on(tls, hostile::endless_chunked).await;
        let bomb = hostile::spawn_on(tls, hostile::gzip_bomb).await;
        for (what, server) in [("100 MB body", &big), ("endless chunked", &endless), ("gzip bomb", &bomb)] {
            run_concurrently(&clients, scheme, what, server).await;
        }
    }
}

/// CONCURRENCY users at once against `server`, after a warm-up run; asserts the peak RSS growth.
async fn run_concurrently(clients: &Clients, scheme: &str, what: &str, server: &hostile::Hostile) {
    let yaml = format!(
        "name: mem\ntimeout: 30s\nevery: 60s\n{}steps:\n  - name: only\n    get: \"{{{{ env.U }}}}\"\n",
        server.defaults("max_body: 1MiB")
    );
    let j = journey(&yaml, &[("U", &server.url())]);
    let plan = Arc::new(Plan::new(j, clients));
    // Warm-up: one run, so lazily built state (TLS roots, pools, the runtime's buffers) is in the baseline.
    let mut vu = VirtualUser::new(&plan, 0).unwrap();
    let o = run_iteration(&plan, &mut vu, Instant::now(), &CancellationToken::new()).await;
    assert_eq!(o.failure().map(|f| f.reason), Some(Reason::Body), "{}", describe(&o));

    let baseline = hostile::rss();
    assert!(hostile::reset_peak_rss(), "cannot reset VmHWM (needs Linux /proc/self/clear_refs)");
    let runs = (0..CONCURRENCY).map(|i| {
        let plan = Arc::clone(&plan);
        tokio::spawn(async move {
            let mut vu = VirtualUser::new(&plan, i as u64).unwrap();
            run_iteration(&plan, &mut vu, Instant::now(), &CancellationToken::new()).await
        })
    });
    let outcomes = futures_util::future::join_all(runs).await;
    let peak = hostile::peak_rss();
    for o in outcomes {
        let o = o.unwrap();
        assert_eq!(o.failure().map(|f| f.reason), Some(Reason::Body), "{scheme} {what}: {}", describe(&o));
    }
    let growth = peak.saturating_sub(baseline);
    // Each user holds at most the cap; the Vec may round its capacity up, hyper buffers a little more.
    let bound = 2 * CAP * CONCURRENCY as u64 + 16 * MIB;
    println!(
        "matrix: {scheme} {what} x{CONCURRENCY}, cap 1MiB: baseline {} MiB, peak {} MiB, growth {:.1} MiB (bound {} MiB)",
        baseline / MIB,
        peak / MIB,
        growth as f64 / MIB as f64,
        bound / MIB
    );
    assert!(growth < bound, "{scheme} {what}: RSS grew {growth} bytes, over the {bound} byte bound");
}
