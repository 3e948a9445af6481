//! The example journeys shipped in `journeys/` load cleanly and mean what they say.

use std::collections::HashMap;
use std::path::PathBuf;

use journeyd::config::{self, LoadOptions};
use journeyd::model::{CaptureSource, HeaderTemplate, Literal, Pick, Predicate, StatusPattern, Subject};
use journeyd::template::{Expr, Part};

fn options() -> LoadOptions {
    let env = HashMap::from([
        ("SHOP_URL".to_string(), "http://127.0.0.1:9".to_string()),
        ("SHOP_PASSWORD".to_string(), "test-password".to_string()),
    ]);
    LoadOptions { env, strict_env: true, ..LoadOptions::default() }
}

fn steps(loaded: &config::Loaded, journey: &str) -> Vec<String> {
    loaded.suite.get(journey).unwrap().steps.iter().map(|s| format!("{} {}", s.method, s.url.source)).collect()
}

#[test]
fn bundled_journeys_load_with_the_expected_steps() {
    let loaded = config::load(&[PathBuf::from("journeys")], &options()).unwrap_or_else(|d| panic!("{d}"));
    assert!(loaded.warnings.is_empty(), "{}", config::render(&loaded.warnings));
    let names: Vec<&str> = loaded.suite.journeys.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["account", "browser-checkout", "checkout", "login", "price-view"]);
    assert_eq!(steps(&loaded, "account"), ["POST /api/login", "GET /api/account"]);
    assert_eq!(
        steps(&loaded, "checkout"),
        ["POST /api/login", "GET /api/products/SKU-1001", "POST /api/cart/items", "POST /api/checkout"]
    );
    assert_eq!(steps(&loaded, "login"), ["POST /api/login", "GET /api/account"]);
    assert_eq!(steps(&loaded, "price-view"), ["GET /products/SKU-1001", "GET /api/products/SKU-1001"]);
    for j in &loaded.suite.journeys {
        assert_eq!(j.target.as_ref().unwrap().parts, vec![Part::Lit("http://127.0.0.1:9".into())], "{}", j.name);
    }
}

#[test]
fn checkout_is_wired_through_captures_data_and_secrets() {
    let loaded = config::load(&[PathBuf::from("journeys")], &options()).unwrap();
    let j = loaded.suite.get("checkout").unwrap();
    assert_eq!((j.users, j.every.as_secs(), j.timeout.as_secs()), (2, 30, 20));
    assert_eq!(j.depends_on, ["login"]);
    assert_eq!((j.data[0].rows.len(), j.data[0].pick), (32, Pick::Unique));
    assert_eq!(j.secrets[0].value, "test-password");
    assert_eq!((j.capture_slots, j.secret_captures.as_slice()), (2, &[0][..]));
    let auth = &j.steps[1].headers[0];
    let HeaderTemplate::Dynamic(value) = &auth.1 else { panic!("a header with a capture is rendered per request") };
    assert_eq!((auth.0.as_str(), &value.parts[1]), ("authorization", &Part::Expr(Expr::Capture(0))));
    assert!(matches!(j.steps[1].expect[2].predicate, Predicate::Compare(_, Literal::Duration(d)) if d.as_secs() == 2));
    assert!(matches!(j.steps[2].expect[1].predicate, Predicate::Length(_, n) if n == 1.0));
    let think = j.steps[2].think.unwrap();
    assert_eq!((think.min.as_millis(), think.max.as_millis()), (100, 500));
}

#[test]
fn the_browser_checkout_walks_the_storefront() {
    use journeyd::model::{Action, FailedRequests, Selector, WaitFor};
    let loaded = config::load(&[PathBuf::from("journeys")], &options()).unwrap();
    let j = loaded.suite.get("browser-checkout").unwrap();
    let b = j.browser.as_ref().expect("a browser journey");
    assert_eq!((b.viewport, b.allow_js_errors, b.failed_requests), ((1280, 800), false, FailedRequests::SameOrigin));
    let names: Vec<&str> = j.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["login", "view-price", "add-to-cart", "checkout"]);
    let keys: Vec<Vec<&str>> = j.steps.iter().map(|s| s.actions.iter().map(Action::key).collect()).collect();
    assert_eq!(keys[0], ["goto", "fill", "fill", "click", "wait_for"], "fill maps become one action per field");
    assert!(matches!(&j.steps[0].actions[2], Action::Fill(Selector::Css(s), t) if s == "#password" && t.uses_secret()));
    assert!(matches!(&j.steps[0].actions[4], Action::WaitFor(WaitFor::Url(u)) if u == "/store/products/SKU-1001"));
    assert!(matches!(&j.steps[1].capture[0].source, CaptureSource::Text(Selector::Css(s)) if s == "#price"));
    assert!(matches!(&j.steps[2].expect[0].subject, Subject::Count(Selector::Css(s)) if s == ".cart-item"));
    assert!(matches!(&j.steps[3].expect[1], c if c.subject == Subject::Element(Selector::Css("#checkout".into()))
        && matches!(c.predicate, Predicate::NotExists)));
}

#[test]
fn price_view_compares_the_page_price_with_the_api() {
    let loaded = config::load(&[PathBuf::from("journeys")], &options()).unwrap();
    let j = loaded.suite.get("price-view").unwrap();
    let page = &j.steps[0];
    assert!(matches!(&page.expect[1].subject, Subject::Header(h) if h == "content-type"));
    assert!(matches!(&page.capture[0].source, CaptureSource::Regex { group: 1, .. }));
    let api = &j.steps[1];
    assert!(matches!(&api.expect[0].predicate, Predicate::StatusIn(p) if p == &[StatusPattern::Class(2)]));
    let Predicate::Compare(_, Literal::Template(t)) = &api.expect[1].predicate else { panic!("template literal") };
    assert_eq!(t.parts, vec![Part::Expr(Expr::Capture(0))]);
    assert!(matches!(&api.expect[2].predicate, Predicate::Compare(_, Literal::String(s)) if s == "EUR"));
    assert_eq!(api.query[0].0, "currency");
}

#[test]
fn each_bundled_file_also_loads_alone() {
    for entry in std::fs::read_dir("journeys").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let loaded = config::load_str(&path, &text, &options()).unwrap_or_else(|d| panic!("{d}"));
            assert_eq!(loaded.suite.journeys.len(), 1);
        }
    }
}
