//! The storefront: HTML pages under `/store/` and their one JavaScript bundle, `/static/app.js`.
//!
//! The pages are shells; the bundle fills them from the JSON API (price, cart rows, the checkout button,
//! the order id), logs in and checks out, so what a customer sees depends on the bundle working. That is
//! the point: the `ui:` faults break only the bundle, every API stays green, and only a browser journey
//! notices. Pages and bundle are embedded in the binary.

use std::fmt::Write;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::faults::{Fault, UiFault};
use super::routes::escape;
use super::state::{product_index, PRODUCTS};

const APP_JS: &str = include_str!("store/app.js");
const LOGIN: &str = include_str!("store/login.html");
const PRODUCT: &str = include_str!("store/product.html");
const CART: &str = include_str!("store/cart.html");
const ACCOUNT: &str = include_str!("store/account.html");

/// Where the bundle reads the active `ui:` fault; replaced when the bundle is served.
const FAULT_MARKER: &str = "__UI_FAULT__";

/// What a bundle that "throws on load" throws, so tests and people can find it in the evidence.
pub const JS_ERROR_MESSAGE: &str = "injected fault: the storefront bundle throws on load";

/// A storefront page: `page` selects what the bundle does on it (`data-page`), `body` is trusted HTML.
fn page(status: StatusCode, title: &str, page: &str, data: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · Demo Shop</title>\n<script src=\"/static/app.js\" defer></script></head>\n\
         <body data-page=\"{page}\"{data}>\n<nav><a href=\"/store/\">Shop</a> · <a href=\"/store/cart\">Cart</a> · \
         <a href=\"/store/account\">Account</a> · <a href=\"/store/login\">Log in</a></nav>\n<main>\n{body}</main>\n\
         </body>\n</html>\n",
        escape(title)
    );
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (status, headers, html).into_response()
}

/// `GET /store/`: the catalogue, rendered by the server (it works without the bundle).
pub(crate) async fn index() -> Response {
    let mut body = String::from("<h1>Demo Shop</h1>\n<ul class=\"products\">\n");
    for p in PRODUCTS {
        let _ = writeln!(
            body,
            "<li class=\"product\"><a href=\"/store/products/{sku}\">{name}</a></li>",
            sku = p.sku,
            name = escape(p.name)
        );
    }
    body.push_str("</ul>\n");
    page(StatusCode::OK, "Demo Shop", "index", "", &body)
}

/// `GET /store/login`: `#email`, `#password`, `#login`; the bundle logs in and goes on.
pub(crate) async fn login() -> Response {
    page(StatusCode::OK, "Log in", "login", "", LOGIN)
}

/// `GET /store/products/{sku}`: `#price` (filled by the bundle), `#add-to-cart`, `#go-to-cart`.
pub(crate) async fn product(Path(sku): Path<String>) -> Response {
    if product_index(&sku).is_none() {
        let body = format!("<h1>Not found</h1>\n<p>No product <code>{}</code>.</p>\n", escape(&sku));
        return page(StatusCode::NOT_FOUND, "Not found", "missing", "", &body);
    }
    let data = format!(" data-sku=\"{sku}\"");
    page(StatusCode::OK, &sku, "product", &data, &PRODUCT.replace("{{sku}}", &sku))
}

/// `GET /store/cart`: `.cart-item` rows and `#checkout` (both made by the bundle); `#order-id` after.
pub(crate) async fn cart() -> Response {
    page(StatusCode::OK, "Your cart", "cart", "", CART)
}

/// `GET /store/account`: the logged-in customer's name, email and orders.
pub(crate) async fn account() -> Response {
    page(StatusCode::OK, "Your account", "account", "", ACCOUNT)
}

/// `GET /static/app.js`: the bundle, changed by the `static` route's `ui:` fault.
pub(crate) async fn bundle(fault: Option<Extension<Fault>>) -> Response {
    let ui = fault.and_then(|Extension(f)| f.ui);
    let js = match ui {
        Some(UiFault::JsError) => format!("throw new Error({JS_ERROR_MESSAGE:?});\n{APP_JS}"),
        Some(other) => APP_JS.replacen(FAULT_MARKER, other.name(), 1),
        None => APP_JS.replacen(FAULT_MARKER, "", 1),
    };
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (headers, js).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_carries_the_marker_once() {
        assert_eq!(APP_JS.matches(FAULT_MARKER).count(), 1);
    }
}
