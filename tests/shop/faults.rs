//! Every fault kind, set by `--fault` flag, by the admin API and in process through `FaultHandle`.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use journeyd::shop::{parse_fault, spawn, Fault, FaultSpec, ShopOptions, DEMO_PASSWORD, ROUTES};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{shop_with, Api};

#[tokio::test]
async fn status_fault_by_flag_leaves_other_routes_alone() {
    let shop = shop_with(&["checkout=status:503"]).await;
    let api = Api::login(&shop, 2).await;
    let resp = api.send(Method::POST, "/api/checkout", json!({ "cart_id": "cart-1" })).await;
    assert_eq!(
        (resp.status(), resp.headers()["x-shop-fault"].to_str().unwrap()),
        (StatusCode::SERVICE_UNAVAILABLE, "status")
    );
    assert_eq!(api.get("/api/products").await.status(), 200);
}

#[tokio::test]
async fn wildcard_faults_every_route_but_health_and_admin() {
    let shop = shop_with(&["*=status:502"]).await;
    let api = Api::new(&shop);
    for path in ["/static/hello", "/api/products", "/products/SKU-1001", "/redirect/1"] {
        assert_eq!(api.get(path).await.status(), 502, "{path}");
    }
    assert_eq!(api.get("/healthz").await.status(), 200);
    assert_eq!(api.get("/admin/faults").await.status(), 200);
}

#[tokio::test]
async fn admin_api_sets_merges_lists_and_clears_faults() {
    let shop = shop_with(&[]).await;
    let api = Api::new(&shop);
    assert_eq!(api.put_fault("products", json!({ "status": 503 })).await, (StatusCode::OK, json!({ "status": 503 })));
    assert_eq!(api.get("/api/products").await.status(), 503);
    let merged = json!({ "status": 503, "latency": "20ms" });
    assert_eq!(api.put_fault("products", json!({ "latency": "20ms" })).await.1, merged);
    let (_, listed) = api.call(Method::GET, "/admin/faults", Value::Null).await;
    assert_eq!(listed["faults"], json!({ "products": merged }));

    let (_, after) = api.call(Method::DELETE, "/admin/faults/products", Value::Null).await;
    assert_eq!(after["faults"], json!({}));
    assert_eq!(api.get("/api/products").await.status(), 200, "clearing restores service");

    api.put_fault("static", json!({ "status": 500 })).await;
    api.put_fault("login", json!({ "hang": true })).await;
    let (_, after) = api.call(Method::DELETE, "/admin/faults", Value::Null).await;
    assert_eq!(after["faults"], json!({}));
    assert_eq!(api.get("/static/hello").await.status(), 200);
}

#[tokio::test]
async fn admin_api_explains_bad_requests() {
    let shop = shop_with(&[]).await;
    let api = Api::new(&shop);
    let (status, body) = api.call(Method::PUT, "/admin/faults/basket", json!({ "status": 503 })).await;
    assert_eq!((status, &body["valid_routes"]), (StatusCode::NOT_FOUND, &json!(ROUTES)));
    assert!(body["error"].as_str().unwrap().contains("valid routes: login, account"), "{body}");
    let bad = [
        json!({ "error_rate": 3 }),
        json!({ "latency": "soon" }),
        json!({ "colour": "red" }),
        json!({ "stall": "5s/1s" }),
    ];
    for body in bad {
        let (status, why) = api.call(Method::PUT, "/admin/faults/cart", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(!why["error"].as_str().unwrap().is_empty());
    }
    assert_eq!(api.status(Method::DELETE, "/admin/faults/basket", Value::Null).await, 404);
}

#[tokio::test]
async fn latency_fault_delays_by_at_least_the_latency() {
    let shop = shop_with(&["product=latency:300ms"]).await;
    let api = Api::new(&shop);
    let start = Instant::now();
    assert_eq!(api.get("/api/products/SKU-1001").await.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300), "{:?}", start.elapsed());

    let put = api.status(Method::PUT, "/admin/faults/static", json!({ "latency": "250ms" })).await;
    assert_eq!(put, 200);
    let start = Instant::now();
    assert_eq!(api.get("/static/hello").await.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(250), "{:?}", start.elapsed());
}

#[tokio::test]
async fn combined_latency_and_error_rate_both_apply() {
    let shop = shop_with(&["product=latency:200ms,error-rate:1.0"]).await;
    let start = Instant::now();
    let resp = Api::new(&shop).get("/api/products/SKU-1001").await;
    assert_eq!(
        (resp.status(), resp.headers()["x-shop-fault"].to_str().unwrap()),
        (StatusCode::INTERNAL_SERVER_ERROR, "error-rate")
    );
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn error_rate_one_always_fails_and_zero_never() {
    let shop = shop_with(&["login=error-rate:1.0"]).await;
    let api = Api::new(&shop);
    let body = json!({ "email": "customer01@shop.test", "password": DEMO_PASSWORD });
    for _ in 0..20 {
        assert_eq!(api.status(Method::POST, "/api/login", body.clone()).await, 500);
    }
    let put = api.status(Method::PUT, "/admin/faults/login", json!({ "error_rate": 0.0 })).await;
    assert_eq!(put, 200);
    for _ in 0..20 {
        assert_eq!(api.status(Method::POST, "/api/login", body.clone()).await, 200);
    }
}

#[tokio::test]
async fn hang_times_out_on_the_client() {
    let shop = shop_with(&["account=hang"]).await;
    let impatient = Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let err = impatient.get(format!("{}/api/account", shop.url())).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");

    shop.faults.clear_all();
    shop.faults.set("products", Fault::hang()).unwrap();
    let err = impatient.get(format!("{}/api/products", shop.url())).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let put = Api::new(&shop).status(Method::PUT, "/admin/faults/products", json!({ "hang": false })).await;
    assert_eq!(put, 200);
    let resp = impatient.get(format!("{}/api/products", shop.url())).send().await.unwrap();
    assert_eq!(resp.status(), 200, "clearing restores service");
}

#[tokio::test]
async fn shutdown_answers_hung_requests_and_stops() {
    let shop = shop_with(&["account=hang"]).await;
    let mut hanging = shop.faults.hanging();
    let api = Api::new(&shop);
    let request = tokio::spawn(async move { api.get("/api/account").await });
    hanging.wait_for(|n| *n == 1).await.unwrap();
    let addr = shop.addr;
    shop.stop().await.unwrap();
    let resp = request.await.unwrap();
    assert_eq!(
        (resp.status(), resp.headers()["x-shop-fault"].to_str().unwrap()),
        (StatusCode::SERVICE_UNAVAILABLE, "hang")
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn reset_fault_aborts_the_connection_before_any_byte() {
    let shop = shop_with(&["cart=reset"]).await;
    let err = Client::new().get(format!("{}/api/cart", shop.url())).send().await.unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err}");

    // On the wire: a RST, not a response and not an orderly close.
    let mut raw = tokio::net::TcpStream::connect(shop.addr).await.unwrap();
    raw.write_all(b"GET /cart HTTP/1.1\r\nHost: shop\r\n\r\n").await.unwrap();
    let got = raw.read(&mut [0u8; 64]).await;
    assert_eq!(got.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset));

    shop.faults.clear("cart").unwrap();
    let api = Api::new(&shop);
    assert_eq!(api.get("/cart").await.status(), 200, "clearing restores service");
    assert_eq!(api.status(Method::PUT, "/admin/faults/static", json!({ "reset": true })).await, 200);
    assert!(Client::new().get(format!("{}/static/hello", shop.url())).send().await.is_err());
}

#[tokio::test]
async fn stall_holds_responses_until_the_window_ends() {
    // The shop starts inside `spawn`, so its first window ends at least 400 ms after `before`.
    let before = Instant::now();
    let shop = shop_with(&["*=stall:400ms/1h"]).await;
    assert_eq!(Api::new(&shop).get("/static/hello").await.status(), 200);
    assert!(before.elapsed() >= Duration::from_millis(400), "{:?}", before.elapsed());
}

#[tokio::test]
async fn spawn_rejects_faults_for_unknown_routes() {
    let bad = FaultSpec { route: "basket".into(), fault: Fault::status(503) };
    let err = spawn(ShopOptions { faults: vec![bad], ..ShopOptions::default() }).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("valid routes"), "{err}");
}

#[test]
fn fault_flags_parse_or_say_what_is_valid() {
    let spec = parse_fault("product=latency:200ms,error-rate:0.1").unwrap();
    assert_eq!(spec.route, "product");
    assert_eq!((spec.fault.latency, spec.fault.error_rate), (Some(Duration::from_millis(200)), Some(0.1)));
    assert!(parse_fault("*=stall:1s/5s").unwrap().fault.stall.is_some());
    let err = parse_fault("checkout=explode").unwrap_err();
    assert!(err.contains("status:CODE") && err.contains("stall:WINDOW/PERIOD"), "{err}");
    let err = parse_fault("basket=hang").unwrap_err();
    assert!(err.contains("product-page") && err.contains('*'), "{err}");
}
