//! Journeys run against real HTTP servers on port 0: the demo shop and a small echo app.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bundled, describe, echo_app, journey, run_once, serve};
use journeyd::http::Clients;
use journeyd::outcome::{Reason, RunStatus};
use journeyd::runner::{run_iteration, Plan, VirtualUser};
use journeyd::shop::{self, ShopOptions};
use tokio_util::sync::CancellationToken;

async fn shop_with(faults: &[&str]) -> shop::RunningShop {
    let faults = faults.iter().map(|f| shop::parse_fault(f).unwrap()).collect();
    shop::spawn(ShopOptions { faults, ..ShopOptions::default() }).await.unwrap()
}

#[tokio::test]
async fn every_bundled_journey_passes_against_the_shop() {
    let shop = shop_with(&[]).await;
    let suite = bundled(&shop.url());
    let names: HashSet<&str> = suite.journeys.iter().map(|j| j.name.as_str()).collect();
    for expected in ["checkout", "price-view", "account", "login"] {
        assert!(names.contains(expected), "bundled journey {expected} missing");
    }
    // Browser journeys run in tests/browser_journeys.rs, where a Chromium is found or the test says SKIPPED.
    for j in suite.journeys.iter().filter(|j| j.browser.is_none()) {
        let o = run_once(j).await;
        assert!(o.passed(), "{} failed: {}", j.name, describe(&o));
        assert_eq!(o.steps.len(), j.steps.len(), "{}: every step ran", j.name);
        assert!(o.steps.iter().all(|s| s.passed && s.status.is_some()));
    }
}

/// (fault, journey, step that must fail, reason)
const FAULT_TABLE: &[(&str, &str, &str, Reason)] = &[
    ("checkout=status:503", "checkout", "checkout", Reason::Status),
    ("login=status:500", "checkout", "login", Reason::Status),
    ("login=status:500", "account", "login", Reason::Status),
    ("cart=reset", "checkout", "add-to-cart", Reason::Connect),
    ("product=status:404", "price-view", "price-api", Reason::Status),
    ("product-page=status:502", "price-view", "product-page", Reason::Status),
    ("account=status:401", "account", "account", Reason::Status),
    ("login=error-rate:1.0", "login", "login", Reason::Status),
];

#[tokio::test]
async fn each_fault_fails_the_right_journey_at_the_right_step_with_the_right_reason() {
    for (fault, journey_name, step, reason) in FAULT_TABLE {
        let shop = shop_with(&[fault]).await;
        let suite = bundled(&shop.url());
        let j = suite.get(journey_name).unwrap();
        let o = run_once(j).await;
        let f = o.failure().unwrap_or_else(|| panic!("{fault}: {journey_name} should fail"));
        assert_eq!(f.step_name, *step, "{fault}: {}", describe(&o));
        assert_eq!(f.reason, *reason, "{fault}: {}", describe(&o));
        let idx = j.step_index(step).unwrap();
        assert_eq!(o.steps.len(), idx + 1, "{fault}: steps after the failing one must not run");
        shop.shutdown.cancel();
    }
}

#[tokio::test]
async fn a_hanging_route_fails_with_timeout_at_the_step_deadline() {
    let shop = shop_with(&["product=hang"]).await;
    let j = journey(
        r#"
name: hang
target: "{{ env.SHOP_URL }}"
every: 10s
timeout: 5s
steps:
  - name: price
    get: /api/products/SKU-1001
    timeout: 300ms
"#,
        &[("SHOP_URL", &shop.url())],
    );
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Timeout, "{}", describe(&o));
    assert!(f.message.contains("step timeout 300ms"), "{}", f.message);
    assert!(o.steps[0].response_time >= Duration::from_millis(300));
}

#[tokio::test]
async fn latency_is_checked_against_duration_budgets() {
    let shop = shop_with(&["product=latency:250ms"]).await;
    let j = journey(
        r#"
name: slow
target: "{{ env.SHOP_URL }}"
steps:
  - name: price
    get: /api/products/SKU-1001
    expect: [ status == 200, duration < 100ms ]
"#,
        &[("SHOP_URL", &shop.url())],
    );
    let o = run_once(&j).await;
    let f = o.failure().expect("must fail");
    assert_eq!(f.reason, Reason::Check);
    assert_eq!(f.check.as_deref(), Some("duration < 100ms"));
    assert!(o.steps[0].response_time >= Duration::from_millis(250));
}

#[tokio::test]
async fn dead_targets_fail_with_connect_and_dns_reasons() {
    // A port that was just free: bind, read the port, drop the listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cases = [
        (format!("http://127.0.0.1:{port}"), Reason::Connect),
        ("http://journeyd-test.invalid".to_string(), Reason::Dns),
    ];
    for (target, reason) in cases {
        let j = journey("name: dead\ntarget: \"{{ env.T }}\"\nsteps:\n  - name: home\n    get: /\n", &[("T", &target)]);
        let o = run_once(&j).await;
        let f = o.failure().unwrap_or_else(|| panic!("{target} should fail"));
        assert_eq!(f.reason, reason, "{target}: {}", describe(&o));
        assert_eq!(f.step_name, "home");
    }
}

#[tokio::test]
async fn requests_carry_method_query_headers_bodies_user_agent_and_traceparent() {
    let url = serve(echo_app()).await;
    let j = journey(
        r#"
name: shapes
target: "{{ env.T }}"
defaults:
  headers: { X-Default: on }
steps:
  - name: json
    post: /echo/json
    query: { q: "a b", page: "2" }
    headers: { X-Step: "yes" }
    json: { n: 1, s: "x", nested: { ok: true } }
    expect:
      - json.method == "POST"
      - json.query contains "q=a+b"
      - json.headers.x-step == "yes"
      - json.headers.x-default == "on"
      - json.headers.content-type == "application/json"
      - json.headers.user-agent matches "^journeyd/"
      - json.headers.traceparent matches "^00-[0-9a-f]{32}-[0-9a-f]{16}-01$"
      - json.body contains "\"nested\":{\"ok\":true}"
  - name: form
    put: /echo/form
    form: { a: "1 2", b: "é" }
    expect: [ json.method == "PUT", 'json.body == "a=1%202&b=%C3%A9"', json.headers.content-type contains "x-www-form-urlencoded" ]
  - name: raw
    method: PURGE
    url: /echo/raw
    body: "plain text"
    expect: [ json.method == "PURGE", json.body == "plain text" ]
"#,
        &[("T", &url)],
    );
    let o = run_once(&j).await;
    assert!(o.passed(), "{}", describe(&o));
}

#[tokio::test]
async fn captures_flow_between_steps_from_json_header_cookie_status_and_regex() {
    let url = serve(echo_app()).await;
    let j = journey(
        r#"
name: captures
target: "{{ env.T }}"
steps:
  - name: page
    get: /html
    capture:
      csrf: { regex: 'name="csrf" value="([^"]+)"' }
      price: { regex: 'data-price="([0-9.]+)"' }
      code: status
  - name: cookie
    get: /set-cookie
    capture: { flavour: cookie.flavour, trace: header.x-trace }
  - name: use
    post: /echo/use
    headers: { X-Csrf: "{{ csrf }}" }
    json: { price: "{{ price }}", code: "{{ code }}", trace: "{{ trace }}", flavour: "{{ flavour }}" }
    expect:
      - json.headers.x-csrf == "tok-123abc"
      - json.headers.cookie contains "flavour=oat"
      - 'json.body contains "\"price\":\"42.50\""'
      - 'json.body contains "\"code\":\"200\""'
      - 'json.body contains "\"trace\":\"abc\""'
"#,
        &[("T", &url)],
    );
    let o = run_once(&j).await;
    assert!(o.passed(), "{}", describe(&o));
}

#[tokio::test]
async fn a_failing_check_stops_the_journey_with_evidence() {
    let url = serve(echo_app()).await;
    let j = journey(
        r#"
name: evidence
target: "{{ env.T }}"
steps:
  - name: first
    get: /echo/a
    expect: [ json.method == "GET", json.path == "/nope" ]
  - name: never
    get: /echo/b
"#,
        &[("T", &url)],
    );
    let o = run_once(&j).await;
    let f = o.failure().expect("fails");
    assert_eq!(f.reason, Reason::Check);
    assert_eq!(f.check.as_deref(), Some("json.path == \"/nope\""));
    assert_eq!(f.actual.as_deref(), Some("\"/echo/a\""));
    assert_eq!(f.status, Some(200));
    assert!(f.request.as_deref().unwrap().starts_with("GET http://127.0.0.1:"));
    assert!(f.excerpt.as_deref().unwrap().contains("\"path\":\"/echo/a\""));
    assert_eq!(o.steps.len(), 1, "the second step must not run");
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit_and_can_be_turned_off() {
    let url = serve(echo_app()).await;
    let j = journey(
        r#"
name: redirects
target: "{{ env.T }}"
steps:
  - name: follow
    get: /redirect-to/3
    expect: [ status == 200, body == "landed" ]
  - name: off
    get: /redirect-to/1
    redirects: false
    expect: [ status == 302, header.location == "/redirect-to/0" ]
"#,
        &[("T", &url)],
    );
    let o = run_once(&j).await;
    assert!(o.passed(), "{}", describe(&o));
    assert_eq!(o.steps[0].redirects, 3);

    let limited = journey(
        "name: limited\ntarget: \"{{ env.T }}\"\nsteps:\n  - name: many\n    get: /redirect-to/5\n    redirects: 2\n",
        &[("T", &url)],
    );
    let o = run_once(&limited).await;
    let f = o.failure().expect("too many redirects");
    assert_eq!(f.reason, Reason::Redirect, "{}", describe(&o));
}

#[tokio::test]
async fn a_redirect_loop_fails_in_bounded_time() {
    let shop = shop_with(&[]).await;
    let j = journey(
        "name: loop\ntarget: \"{{ env.T }}\"\nsteps:\n  - name: loop\n    get: /redirect-loop\n",
        &[("T", &shop.url())],
    );
    let o = run_once(&j).await;
    let f = o.failure().expect("loop fails");
    assert_eq!(f.reason, Reason::Redirect);
    assert!(f.message.contains("loop"), "{}", f.message);
}

#[tokio::test]
async fn concurrent_virtual_users_never_share_an_account() {
    let shop = shop_with(&[]).await;
    let suite = bundled(&shop.url());
    let j = Arc::clone(suite.get("login").unwrap());
    let clients = Clients::new().unwrap();
    let plan = Arc::new(Plan::new(j, &clients));
    let rows = plan.journey.data[0].rows.len();
    let users: Vec<VirtualUser> = (0..rows as u64).map(|i| VirtualUser::new(&plan, i).unwrap()).collect();
    assert!(VirtualUser::new(&plan, 999).is_err(), "all rows are leased: one more user must be refused");
    let cancel = CancellationToken::new();
    let runs = users.into_iter().map(|mut vu| {
        let plan = Arc::clone(&plan);
        let cancel = cancel.clone();
        async move { run_iteration(&plan, &mut vu, Instant::now(), &cancel).await }
    });
    let outcomes = futures_util::future::join_all(runs).await;
    assert!(outcomes.iter().all(|o| o.passed()), "{:?}", outcomes.iter().map(describe).collect::<Vec<_>>());
    // Every user logged in as a different account: the shop's account endpoint echoed distinct emails,
    // which the journey checks against the leased row; so distinct leases + all passing = no sharing.
    assert_eq!(outcomes.len(), rows);
}

#[tokio::test]
async fn secrets_never_appear_in_evidence() {
    let url = serve(echo_app()).await;
    let secret = "s3cr3t-Passw0rd!";
    let j = journey(
        r#"
name: secretive
target: "{{ env.T }}"
secrets:
  password: { env: THE_PASSWORD }
steps:
  - name: login
    post: /echo/login?pw={{ secrets.password }}
    json: { password: "{{ secrets.password }}" }
    expect: [ json.body == "something else" ]
"#,
        &[("T", &url), ("THE_PASSWORD", secret)],
    );
    let o = run_once(&j).await;
    let f = o.failure().expect("fails");
    let all = format!("{f:?} {f}");
    assert!(!all.contains(secret), "secret leaked: {all}");
    assert!(!all.contains("s3cr3t-Passw0rd%21"), "url-encoded secret leaked: {all}");
    assert!(all.contains("[REDACTED]"), "evidence should show where the secret was: {all}");
}

#[tokio::test]
async fn secret_captures_are_redacted_even_when_their_step_fails() {
    let shop = shop_with(&[]).await;
    let j = journey(
        r#"
name: token
target: "{{ env.T }}"
secrets:
  password: { env: PW }
steps:
  - name: login
    post: /api/login
    json: { email: customer01@shop.test, password: "{{ secrets.password }}" }
    capture:
      token: { json: token, secret: true }
    expect: [ json.token == "not-the-token" ]
"#,
        &[("T", &shop.url()), ("PW", shop::DEMO_PASSWORD)],
    );
    let o = run_once(&j).await;
    let f = o.failure().expect("fails");
    assert_eq!(f.actual.as_deref(), Some("\"[REDACTED]\""), "{}", describe(&o));
    assert!(f.excerpt.as_deref().unwrap().contains("[REDACTED]"));
}

#[tokio::test]
async fn cancellation_yields_cancelled_not_failure() {
    let shop = shop_with(&["product=hang"]).await;
    let j = journey(
        "name: c\ntarget: \"{{ env.T }}\"\nsteps:\n  - name: hang\n    get: /api/products/SKU-1001\n",
        &[("T", &shop.url())],
    );
    let clients = Clients::new().unwrap();
    let plan = Plan::new(j, &clients);
    let mut vu = VirtualUser::new(&plan, 0).unwrap();
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c2.cancel();
    });
    let o = run_iteration(&plan, &mut vu, Instant::now(), &cancel).await;
    assert!(matches!(o.status, RunStatus::Cancelled), "{}", describe(&o));
}
