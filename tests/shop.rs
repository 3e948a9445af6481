//! The demo shop against a real HTTP client: routes, the checkout flow and the HTML form flow here;
//! every fault kind (by flag, admin API and in process) in `shop/faults.rs`.

#[path = "shop/faults.rs"]
mod faults;

use journeyd::shop::{parse_fault, spawn, RunningShop, ShopOptions, DEMO_PASSWORD};
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};

async fn shop_with(specs: &[&str]) -> RunningShop {
    let faults = specs.iter().map(|s| parse_fault(s).unwrap()).collect();
    spawn(ShopOptions { faults, ..ShopOptions::default() }).await.unwrap()
}

/// A client for one shop that shows redirects instead of following them, optionally logged in.
#[derive(Clone)]
struct Api {
    c: Client,
    base: String,
    token: Option<String>,
}

impl Api {
    fn new(shop: &RunningShop) -> Api {
        let c = Client::builder().redirect(Policy::none()).build().unwrap();
        Api { c, base: shop.url(), token: None }
    }

    async fn login(shop: &RunningShop, n: u32) -> Api {
        let mut api = Api::new(shop);
        let body = json!({ "email": format!("customer{n:02}@shop.test"), "password": DEMO_PASSWORD });
        let (status, json) = api.call(Method::POST, "/api/login", body).await;
        assert_eq!(status, 200, "{json}");
        api.token = Some(json["token"].as_str().unwrap().to_string());
        api
    }

    /// Sends `body` as JSON unless it is `null`; adds the bearer token when logged in.
    async fn send(&self, method: Method, path: &str, body: Value) -> Response {
        let mut req = self.c.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    /// Status and JSON body (`null` when the body is not JSON).
    async fn call(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self.send(method, path, body).await;
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, Value::Null).await
    }

    /// `PUT /admin/faults/{route}`: status and the resulting fault.
    async fn put_fault(&self, route: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, &format!("/admin/faults/{route}"), body).await
    }

    async fn status(&self, method: Method, path: &str, body: Value) -> StatusCode {
        self.send(method, path, body).await.status()
    }
}

fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(html).expect("a csrf input")[1].to_string()
}

#[tokio::test]
async fn json_login_returns_a_token_and_sets_the_session_cookie() {
    let shop = shop_with(&[]).await;
    let body = json!({ "email": "customer07@shop.test", "password": DEMO_PASSWORD });
    let resp = Api::new(&shop).send(Method::POST, "/api/login", body).await;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    assert_eq!(body["email"], "customer07@shop.test");
    assert_eq!(body["name"], "Test Customer 07");
    assert_eq!(cookie, format!("session={token}; Path=/; HttpOnly"));
}

#[tokio::test]
async fn form_login_cookie_opens_the_account() {
    let shop = shop_with(&[]).await;
    let c = Client::builder().cookie_store(true).build().unwrap();
    let form = [("email", "customer03@shop.test"), ("password", DEMO_PASSWORD)];
    let resp = c.post(format!("{}/api/login", shop.url())).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let account: Value = c.get(format!("{}/api/account", shop.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(account["email"], "customer03@shop.test");
    assert_eq!(account["orders"], json!([]));
}

#[tokio::test]
async fn bad_credentials_and_bodies_are_refused() {
    let shop = shop_with(&[]).await;
    let api = Api::new(&shop);
    for (email, password) in [("customer01@shop.test", "wrong"), ("stranger@shop.test", DEMO_PASSWORD)] {
        let body = json!({ "email": email, "password": password });
        let (status, json) = api.call(Method::POST, "/api/login", body).await;
        assert_eq!((status, json), (StatusCode::UNAUTHORIZED, json!({ "error": "invalid credentials" })));
    }
    let url = format!("{}/api/login", shop.url());
    let garbage = api.c.post(&url).header(CONTENT_TYPE, "application/json").body("{not json");
    assert_eq!(garbage.send().await.unwrap().status(), 400);
    let missing = json!({ "email": "customer01@shop.test" });
    assert_eq!(api.status(Method::POST, "/api/login", missing).await, 400);
    assert_eq!(api.get("/api/account").await.status(), 401);
    let stranger = Api { token: Some("0".repeat(32)), ..api };
    assert_eq!(stranger.get("/api/account").await.status(), 401);
}

#[tokio::test]
async fn custom_password_replaces_the_demo_one() {
    let shop = spawn(ShopOptions { password: "s3cret".into(), ..ShopOptions::default() }).await.unwrap();
    let api = Api::new(&shop);
    for (password, want) in [(DEMO_PASSWORD, 401), ("s3cret", 200)] {
        let body = json!({ "email": "customer01@shop.test", "password": password });
        assert_eq!(api.status(Method::POST, "/api/login", body).await, want);
    }
}

#[tokio::test]
async fn checkout_flow_records_the_order_on_the_account() {
    let shop = shop_with(&[]).await;
    let api = Api::login(&shop, 1).await;
    let add = |sku: &str, qty: i64| api.call(Method::POST, "/api/cart/items", json!({ "sku": sku, "qty": qty }));
    assert_eq!(add("SKU-1001", 2).await.0, 200);
    let (_, cart) = add("SKU-1002", 1).await;
    let items = json!([{"sku": "SKU-1001", "qty": 2, "price": 12.99}, {"sku": "SKU-1002", "qty": 1, "price": 8.5}]);
    assert_eq!((&cart["items"], &cart["total"]), (&items, &json!(34.48)));
    assert_eq!(add("SKU-9999", 1).await.0, 404);
    assert_eq!(add("SKU-1001", 0).await.0, 400);
    assert_eq!(add("SKU-1001", -3).await.0, 400);
    assert_eq!(api.call(Method::GET, "/api/cart", Value::Null).await.1, cart);

    let checkout = |id: Value| api.call(Method::POST, "/api/checkout", json!({ "cart_id": id }));
    assert_eq!(checkout(json!("cart-999999")).await.0, 404);
    let (status, order) = checkout(cart["cart_id"].clone()).await;
    assert_eq!((status, &order["total"]), (StatusCode::CREATED, &json!(34.48)));
    assert_eq!(checkout(cart["cart_id"].clone()).await.0, 404, "the cart is closed");
    let (_, fresh) = api.call(Method::GET, "/api/cart", Value::Null).await;
    assert_ne!(fresh["cart_id"], cart["cart_id"]);
    assert_eq!(checkout(fresh["cart_id"].clone()).await.0, 409, "empty cart");

    let (_, account) = api.call(Method::GET, "/api/account", Value::Null).await;
    assert_eq!(account["orders"], json!([{ "order_id": order["order_id"], "total": 34.48 }]));
}

#[tokio::test]
async fn concurrent_customers_keep_their_own_carts_and_orders() {
    let shop = shop_with(&[]).await;
    let mut tasks = Vec::new();
    for n in 1..=32u32 {
        let api = Api::login(&shop, n).await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                let item = json!({ "sku": "SKU-1005", "qty": n });
                let (_, cart) = api.call(Method::POST, "/api/cart/items", item).await;
                assert_eq!(cart["items"][0]["qty"], json!(n), "no other customer's items");
                let pay = json!({ "cart_id": cart["cart_id"] });
                assert_eq!(api.status(Method::POST, "/api/checkout", pay).await, 201);
            }
            let (_, account) = api.call(Method::GET, "/api/account", Value::Null).await;
            let orders = account["orders"].as_array().unwrap().clone();
            orders.iter().map(|o| o["order_id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let orders = t.await.unwrap();
        assert_eq!(orders.len(), 3);
        all.extend(orders);
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 96, "order ids are unique");
}

#[tokio::test]
async fn product_api_converts_currency_and_404s_unknown_skus() {
    let shop = shop_with(&[]).await;
    let api = Api::new(&shop);
    let (_, eur) = api.call(Method::GET, "/api/products/SKU-1001", Value::Null).await;
    assert_eq!((&eur["price"], &eur["currency"]), (&json!(12.99), &json!("EUR")));
    assert!(eur["stock"].as_u64().is_some());
    let (_, usd) = api.call(Method::GET, "/api/products/SKU-1001?currency=USD", Value::Null).await;
    assert_eq!((&usd["price"], &usd["currency"]), (&json!(14.29), &json!("USD")));
    let missing = api.call(Method::GET, "/api/products/SKU-0000", Value::Null).await;
    assert_eq!(missing, (StatusCode::NOT_FOUND, json!({ "error": "no such product" })));
    assert_eq!(api.get("/api/products/SKU-1001?currency=GBP").await.status(), 400);
    let (_, list) = api.call(Method::GET, "/api/products", Value::Null).await;
    let want = json!({ "sku": "SKU-1001", "name": eur["name"], "price": 12.99, "currency": "EUR" });
    assert_eq!(list["products"][0], want);
}

#[tokio::test]
async fn product_page_shows_the_price_and_a_fresh_csrf_token() {
    let shop = shop_with(&[]).await;
    let api = Api::new(&shop);
    let resp = api.get("/products/SKU-1001").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"<span class="price" data-price="12.99">€12.99</span>"#), "{html}");
    assert!(html.contains(r#"<form method="post" action="/cart/add">"#));
    assert!(html.contains("Add to cart"));
    let again = api.get("/products/SKU-1001").await.text().await.unwrap();
    assert_ne!(csrf_of(&html), csrf_of(&again), "a new token per request");
    assert_eq!(api.get("/products/NOPE").await.status(), 404);
}

#[tokio::test]
async fn cart_form_redirects_to_the_cart_page() {
    let shop = shop_with(&[]).await;
    let (api, add_url) = (Api::new(&shop), format!("{}/cart/add", shop.url()));
    let csrf = csrf_of(&api.get("/products/SKU-1003").await.text().await.unwrap());
    let form = [("sku", "SKU-1003"), ("qty", "2"), ("csrf", csrf.as_str())];
    let resp = api.c.post(&add_url).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/cart");
    assert!(resp.headers()[SET_COOKIE].to_str().unwrap().starts_with("session="), "a guest session");
    let forged = [("sku", "SKU-1003"), ("qty", "1"), ("csrf", "00000000000000000000000000000000")];
    assert_eq!(api.c.post(&add_url).form(&forged).send().await.unwrap().status(), 403);

    // A browser-like client: logged in by cookie, follows the 303 to the cart page.
    let browser = Client::builder().cookie_store(true).build().unwrap();
    let creds = [("email", "customer09@shop.test"), ("password", DEMO_PASSWORD)];
    let login = browser.post(format!("{}/api/login", shop.url())).form(&creds);
    assert_eq!(login.send().await.unwrap().status(), 200);
    let resp = browser.post(&add_url).form(&form).send().await.unwrap();
    assert_eq!((resp.status(), resp.url().path()), (StatusCode::OK, "/cart"));
    let page = resp.text().await.unwrap();
    assert!(page.contains(r#"data-sku="SKU-1003""#) && page.contains(r#"data-total="98.00""#), "{page}");
    let api_cart: Value = browser.get(format!("{}/api/cart", shop.url())).send().await.unwrap().json().await.unwrap();
    let want = json!([{ "sku": "SKU-1003", "qty": 2, "price": 49.0 }]);
    assert_eq!(api_cart["items"], want, "one cart behind the HTML form and the API");
}

#[tokio::test]
async fn static_hello_and_health_are_plain() {
    let shop = shop_with(&[]).await;
    let api = Api::new(&shop);
    let resp = api.get("/static/hello").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    let body = resp.bytes().await.unwrap();
    assert_eq!((&body[..], body.len()), (&b"hello, world\n"[..], 13));
    assert_eq!(api.get("/healthz").await.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn redirect_helpers_chain_and_loop() {
    let shop = shop_with(&[]).await;
    let resp = Api::new(&shop).get("/redirect/3").await;
    assert_eq!((resp.status(), resp.headers()[LOCATION].to_str().unwrap()), (StatusCode::FOUND, "/redirect/2"));
    let follow = Client::new();
    let resp = follow.get(format!("{}/redirect/3", shop.url())).send().await.unwrap();
    assert_eq!((resp.status(), resp.url().path()), (StatusCode::OK, "/redirect/0"));
    let err = follow.get(format!("{}/redirect-loop", shop.url())).send().await.unwrap_err();
    assert!(err.is_redirect(), "{err}");
}
