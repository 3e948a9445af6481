//! The router, its shared state, the fault-route classification of paths, and small request helpers
//! used by the JSON, HTML and admin handlers.

use std::sync::Arc;

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use super::faults::{route_index, WILDCARD};
use super::state::{parse_token, Shop, Token};
use super::table::FaultHandle;
use super::{admin, api, html, store};

/// What every handler can reach (cheap to clone: two `Arc`s and a token).
#[derive(Clone)]
pub(crate) struct AppState {
    pub shop: Arc<Shop>,
    /// The admin API edits the same table the serve loop reads.
    pub faults: FaultHandle,
}

pub(crate) fn router(shop: Arc<Shop>, faults: FaultHandle) -> Router {
    Router::new()
        .route("/api/login", post(api::login))
        .route("/api/account", get(api::account))
        .route("/api/products", get(api::products))
        .route("/api/products/{sku}", get(api::product))
        .route("/api/cart", get(api::cart))
        .route("/api/cart/items", post(api::add_item))
        .route("/api/checkout", post(api::checkout))
        .route("/products/{sku}", get(html::product_page))
        .route("/cart", get(html::cart_page))
        .route("/cart/add", post(html::cart_add))
        .route("/static/hello", get(html::hello))
        .route("/static/app.js", get(store::bundle))
        .route("/store", get(store::index))
        .route("/store/", get(store::index))
        .route("/store/login", get(store::login))
        .route("/store/products/{sku}", get(store::product))
        .route("/store/cart", get(store::cart))
        .route("/store/account", get(store::account))
        .route("/redirect/{n}", get(html::redirect_chain))
        .route("/redirect-loop", get(html::redirect_loop))
        .route("/healthz", get(html::healthz))
        .route("/admin/faults", get(admin::list).delete(admin::clear_all))
        .route("/admin/faults/{route}", put(admin::put).get(admin::get).delete(admin::clear))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page") })
        .with_state(AppState { shop, faults })
}

/// The fault route (index into `ROUTES`) a path belongs to; `None` for paths never faulted
/// (`/healthz`, the admin API). Paths outside the named routes only see the `*` fault.
pub(crate) fn fault_route(path: &str) -> Option<usize> {
    let name = match path {
        "/healthz" => return None,
        p if p == "/admin" || p.starts_with("/admin/") => return None,
        "/api/login" => "login",
        "/api/account" => "account",
        "/api/products" => "products",
        p if p.starts_with("/api/products/") => "product",
        p if p.starts_with("/products/") => "product-page",
        "/cart" | "/cart/add" | "/api/cart" | "/api/cart/items" => "cart",
        "/api/checkout" => "checkout",
        p if p.starts_with("/static/") => "static",
        p if p == "/store" || p.starts_with("/store/") => "store",
        _ => return Some(WILDCARD),
    };
    route_index(name).ok()
}

/// `{"error": msg}` with `status`.
pub(crate) fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

/// The session token from `Authorization: Bearer …`, else from the `session` cookie.
pub(crate) fn session_token(headers: &HeaderMap) -> Option<Token> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| parse_token(t.trim()));
    bearer.or_else(|| cookie(headers, "session").and_then(parse_token))
}

pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Decodes a JSON or form-urlencoded body (by `Content-Type`, sniffed when absent) into `T`.
/// Form values arrive as JSON strings, so form-capable bodies use string fields.
pub(crate) fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, String> {
    let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let is_form = if ct.is_empty() {
        body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        true
    } else if ct.starts_with("application/json") || ct.contains("+json") {
        false
    } else {
        return Err(format!(
            "unsupported Content-Type `{ct}`: send application/json or application/x-www-form-urlencoded"
        ));
    };
    if is_form {
        let text = std::str::from_utf8(body).map_err(|_| "form body is not UTF-8".to_string())?;
        serde_json::from_value(serde_json::Value::Object(form_pairs(text))).map_err(|e| format!("form body: {e}"))
    } else {
        serde_json::from_slice(body).map_err(|e| format!("JSON body: {e}"))
    }
}

/// `a=1&b=x+y` → {"a": "1", "b": "x y"}; the last of repeated keys wins.
pub(crate) fn form_pairs(text: &str) -> serde_json::Map<String, serde_json::Value> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), serde_json::Value::String(form_decode(v)))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex_val(*hi).zip(hex_val(*lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// HTML escaping for text and attribute values: the status page's, so both pages escape alike.
pub(crate) use crate::status::escape;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_fault_routes() {
        let name = |p: &str| fault_route(p).map(|i| super::super::faults::ROUTES[i]);
        assert_eq!(name("/api/login"), Some("login"));
        assert_eq!(name("/api/products"), Some("products"));
        assert_eq!(name("/api/products/SKU-1001"), Some("product"));
        assert_eq!(name("/products/SKU-1001"), Some("product-page"));
        assert_eq!(name("/cart/add"), Some("cart"));
        assert_eq!(name("/api/cart/items"), Some("cart"));
        assert_eq!(name("/api/checkout"), Some("checkout"));
        assert_eq!(name("/static/hello"), Some("static"));
        assert_eq!(name("/static/app.js"), Some("static"));
        assert_eq!(name("/store/cart"), Some("store"));
        assert_eq!(name("/redirect/3"), Some("*"));
        assert_eq!(name("/healthz"), None);
        assert_eq!(name("/admin/faults/cart"), None);
    }

    #[test]
    fn form_bodies_decode() {
        let m = form_pairs("email=customer01%40shop.test&password=a+b%2Bc&empty=&bad=%zz%4");
        assert_eq!(m["email"], "customer01@shop.test");
        assert_eq!(m["password"], "a b+c");
        assert_eq!(m["empty"], "");
        assert_eq!(m["bad"], "%zz%4");
    }

    #[test]
    fn cookies_and_bearer_tokens_are_found() {
        let mut h = HeaderMap::new();
        let hex = "00112233445566778899aabbccddeeff";
        h.insert(COOKIE, format!("theme=dark; session={hex}").parse().unwrap());
        assert_eq!(cookie(&h, "theme"), Some("dark"));
        assert!(session_token(&h).is_some());
        h.insert(AUTHORIZATION, "Bearer ffeeddccbbaa99887766554433221100".parse().unwrap());
        assert_eq!(session_token(&h).unwrap()[0], 0xff, "the bearer token wins over the cookie");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
