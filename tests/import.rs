//! `journeyd import`: a HAR recorded from real requests to the demo shop imports to a journey that runs
//! green against it; a curl login imports and runs; bad input exits 2 and writes nothing.

mod common;

#[path = "common/tempdir.rs"]
mod tempdir;
use std::path::PathBuf;
use std::process::Command;
use tempdir::tempdir;

use journeyd::import::{self, Options};
use journeyd::shop::{spawn, ShopOptions, DEMO_PASSWORD};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method};
use serde_json::{json, Value};

use common::{describe, journey, run_once};

/// Sends requests to the shop like a browser would and records each exchange as a HAR 1.2 entry.
struct Recorder {
    client: Client,
    entries: Vec<Value>,
    /// The `session` cookie the shop set, sent back like a browser (the import must drop it).
    cookie: Option<String>,
}

impl Recorder {
    fn new() -> Recorder {
        let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Recorder { client, entries: Vec::new(), cookie: None }
    }

    /// Sends and records one request; returns the JSON response body (`null` when not JSON).
    async fn send(&mut self, method: Method, url: &str, headers: &[(&str, &str)], body: Option<Value>) -> Value {
        let mut sent: Vec<(String, String)> = vec![
            (":method".into(), method.to_string()),
            (":authority".into(), url.split('/').nth(2).unwrap().into()),
            ("user-agent".into(), "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0".into()),
            ("accept-encoding".into(), "gzip, deflate, br, zstd".into()),
            ("sec-ch-ua-platform".into(), "\"Linux\"".into()),
            ("traceparent".into(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        ];
        sent.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if let Some(c) = &self.cookie {
            sent.push(("cookie".into(), c.clone()));
        }
        let text = body.as_ref().map(|b| b.to_string());
        if let Some(t) = &text {
            sent.push(("content-type".into(), "application/json".into()));
            sent.push(("content-length".into(), t.len().to_string()));
        }
        let mut req = self.client.request(method.clone(), url);
        for (k, v) in sent.iter().filter(|(k, _)| !k.starts_with(':')) {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(t) = &text {
            req = req.body(t.clone());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let resp_headers = header_list(resp.headers());
        if let Some(set) = resp.headers().get("set-cookie") {
            self.cookie = Some(set.to_str().unwrap().split(';').next().unwrap().to_string());
        }
        let mime = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let resp_text = resp.text().await.unwrap();
        let mut request = json!({
            "method": method.as_str(), "url": url, "httpVersion": "HTTP/2",
            "headers": sent.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
            "queryString": [], "cookies": [], "headersSize": -1, "bodySize": text.as_ref().map_or(0, |t| t.len()),
        });
        if let Some(t) = &text {
            request["postData"] = json!({"mimeType": "application/json", "text": t});
        }
        self.entries.push(json!({
            "startedDateTime": "2026-12-06T21:00:00.000Z", "time": 12.5, "request": request,
            "response": {
                "status": status, "statusText": "", "httpVersion": "HTTP/2", "cookies": [], "headers": resp_headers,
                "content": {"size": resp_text.len(), "mimeType": mime, "text": resp_text}, "redirectURL": "",
                "headersSize": -1, "bodySize": resp_text.len(),
            },
            "cache": {}, "timings": {"send": 0, "wait": 10, "receive": 2},
        }));
        serde_json::from_str(&resp_text).unwrap_or(Value::Null)
    }

    /// A recorded entry that never reached the shop: assets and analytics the import must leave out.
    fn fake(&mut self, method: &str, url: &str, status: u16, mime: &str) {
        self.entries.push(json!({
            "request": {"method": method, "url": url, "headers": [{"name": "referer", "value": "https://x.test/"}]},
            "response": {"status": status, "headers": [], "content": {"mimeType": mime, "text": ""}},
        }));
    }

    fn har(&self) -> String {
        let creator = json!({"name": "Firefox", "version": "133.0"});
        let har = json!({"log": {"version": "1.2", "creator": creator, "entries": self.entries}});
        serde_json::to_string_pretty(&har).unwrap()
    }
}

fn header_list(h: &HeaderMap) -> Vec<Value> {
    h.iter().map(|(k, v)| json!({"name": k.as_str(), "value": v.to_str().unwrap_or("")})).collect()
}

/// Records the checkout walked by hand in a browser: the product page with its assets and beacons, a
/// login, a price, add to cart, pay.
async fn record_checkout(shop: &str) -> (String, String) {
    let mut r = Recorder::new();
    let html = [("accept", "text/html,application/xhtml+xml")];
    r.send(Method::GET, &format!("{shop}/products/SKU-1001"), &html, None).await;
    r.fake("GET", &format!("{shop}/static/app.3f9a.js"), 200, "application/javascript");
    r.fake("GET", &format!("{shop}/static/site.css"), 200, "text/css");
    r.fake("GET", "https://fonts.gstatic.com/s/inter/v13/inter.woff2", 200, "font/woff2");
    r.fake("GET", &format!("{shop}/favicon.ico"), 404, "text/html");
    r.fake("POST", "https://www.google-analytics.com/g/collect?v=2&tid=G-XYZ", 204, "");
    r.fake("POST", "https://o4504.ingest.sentry.io/api/42/envelope/", 200, "application/json");
    r.fake("GET", "https://cdn.partner.test/banner", 200, "text/html");
    let api = [("accept", "application/json")];
    let login = json!({"email": "customer01@shop.test", "password": DEMO_PASSWORD});
    let token = r.send(Method::POST, &format!("{shop}/api/login"), &api, Some(login)).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Bearer {token}");
    let auth = [("accept", "application/json"), ("authorization", bearer.as_str())];
    r.send(Method::GET, &format!("{shop}/api/products/SKU-1001"), &auth, None).await;
    let cart = r
        .send(Method::POST, &format!("{shop}/api/cart/items"), &auth, Some(json!({"sku": "SKU-1001", "qty": 1})))
        .await;
    let cart_id = cart["cart_id"].as_str().unwrap().to_string();
    let order = r.send(Method::POST, &format!("{shop}/api/checkout"), &auth, Some(json!({"cart_id": cart_id}))).await;
    assert!(order["order_id"].is_string(), "the recording itself checks out: {order}");
    (r.har(), token)
}

#[tokio::test]
async fn a_recorded_checkout_imports_to_a_journey_that_runs_green_with_the_password_from_the_env() {
    let shop = spawn(ShopOptions::default()).await.unwrap();
    let (har, token) = record_checkout(&shop.url()).await;
    let opts = Options { name: None, command: "journeyd import har checkout.har".into() };
    let imported = import::from_har("checkout.har", &har, &opts).unwrap();
    let yaml = &imported.yaml;

    assert_eq!(imported.steps, 5, "{yaml}");
    for leaked in
        [DEMO_PASSWORD, token.as_str(), "cookie", "session=", "Mozilla", "traceparent", "sec-ch", ":authority"]
    {
        assert!(!yaml.contains(leaked), "`{leaked}` in:\n{yaml}");
    }
    for dropped in ["app.3f9a.js", "site.css", "woff2", "favicon", "google-analytics", "sentry", "partner"] {
        assert!(!yaml.contains(dropped), "`{dropped}` in:\n{yaml}");
    }
    for expected in [
        "name: checkout\n",
        &format!("target: \"{}\"\n", shop.url()),
        "  password: { env: JOURNEY_PASSWORD }\n",
        "  - name: post-api-login\n    post: /api/login\n",
        "      password: \"{{ secrets.password }}\"\n",
        "      token: { json: token, secret: true }\n",
        "      authorization: \"Bearer {{ token }}\"\n",
        "      cart_id: { json: cart_id }\n",
        "      cart_id: \"{{ cart_id }}\"\n",
        "    expect: [ status == 201 ]\n",
        "  - name: get-products-sku-1001\n",
    ] {
        assert!(yaml.contains(expected), "no {expected:?} in:\n{yaml}");
    }
    assert_eq!(
        imported.env,
        vec![("JOURNEY_PASSWORD".to_string(), "the `password` field of POST /api/login".to_string())]
    );
    let dropped: Vec<String> = imported.dropped.iter().map(|(d, n)| format!("{n} {}", d.describe())).collect();
    assert_eq!(dropped, ["4 static assets", "2 analytics", "1 other origins"]);

    // The real loader accepts it, and the runner walks it green: new token, new cart, new order.
    let j = journey(yaml, &[("JOURNEY_PASSWORD", DEMO_PASSWORD)]);
    let outcome = run_once(&j).await;
    assert!(outcome.passed(), "{}\n{yaml}", describe(&outcome));
    assert_eq!(outcome.steps.len(), 5);

    // The password really comes from the variable: a wrong one fails the login.
    let wrong = journey(yaml, &[("JOURNEY_PASSWORD", "not-the-password")]);
    let outcome = run_once(&wrong).await;
    assert_eq!(outcome.failure().map(|f| f.step_name.as_str()), Some("post-api-login"), "{}", describe(&outcome));
}

#[tokio::test]
async fn a_curl_login_imports_with_its_secrets_and_runs() {
    let shop = spawn(ShopOptions::default()).await.unwrap();
    let url = shop.url();
    let commands = format!(
        r#"curl '{url}/api/login' \
  -H 'accept: application/json' \
  -H 'content-type: application/json' \
  -H 'cookie: session=0123456789' \
  --data-raw '{{"email":"customer02@shop.test","password":"{DEMO_PASSWORD}"}}' \
  --compressed
curl "{url}/api/products?currency=EUR" -H 'X-Api-Key: k-7f3a9c1e' -H "Accept: application/json""#
    );
    let opts = Options { name: Some("login".into()), command: "journeyd import curl".into() };
    let imported = import::from_curl(&commands, &opts).unwrap();
    let yaml = &imported.yaml;
    assert!(!yaml.contains(DEMO_PASSWORD) && !yaml.contains("k-7f3a9c1e") && !yaml.contains("session="), "{yaml}");
    assert!(yaml.contains("    get: /api/products?currency=EUR\n"), "{yaml}");
    assert!(yaml.contains("      X-Api-Key: \"{{ secrets.x_api_key }}\"\n"), "{yaml}");
    let vars: Vec<&str> = imported.env.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(vars, ["JOURNEY_PASSWORD", "JOURNEY_X_API_KEY"]);
    assert!(imported.warnings.iter().any(|w| w.contains("--compressed")), "{:?}", imported.warnings);

    let env = [("JOURNEY_PASSWORD", DEMO_PASSWORD), ("JOURNEY_X_API_KEY", "anything")];
    let outcome = run_once(&journey(yaml, &env)).await;
    assert!(outcome.passed(), "{}\n{yaml}", describe(&outcome));
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_journeyd"));
    c.env_remove("JOURNEYD_LOG").env_remove("RUST_LOG");
    c
}

/// Runs the binary; returns exit code and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = bin().args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_input_exits_2_with_a_clear_error_and_leaves_the_output_alone() {
    let dir = tempdir("bad");
    let out = dir.join("out.yml");
    std::fs::write(&out, "previous content\n").unwrap();
    let out_s = out.to_str().unwrap();
    let har = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let asset = r#"{"request": {"method": "GET", "url": "https://a.test/app.js"},
        "response": {"status": 200, "content": {"mimeType": "text/javascript"}}}"#;
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["har".into(), har("notjson.har", "{\n  \"log\": {\n    entries: []")],
            "notjson.har:3:5: not a HAR file: key must be a string".into(),
        ),
        (
            vec!["har".into(), har("noentries.har", r#"{"log": {"version": "1.2"}}"#)],
            "noentries.har: not a HAR file: no `log.entries`".into(),
        ),
        (
            vec!["har".into(), har("empty.har", r#"{"log": {"entries": []}}"#)],
            "nothing to import: the recording has no requests".into(),
        ),
        (
            vec!["har".into(), har("assets.har", &format!(r#"{{"log": {{"entries": [{asset}, {asset}]}}}}"#))],
            "nothing to import: all 2 requests were left out (2 static assets)".into(),
        ),
        (vec!["har".into(), dir.join("missing.har").to_str().unwrap().into()], "cannot read".into()),
        (vec!["curl".into(), "curl -X POST -d a=1".into()], "curl command 1: no URL".into()),
        (
            vec!["curl".into(), "curl https://a.test/\ncurl --proxy-negotiate https://a.test/".into()],
            "curl command 2: unknown curl option `--proxy-negotiate`".into(),
        ),
        (
            vec!["curl".into(), "curl https://a.test/ -d 'unclosed".into()],
            "curl commands: a single quote is never closed".into(),
        ),
        (
            vec!["curl".into(), "curl https://a.test/".into(), "--name".into(), "Bad Name".into()],
            "invalid journey name `Bad Name`".into(),
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["import"];
        full.extend(args.iter().map(String::as_str));
        full.extend(["-o", out_s]);
        let (code, err) = run(&full);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(&expected), "{args:?}: expected {expected:?} in:\n{err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous content\n", "{args:?} touched the output");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn import_writes_a_file_that_check_accepts_and_help_lists_it() {
    let dir = tempdir("ok");
    let out = dir.join("login.yml");
    let (code, err) = run(&[
        "import",
        "curl",
        "curl -u ada:hunter22 https://shop.test/api/account -k",
        "-o",
        out.to_str().unwrap(),
        "--name",
        "account",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("JOURNEY_BASIC_AUTH"), "{err}");
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert!(!yaml.contains("hunter22") && yaml.contains("tls_skip_verify: true"), "{yaml}");
    let check =
        bin().args(["check", out.to_str().unwrap()]).env("JOURNEY_BASIC_AUTH", "YWRhOmh1bnRlcjIy").output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stderr));

    let help = bin().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("import"));
}

#[test]
fn the_docs_list_every_analytics_host() {
    let docs = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/import.md")).unwrap();
    for host in import::ANALYTICS_HOSTS {
        assert!(docs.contains(&format!("`{host}`")), "docs/import.md does not list {host}");
    }
}
