//! The HTML side: product pages with a CSRF-protected add-to-cart form, the cart page, and the plain
//! helpers (static hello, redirect chains, health).

use std::fmt::Write;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::routes::{cookie, escape, form_pairs, AppState};
use super::state::{parse_token, product_index, token_hex, Cart, CartError, MAX_QTY, PRODUCTS};

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{} · Demo Shop</title></head>\n\
         <body>\n{body}\n</body>\n</html>\n",
        escape(title)
    );
    (
        status,
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response()
}

fn euros(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `GET /products/{sku}`: the product with its price and an add-to-cart form.
pub(crate) async fn product_page(State(s): State<AppState>, Path(sku): Path<String>) -> Response {
    let Some(p) = product_index(&sku).map(|i| &PRODUCTS[i]) else {
        let body = format!("<h1>Not found</h1>\n<p>No product <code>{}</code>.</p>", escape(&sku));
        return page(StatusCode::NOT_FOUND, "Not found", &body);
    };
    let price = euros(p.price_cents);
    let body = format!(
        "<h1>{name}</h1>\n<p class=\"sku\">{sku}</p>\n\
         <p>Price: <span class=\"price\" data-price=\"{price}\">€{price}</span></p>\n\
         <p class=\"stock\">{stock} in stock</p>\n\
         <form method=\"post\" action=\"/cart/add\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <input type=\"hidden\" name=\"sku\" value=\"{sku}\">\n\
         <label>Quantity <input type=\"number\" name=\"qty\" value=\"1\" min=\"1\" max=\"{MAX_QTY}\"></label>\n\
         <button type=\"submit\">Add to cart</button>\n</form>\n<p><a href=\"/cart\">View cart</a></p>",
        name = escape(p.name),
        sku = p.sku,
        stock = p.stock,
        csrf = s.shop.csrf_token(),
    );
    page(StatusCode::OK, p.name, &body)
}

/// `POST /cart/add` (form: sku, qty, csrf): adds to the session's cart (a guest session is made for
/// visitors without one) and answers 303 See Other to `/cart`.
pub(crate) async fn cart_add(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form_pairs(&String::from_utf8_lossy(&body));
    let field = |k: &str| form.get(k).and_then(|v| v.as_str()).unwrap_or("");
    if !s.shop.csrf_valid(field("csrf")) {
        let msg = "<h1>Forbidden</h1>\n<p>The form's CSRF token is missing or invalid; reload the product page.</p>";
        return page(StatusCode::FORBIDDEN, "Forbidden", msg);
    }
    let Some(product) = product_index(field("sku")) else {
        let msg = format!("<h1>Not found</h1>\n<p>No product <code>{}</code>.</p>", escape(field("sku")));
        return page(StatusCode::NOT_FOUND, "Not found", &msg);
    };
    let qty_text = match field("qty") {
        "" => "1",
        q => q,
    };
    let Some(qty) = qty_text.trim().parse::<u32>().ok().filter(|q| (1..=MAX_QTY).contains(q)) else {
        let msg = format!("<h1>Bad request</h1>\n<p>Quantity must be between 1 and {MAX_QTY}.</p>");
        return page(StatusCode::BAD_REQUEST, "Bad request", &msg);
    };
    let existing = cookie(&headers, "session").and_then(parse_token).filter(|t| s.shop.is_session(t));
    let (token, new_cookie) = match existing {
        Some(t) => (t, false),
        None => (s.shop.new_guest(), true),
    };
    let added = match s.shop.add_to_cart(&token, product, qty) {
        // The session was evicted between the check and the add: carry on as a fresh guest.
        Err(CartError::NoSession) => {
            let guest = s.shop.new_guest();
            s.shop.add_to_cart(&guest, product, qty).map(|_| (guest, true))
        }
        other => other.map(|_| (token, new_cookie)),
    };
    match added {
        Ok((token, set_cookie)) => {
            let mut resp = (StatusCode::SEE_OTHER, [(LOCATION, HeaderValue::from_static("/cart"))]).into_response();
            if set_cookie {
                let c = format!("session={}; Path=/; HttpOnly", token_hex(&token));
                resp.headers_mut().insert(SET_COOKIE, HeaderValue::from_str(&c).expect("hex is a valid header"));
            }
            resp
        }
        Err(_) => {
            let msg = format!("<h1>Conflict</h1>\n<p>A cart holds at most {MAX_QTY} of one product.</p>");
            page(StatusCode::CONFLICT, "Conflict", &msg)
        }
    }
}

/// `GET /cart`: the session's cart as a table.
pub(crate) async fn cart_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let cart = cookie(&headers, "session").and_then(parse_token).and_then(|t| s.shop.peek_cart(&t));
    let body = match cart.filter(|c| !c.items.is_empty()) {
        None => "<h1>Your cart</h1>\n<p class=\"empty\">Your cart is empty.</p>".to_string(),
        Some(cart) => cart_table(&cart),
    };
    page(StatusCode::OK, "Your cart", &body)
}

fn cart_table(cart: &Cart) -> String {
    let mut out = format!(
        "<h1>Your cart</h1>\n<table class=\"cart\" data-cart-id=\"{}\">\n<tr><th>Product</th><th>Qty</th><th>Price</th></tr>\n",
        cart.id_text()
    );
    for &(p, qty) in &cart.items {
        let p = &PRODUCTS[p];
        let _ = writeln!(
            out,
            "<tr class=\"item\" data-sku=\"{}\"><td>{}</td><td class=\"qty\">{qty}</td><td>€{}</td></tr>",
            p.sku,
            escape(p.name),
            euros(p.price_cents * u64::from(qty))
        );
    }
    let total = euros(cart.total_cents());
    let _ = write!(out, "</table>\n<p>Total: <span class=\"total\" data-total=\"{total}\">€{total}</span></p>");
    out
}

/// `GET /static/hello`: a fixed 13-byte body and no state touched (the benchmark's target).
pub(crate) async fn hello() -> Response {
    ([(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], "hello, world\n").into_response()
}

/// `GET /redirect/{n}`: n chained 302s, then a 200.
pub(crate) async fn redirect_chain(Path(n): Path<String>) -> Response {
    match n.parse::<u32>() {
        Ok(0) => "redirects done\n".into_response(),
        Ok(n) if n <= 1_000 => redirect(&format!("/redirect/{}", n - 1)),
        _ => (StatusCode::BAD_REQUEST, "n must be a number 0..=1000\n").into_response(),
    }
}

/// `GET /redirect-loop`: a 302 to itself, forever.
pub(crate) async fn redirect_loop() -> Response {
    redirect("/redirect-loop")
}

fn redirect(to: &str) -> Response {
    let loc = HeaderValue::from_str(to).expect("redirect targets are ASCII paths");
    (StatusCode::FOUND, [(LOCATION, loc)]).into_response()
}

/// `GET /healthz`: never faulted.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}
