//! Browser journeys end to end: the bundled storefront journey and inline ones, run by the real runner in a
//! real Chromium against the demo shop on port 0. Without Chromium each test prints a SKIPPED line (and
//! fails under `JOURNEYD_REQUIRE_CHROMIUM=1`).

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use common::{bundled, chromium, describe, journey};
use journeyd::http::Clients;
use journeyd::model::Journey;
use journeyd::outcome::{Reason, RunOutcome};
use journeyd::runner::browser_host::BrowserHost;
use journeyd::runner::evidence::EvidenceStore;
use journeyd::runner::{run_iteration, Plan, VirtualUser};
use journeyd::shop::{self, ShopOptions, JS_ERROR_MESSAGE};
use tokio_util::sync::CancellationToken;

async fn shop_with(faults: &[&str]) -> shop::RunningShop {
    let faults = faults.iter().map(|f| shop::parse_fault(f).unwrap()).collect();
    shop::spawn(ShopOptions { faults, ..ShopOptions::default() }).await.unwrap()
}

/// A host on `chrome` whose screenshots go to a directory of the test's own.
fn host(chrome: &std::path::Path, test: &str) -> (BrowserHost, PathBuf) {
    let dir = std::env::temp_dir().join(format!("journeyd-test-evidence-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    (BrowserHost::new(Some(chrome), EvidenceStore::new(dir.clone(), 20, 16 << 20)), dir)
}

/// Runs `journey` `n` times on one host (as the monitor does), returning every outcome.
async fn run_times(host: &BrowserHost, journey: &Arc<Journey>, n: usize) -> Vec<RunOutcome> {
    let clients = Clients::new().unwrap().with_browser(host.clone());
    let plan = Plan::new(Arc::clone(journey), &clients);
    let mut out = Vec::new();
    for i in 0..n {
        let mut vu = VirtualUser::new(&plan, i as u64).unwrap();
        out.push(run_iteration(&plan, &mut vu, Instant::now(), &CancellationToken::new()).await);
    }
    out
}

fn checkout(shop: &shop::RunningShop) -> Arc<Journey> {
    Arc::clone(bundled(&shop.url()).get("browser-checkout").expect("the bundled browser journey"))
}

#[tokio::test]
async fn the_bundled_checkout_passes_in_a_real_browser() {
    let Some(chrome) = chromium() else { return };
    let shop = shop_with(&[]).await;
    let (host, _) = host(&chrome, "pass");
    let j = checkout(&shop);
    let o = &run_times(&host, &j, 1).await[0];
    assert!(o.passed(), "{}", describe(o));
    assert_eq!(o.steps.len(), 4);
    let login = o.steps[0].page.as_ref().expect("browser steps carry page measures");
    assert!(login.ttfb.is_some() && login.load.is_some(), "the login page's navigation was timed: {login:?}");
    assert_eq!((login.js_exceptions, login.failed_requests), (0, 0));
    assert!(o.steps.iter().all(|s| s.passed && s.response_time > std::time::Duration::ZERO));
    // The order really was placed, through the UI.
    let account = reqwest::Client::new()
        .post(format!("{}/api/login", shop.url()))
        .json(&serde_json::json!({"email": "customer01@shop.test", "password": shop::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = account.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/account", shop.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["orders"].as_array().unwrap().len(), 1, "{me}");
    host.shutdown().await;
}

/// (fault, failing step, reason, text the evidence must contain)
const FAULTS: &[(&str, &str, Reason, &str)] = &[
    ("static=ui:js-error", "login", Reason::Script, JS_ERROR_MESSAGE),
    ("static=status:404", "login", Reason::Status, "/static/app.js → 404"),
    ("static=ui:empty-price", "view-price", Reason::Element, "#price"),
    ("static=ui:no-checkout", "checkout", Reason::Element, "#checkout"),
];

#[tokio::test]
async fn each_storefront_fault_fails_the_right_step_with_evidence() {
    let Some(chrome) = chromium() else { return };
    let (host, dir) = host(&chrome, "faults");
    for (fault, step, reason, text) in FAULTS {
        let shop = shop_with(&[fault]).await;
        let j = checkout(&shop);
        let o = &run_times(&host, &j, 1).await[0];
        let f = o.failure().unwrap_or_else(|| panic!("{fault}: the browser journey should fail"));
        assert_eq!((f.step_name.as_str(), f.reason), (*step, *reason), "{fault}: {}", describe(o));
        let evidence = f.evidence().to_string();
        let all = format!("{f}\n{evidence}");
        assert!(all.contains(text), "{fault}: the evidence lacks {text:?}:\n{all}");
        let shot = f.screenshot.as_ref().unwrap_or_else(|| panic!("{fault}: no screenshot"));
        let png = std::fs::read(dir.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{fault}: the screenshot is a PNG");
        assert!(evidence.contains(&format!("screenshot: {shot}")), "{evidence}");
        assert!(f.excerpt.as_deref().is_some_and(|d| d.contains("<html")), "{fault}: a DOM excerpt");
        // The API journeys do not notice.
        let api = Arc::clone(bundled(&shop.url()).get("checkout").unwrap());
        assert!(common::run_once(&api).await.passed(), "{fault}: the API checkout stays green");
    }
    host.shutdown().await;
}

#[tokio::test]
async fn a_typed_secret_appears_nowhere_in_the_evidence() {
    let Some(chrome) = chromium() else { return };
    let password = "s3cret-canary-Passw0rd";
    let shop = shop::spawn(ShopOptions { password: password.into(), ..ShopOptions::default() }).await.unwrap();
    // The login works, then the page shows the password back in an error the journey then fails on.
    let yaml = r##"
name: secret-typing
target: "{{ env.SHOP_URL }}"
browser: true
secrets: { password: { env: SHOP_PASSWORD } }
steps:
  - name: login
    actions:
      - goto: /store/login
      - fill: { "#email": customer03@shop.test, "#password": "{{ secrets.password }}" }
      - click: "#login"
      - wait_for: { url: /store/products/ }
  - name: echo
    actions:
      - goto: "/store/products/{{ secrets.password }}"
    expect: [ 'text("h1") == "{{ secrets.password }}"' ]
"##;
    let j = journey(yaml, &[("SHOP_URL", &shop.url()), ("SHOP_PASSWORD", password)]);
    let (host, dir) = host(&chrome, "secret");
    let o = &run_times(&host, &j, 1).await[0];
    let f = o.failure().expect("the echo step fails");
    assert_eq!(f.step_name, "echo", "{}", describe(o));
    let json = serde_json::to_string(f).unwrap();
    let text = format!("{f}\n{}\n{json}", f.evidence());
    assert!(!text.contains(password), "the password leaked into the evidence:\n{text}");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.contains(password), "{name}");
    }
    host.shutdown().await;
}

#[tokio::test]
async fn captures_and_templates_carry_across_browser_steps_and_no_cookie_leaks_between_runs() {
    let Some(chrome) = chromium() else { return };
    let shop = shop_with(&[]).await;
    let yaml = r##"
name: account-ui
target: "{{ env.SHOP_URL }}"
browser: true
secrets: { password: { env: SHOP_PASSWORD } }
steps:
  - name: fresh
    goto: /store/
    expect: [ cookie.session not exists, 'count("li.product") == 5', title contains "Demo Shop" ]
    capture: { link: 'attr("li.product a", "href")' }
  - name: product
    actions: [ goto: "{{ link }}", wait_for: "#price:not(:empty)" ]
    expect: [ url contains "/store/products/SKU-1001", 'visible("#add-to-cart") == true' ]
  - name: login
    actions:
      - goto: /store/login?next=/store/account
      - type: { "#email": customer07@shop.test }
      - fill: { "#password": "{{ secrets.password }}" }
      - press: Enter
      - wait_for: "#account-email:not(:empty)"
    expect: [ 'text("#account-email") == "customer07@shop.test"', 'text("#account-name") contains "07"' ]
    capture: { who: 'text("#account-name")' }
  - name: again
    actions: [ goto: /store/account, wait_for: "#account-name:not(:empty)" ]
    expect: [ 'text("#account-name") == "{{ who }}"' ]
"##;
    let j = journey(yaml, &[("SHOP_URL", &shop.url()), ("SHOP_PASSWORD", shop::DEMO_PASSWORD)]);
    let (host, _) = host(&chrome, "captures");
    // Twice on one browser: the second run's first step sees no session cookie from the first.
    for o in run_times(&host, &j, 2).await {
        assert!(o.passed(), "{}", describe(&o));
    }
    host.shutdown().await;
}

#[tokio::test]
async fn a_hung_page_fails_at_the_step_deadline() {
    let Some(chrome) = chromium() else { return };
    let shop = shop_with(&["store=hang"]).await;
    let yaml = r##"
name: hung
target: "{{ env.SHOP_URL }}"
browser: true
timeout: 20s
steps:
  - name: open
    goto: /store/login
    timeout: 2s
  - name: never
    goto: /healthz
"##;
    let j = journey(yaml, &[("SHOP_URL", &shop.url())]);
    let (host, _) = host(&chrome, "hung");
    let outcomes = run_times(&host, &j, 2).await;
    for o in &outcomes {
        let f = o.failure().expect("a hung page fails");
        assert_eq!((f.step_name.as_str(), f.reason), ("open", Reason::Timeout), "{}", describe(o));
        assert_eq!(o.steps.len(), 1);
        assert!(o.steps[0].response_time < std::time::Duration::from_secs(20), "ended by the step's deadline");
    }
    assert_eq!(host.open_contexts(), 0, "the hung runs' contexts are closed");
    host.shutdown().await;
}

#[tokio::test]
async fn without_chromium_a_browser_journey_fails_with_a_reason_that_says_how_to_fix_it() {
    let shop = shop_with(&[]).await;
    let missing = std::path::Path::new("/nonexistent/chromium");
    let host = BrowserHost::new(Some(missing), EvidenceStore::new(std::env::temp_dir().join("unused"), 1, 1));
    assert!(host.executable().is_err());
    let j = checkout(&shop);
    let o = &run_times(&host, &j, 1).await[0];
    let f = o.failure().expect("no browser, no pass");
    assert_eq!((f.step_name.as_str(), f.reason), ("login", Reason::Browser), "{}", describe(o));
    assert!(f.message.contains("--chromium") || f.message.contains("JOURNEYD_CHROMIUM"), "{}", f.message);
}

#[tokio::test]
async fn a_browser_killed_mid_run_fails_that_run_with_a_reason_and_the_next_run_works() {
    let Some(chrome) = chromium() else { return };
    let shop = shop_with(&[]).await;
    let env = [("SHOP_URL", shop.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let stuck = journey(
        "name: stuck\ntarget: \"{{ env.SHOP_URL }}\"\nbrowser: true\ntimeout: 20s\nsteps:\n  - name: home\n    goto: /store/\n  - name: wait\n    wait_for: \"#never\"\n    timeout: 15s\n",
        &env,
    );
    let fine = journey(
        "name: fine\ntarget: \"{{ env.SHOP_URL }}\"\nbrowser: true\nsteps:\n  - name: home\n    goto: /store/\n    expect: [ 'count(\"li.product\") == 5' ]\n",
        &env,
    );
    let (host, _) = host(&chrome, "killed");
    let pid = host.browser().await.unwrap().pid().expect("a running Chromium");
    let killer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    });
    let started = Instant::now();
    let o = &run_times(&host, &stuck, 1).await[0];
    killer.await.unwrap();
    let f = o.failure().expect("the killed run fails");
    assert_eq!((f.step_name.as_str(), f.reason), ("wait", Reason::Browser), "{}", describe(o));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "it failed when Chromium died, not at the deadline"
    );
    let next = &run_times(&host, &fine, 1).await[0];
    assert!(next.passed(), "the next run gets a new Chromium: {}", describe(next));
    assert_eq!(host.restarts(), 1);
    assert_eq!(host.open_contexts(), 0);
    host.shutdown().await;
}
