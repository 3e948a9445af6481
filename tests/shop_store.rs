//! The storefront without a browser: its pages and bundle are served, and the `ui:` faults (and a 404
//! on the bundle) change what is served — over real HTTP against the demo shop on port 0. What a browser
//! makes of them is `tests/browser_journeys.rs`.

use journeyd::shop::{parse_fault, spawn, RunningShop, ShopOptions, JS_ERROR_MESSAGE};
use reqwest::header::CONTENT_TYPE;

async fn shop_with(specs: &[&str]) -> RunningShop {
    let faults = specs.iter().map(|s| parse_fault(s).unwrap()).collect();
    spawn(ShopOptions { faults, ..ShopOptions::default() }).await.unwrap()
}

async fn get(shop: &RunningShop, path: &str) -> (u16, String, String) {
    let resp = reqwest::get(format!("{}{path}", shop.url())).await.unwrap();
    let ct = resp.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (resp.status().as_u16(), ct, resp.text().await.unwrap())
}

#[tokio::test]
async fn pages_carry_the_contract_selectors_and_load_the_bundle() {
    let shop = shop_with(&[]).await;
    let pages: [(&str, &[&str]); 5] = [
        ("/store/", &["href=\"/store/products/SKU-1001\"", "data-page=\"index\""]),
        ("/store/login", &["id=\"email\"", "id=\"password\"", "id=\"login\"", "data-page=\"login\""]),
        (
            "/store/products/SKU-1001",
            &["id=\"price\"", "id=\"add-to-cart\"", "id=\"go-to-cart\"", "data-sku=\"SKU-1001\""],
        ),
        ("/store/cart", &["id=\"cart-items\"", "id=\"checkout-area\"", "id=\"order-id\"", "data-page=\"cart\""]),
        ("/store/account", &["id=\"account-name\"", "id=\"orders\"", "data-page=\"account\""]),
    ];
    for (path, wants) in pages {
        let (status, ct, body) = get(&shop, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        assert!(body.contains("<script src=\"/static/app.js\" defer></script>"), "{path}: {body}");
        for want in wants {
            assert!(body.contains(want), "{path} lacks {want}: {body}");
        }
    }
    let (status, _, body) = get(&shop, "/store/products/SKU-9999").await;
    assert_eq!(status, 404);
    assert!(body.contains("No product <code>SKU-9999</code>"), "{body}");
    let (status, _, body) = get(&shop, "/store/products/%3Cb%3E").await;
    assert_eq!(status, 404);
    assert!(body.contains("&lt;b&gt;") && !body.contains("<b>"), "the sku is escaped: {body}");
    shop.stop().await.unwrap();
}

#[tokio::test]
async fn the_bundle_is_served_whole_and_without_a_fault_marker() {
    let shop = shop_with(&[]).await;
    let (status, ct, js) = get(&shop, "/static/app.js").await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/javascript"), "{ct}");
    assert!(js.contains("const UI_FAULT = \"\";"), "no fault is active");
    assert!(!js.contains("__UI_FAULT__") && !js.contains("throw new Error"));
    for api in ["/api/login", "/api/products/", "/api/cart/items", "/api/checkout", "/api/account"] {
        assert!(js.contains(api), "the bundle calls {api}");
    }
    shop.stop().await.unwrap();
}

#[tokio::test]
async fn ui_faults_change_only_the_bundle() {
    let cases = [
        ("static=ui:js-error", format!("throw new Error({JS_ERROR_MESSAGE:?});\n")),
        ("static=ui:no-checkout", "const UI_FAULT = \"no-checkout\";".to_string()),
        ("static=ui:empty-price", "const UI_FAULT = \"empty-price\";".to_string()),
    ];
    for (spec, want) in cases {
        let shop = shop_with(&[spec]).await;
        let (status, _, js) = get(&shop, "/static/app.js").await;
        assert_eq!(status, 200, "{spec}: a ui fault keeps the answer 200");
        assert!(js.contains(&want), "{spec}: the bundle lacks {want}");
        if spec.ends_with("js-error") {
            assert!(js.starts_with("throw new Error("), "it throws before anything else runs");
        }
        // Pages and the API are untouched.
        let (status, _, page) = get(&shop, "/store/cart").await;
        assert_eq!(status, 200, "{spec}");
        assert!(page.contains("id=\"checkout-area\""));
        let (status, _, _) = get(&shop, "/api/products/SKU-1001").await;
        assert_eq!(status, 200, "{spec}");
        shop.stop().await.unwrap();
    }
}

#[tokio::test]
async fn the_bundle_can_answer_404_and_pages_can_fail() {
    let shop = shop_with(&["static=status:404", "store=status:503"]).await;
    let (status, _, body) = get(&shop, "/static/app.js").await;
    assert_eq!(status, 404);
    assert!(!body.contains("UI_FAULT"), "{body}");
    let (status, _, _) = get(&shop, "/store/login").await;
    assert_eq!(status, 503);
    let (status, _, _) = get(&shop, "/api/products/SKU-1001").await;
    assert_eq!(status, 200, "the API stays green");
    shop.stop().await.unwrap();
}

#[tokio::test]
async fn the_admin_api_sets_and_clears_a_ui_fault() {
    let shop = shop_with(&[]).await;
    let c = reqwest::Client::new();
    let url = format!("{}/admin/faults/static", shop.url());
    let resp = c.put(&url).body(r#"{"ui": "no-checkout"}"#).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"ui":"no-checkout"}"#);
    assert!(get(&shop, "/static/app.js").await.2.contains("const UI_FAULT = \"no-checkout\";"));
    let resp = c.put(&url).body(r#"{"ui": "sideways"}"#).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("valid: js-error, no-checkout, empty-price"));
    let resp = c.put(&url).body(r#"{"ui": null}"#).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(get(&shop, "/static/app.js").await.2.contains("const UI_FAULT = \"\";"));
    shop.stop().await.unwrap();
}
