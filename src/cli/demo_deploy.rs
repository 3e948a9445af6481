//! `journeyd demo --deploy-fault AFTER`: a bad deploy, simulated. After AFTER (runs before the deploy to
//! compare with), the demo sets a deploy marker, makes the shop's price API 30 ms slower through the shop's
//! own admin API, and prints the verdict when the deploy comparison reaches one: the regression naming the
//! step (the `JourneyDeployRegression` alert fires with the same evidence), or that nothing was flagged.

use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::deploys::marker::MarkerRequest;
use crate::deploys::Deploys;

/// The version the simulated deploy carries.
pub const VERSION: &str = "demo-v2";
/// What the simulated deploy does wrong: the `product` route (`view-price`, `price-api`) gets slower by this.
pub const EXTRA_LATENCY: &str = "30ms";

pub async fn bad_deploy(deploys: Deploys, shop_url: String, after: Duration, stop: CancellationToken) {
    tokio::select! {
        _ = stop.cancelled() => return,
        _ = tokio::time::sleep(after) => {}
    }
    let request = MarkerRequest {
        version: VERSION.into(),
        journeys: Vec::new(),
        tags: Vec::new(),
        by: "journeyd demo --deploy-fault".into(),
        description: format!("the price API is {EXTRA_LATENCY} slower"),
    };
    if let Err(e) = deploys.mark(request, SystemTime::now()) {
        eprintln!("journeyd demo: cannot mark the deploy: {e}");
        return;
    }
    let fault = reqwest::Client::new()
        .put(format!("{shop_url}/admin/faults/product"))
        .json(&json!({ "latency": EXTRA_LATENCY }))
        .send()
        .await;
    if let Err(e) =
        fault.as_ref().map_err(|e| e.to_string()).and_then(|r| r.error_for_status_ref().map_err(|e| e.to_string()))
    {
        eprintln!("journeyd demo: cannot slow the shop down: {e}");
        return;
    }
    println!("deploy {VERSION}: marked; the shop's price API is now {EXTRA_LATENCY} slower (GET /api/v1/deploys)");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(view) = deploys.list(SystemTime::now()).into_iter().find(|d| d.marker.version == VERSION) else {
            return;
        };
        match view.state {
            "running" => continue,
            "regression" => {
                for line in view.results.iter().flat_map(|r| r.series.iter().filter_map(|s| s.evidence.clone())) {
                    println!("deploy {VERSION}: REGRESSION (JourneyDeployRegression): {line}");
                }
            }
            _ => println!("deploy {VERSION}: no regression found within the decision window"),
        }
        return;
    }
}
