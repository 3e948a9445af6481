//! `journeyd demo --canary-fault [ROUTE=SPEC]`: canary beside stable, simulated. A second embedded shop
//! serves as the canary with the fault (by default the price API 30 ms slower), the journey
//! [`JOURNEY`] runs against both shops on each tick, and the demo prints the canary verdict when the
//! comparison reaches one: the regression naming the step (the `JourneyCanaryRegression` alert fires with
//! the same evidence).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::canary::Verdicts;
use crate::cli::Exit;
use crate::shop::{self, FaultSpec, ShopOptions};

/// The fault `--canary-fault` gives the canary when it names none: the route behind `view-price` slower by
/// as much as `--deploy-fault` makes it.
pub const DEFAULT_FAULT: &str = "product=latency:30ms";

/// The journey with `targets:` the demo adds: the price pages, on the stable shop and on the canary.
pub const NAME: &str = "price-canary";
const FILE: &str = "price-canary.yml";
const JOURNEY: &str = r#"# journeyd demo --canary-fault: the price pages on the stable shop and on its canary, each tick.
name: price-canary
description: The product page and the price API, on the stable shop and on the canary shop, compared continuously.
tags: [shop, canary]
targets:
  stable: "{{ env.SHOP_URL }}"
  canary: "{{ env.CANARY_URL }}"
canary: { window: 2m }
every: 5s
users: 2
timeout: 5s
steps:
  - name: product-page
    get: /products/SKU-1001
    expect: [ status == 200 ]
  - name: view-price
    get: /api/products/SKU-1001
    expect: [ status == 2xx ]
"#;

/// The canary shop and the journey file that runs against it; [`CanaryShop::stop`] ends both.
pub struct CanaryShop {
    pub url: String,
    /// The directory holding [`JOURNEY`], loaded beside the demo's other journeys.
    pub dir: PathBuf,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

/// Starts the canary shop on `ip`, any free port, with `spec`'s faults, and writes the journey file.
pub async fn start(ip: std::net::IpAddr, faults: Vec<FaultSpec>) -> Result<CanaryShop, Exit> {
    let listener = crate::cli::bind(SocketAddr::new(ip, 0)).await?;
    let url = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(_) => return Err(Exit::Usage),
    };
    let dir = std::env::temp_dir().join(format!("journeyd-demo-canary-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join(FILE), JOURNEY)) {
        eprintln!("journeyd: cannot write the canary journey to {}: {e}", dir.display());
        return Err(Exit::Usage);
    }
    let stop = CancellationToken::new();
    let options = ShopOptions { password: shop::DEMO_PASSWORD.to_string(), faults };
    let task = tokio::spawn(shop::serve(listener, options, stop.clone()));
    Ok(CanaryShop { url, dir, stop, task })
}

impl CanaryShop {
    /// The lines that say where to look.
    pub fn print(&self, spec: &str, status: &str) {
        println!("canary:  {} ({spec}); journey {NAME} runs on both shops ({})", self.url, self.file().display());
        println!("canary verdict: {status}api/v1/canary?journeys={NAME} (and the status page's Targets table)");
        println!(
            "canary metrics: journey_canary_regression{{journey=\"{NAME}\"}}, \
             journey_target_runs_total, journey_target_duration_seconds"
        );
    }

    fn file(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
        remove(&self.dir);
    }
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// Prints the canary verdict of [`NAME`] as it comes: each regression once when found (the journey's and
/// each step's), and once that the targets were judged alike so far. Ends at `stop`.
pub async fn watch(verdicts: Verdicts, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut said_alike = false;
    let mut said = HashSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let verdict = verdicts.verdict(&[NAME.to_string()]);
        for r in verdict.regressed {
            if said.insert(r.evidence.clone()) {
                println!("canary: REGRESSION (JourneyCanaryRegression): {}", r.evidence);
            }
        }
        if verdict.judged && said.is_empty() && !said_alike {
            println!("canary: judged, no regression so far (the comparison goes on)");
            said_alike = true;
        }
    }
}
