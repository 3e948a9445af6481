//! The JSON API: login, account, catalogue, cart and checkout.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::routes::{error, parse_body, session_token, AppState};
use super::state::{
    money, parse_cart_id, product_index, token_hex, usd_cents, Cart, CartError, CheckoutError, Token, MAX_QTY, PRODUCTS,
};

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

/// `POST /api/login`, JSON or form: a token in the body and a `session` cookie.
pub(crate) async fn login(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let creds: LoginBody = match parse_body(&headers, &body) {
        Ok(c) => c,
        Err(e) => {
            return error(StatusCode::BAD_REQUEST, format!("malformed login body ({e}); send email and password"))
        }
    };
    let Some((token, owner)) = s.shop.login(&creds.email, &creds.password) else {
        return error(StatusCode::UNAUTHORIZED, "invalid credentials");
    };
    let account = s.shop.account(owner).expect("login returns a known account");
    let hex = token_hex(&token);
    let cookie = format!("session={hex}; Path=/; HttpOnly");
    let body = json!({ "token": hex, "email": account.email, "name": account.name });
    ([(SET_COOKIE, cookie)], Json(body)).into_response()
}

/// The logged-in session and account behind the request (`None`: answer [`unauthorized`]).
fn authed(s: &AppState, headers: &HeaderMap) -> Option<(Token, usize)> {
    let token = session_token(headers)?;
    Some((token, s.shop.account_of(&token)?))
}

fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, "log in first: send Authorization: Bearer <token> or the session cookie")
}

/// `GET /api/account`: who is logged in and their recent orders.
pub(crate) async fn account(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some((_, owner)) = authed(&s, &headers) else {
        return unauthorized();
    };
    let account = s.shop.account(owner).expect("sessions name known accounts");
    let orders: Vec<Value> = s
        .shop
        .orders(owner)
        .iter()
        .map(|o| json!({ "order_id": o.id_text(), "total": money(o.total_cents) }))
        .collect();
    Json(json!({ "email": account.email, "name": account.name, "orders": orders })).into_response()
}

/// `GET /api/products`: the catalogue in euros.
pub(crate) async fn products() -> Response {
    let list: Vec<Value> = PRODUCTS
        .iter()
        .map(|p| json!({ "sku": p.sku, "name": p.name, "price": money(p.price_cents), "currency": "EUR" }))
        .collect();
    Json(json!({ "products": list })).into_response()
}

#[derive(Deserialize)]
pub(crate) struct CurrencyQuery {
    currency: Option<String>,
}

/// `GET /api/products/{sku}?currency=EUR|USD`.
pub(crate) async fn product(Path(sku): Path<String>, Query(q): Query<CurrencyQuery>) -> Response {
    let Some(p) = product_index(&sku).map(|i| &PRODUCTS[i]) else {
        return error(StatusCode::NOT_FOUND, "no such product");
    };
    let (currency, cents) = match q.currency.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("EUR") => ("EUR", p.price_cents),
        Some("USD") => ("USD", usd_cents(p.price_cents)),
        Some(other) => {
            return error(StatusCode::BAD_REQUEST, format!("unsupported currency `{other}`: use EUR or USD"))
        }
    };
    Json(json!({
        "sku": p.sku, "name": p.name, "price": money(cents), "currency": currency, "stock": p.stock,
    }))
    .into_response()
}

pub(crate) fn cart_json(cart: &Cart) -> Value {
    let items: Vec<Value> = cart
        .items
        .iter()
        .map(|&(p, qty)| json!({ "sku": PRODUCTS[p].sku, "qty": qty, "price": money(PRODUCTS[p].price_cents) }))
        .collect();
    json!({ "cart_id": cart.id_text(), "items": items, "total": money(cart.total_cents()) })
}

/// `GET /api/cart`: the session's open cart (opened empty if there is none).
pub(crate) async fn cart(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some((token, _)) = authed(&s, &headers) else {
        return unauthorized();
    };
    match s.shop.cart(&token) {
        Some(cart) => Json(cart_json(&cart)).into_response(),
        None => error(StatusCode::UNAUTHORIZED, "session expired; log in again"),
    }
}

#[derive(Deserialize)]
struct AddItem {
    sku: String,
    /// Signed so that `0` and negatives reach our 400 instead of a deserialisation error.
    #[serde(default = "one")]
    qty: i64,
}

fn one() -> i64 {
    1
}

/// `POST /api/cart/items` `{sku, qty}`: adds to the session's open cart.
pub(crate) async fn add_item(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some((token, _)) = authed(&s, &headers) else {
        return unauthorized();
    };
    let item: AddItem = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("malformed body ({e}); send {{\"sku\": \"SKU-1001\", \"qty\": 1}}"),
            )
        }
    };
    let Some(product) = product_index(&item.sku) else {
        return error(StatusCode::NOT_FOUND, "no such product");
    };
    let qty = match u32::try_from(item.qty) {
        Ok(q) if (1..=MAX_QTY).contains(&q) => q,
        _ => return error(StatusCode::BAD_REQUEST, format!("qty must be between 1 and {MAX_QTY}")),
    };
    match s.shop.add_to_cart(&token, product, qty) {
        Ok(cart) => Json(cart_json(&cart)).into_response(),
        Err(CartError::TooMany) => {
            error(StatusCode::CONFLICT, format!("a cart holds at most {MAX_QTY} of one product"))
        }
        Err(CartError::NoSession) => error(StatusCode::UNAUTHORIZED, "session expired; log in again"),
    }
}

#[derive(Deserialize)]
struct CheckoutBody {
    cart_id: String,
}

/// `POST /api/checkout` `{cart_id}`: closes the cart, answers 201 with the order.
pub(crate) async fn checkout(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some((token, _)) = authed(&s, &headers) else {
        return unauthorized();
    };
    let req: CheckoutBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(StatusCode::BAD_REQUEST, format!("malformed body ({e}); send {{\"cart_id\": \"cart-1\"}}"))
        }
    };
    let no_cart = || error(StatusCode::NOT_FOUND, "no such open cart for this session");
    let Some(cart_id) = parse_cart_id(&req.cart_id) else {
        return no_cart();
    };
    match s.shop.checkout(&token, cart_id) {
        Ok(order) => {
            (StatusCode::CREATED, Json(json!({ "order_id": order.id_text(), "total": money(order.total_cents) })))
                .into_response()
        }
        Err(CheckoutError::NoSuchCart) => no_cart(),
        Err(CheckoutError::Empty) => error(StatusCode::CONFLICT, "cart is empty; add an item first"),
        Err(CheckoutError::NoSession | CheckoutError::Guest) => {
            error(StatusCode::UNAUTHORIZED, "session expired; log in again")
        }
    }
}
