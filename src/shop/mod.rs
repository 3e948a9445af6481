//! The embedded demo shop: a small in-memory e-commerce site with fault injection, used as the target
//! of the bundled journeys, the tests and the benchmark harness. It never imports the monitor.
//!
//! # Routes
//!
//! | Method | Path | Fault route | Answer |
//! |---|---|---|---|
//! | POST | `/api/login` (JSON or form: `email`, `password`) | `login` | 200 `{token, email, name}` + `Set-Cookie: session=…`; 401 bad credentials; 400 malformed |
//! | GET | `/api/account` (Bearer token or `session` cookie) | `account` | 200 `{email, name, orders: [{order_id, total}]}`; 401 |
//! | GET | `/api/products` | `products` | `{products: [{sku, name, price, currency}]}` |
//! | GET | `/api/products/{sku}?currency=EUR\|USD` | `product` | `{sku, name, price, currency, stock}`; 404 |
//! | GET | `/products/{sku}` | `product-page` | HTML with `data-price`, a CSRF token and an "Add to cart" form |
//! | POST | `/cart/add` (form: `sku`, `qty`, `csrf`) | `cart` | 303 to `/cart` (a guest session cookie if none) |
//! | GET | `/cart` | `cart` | HTML cart of the `session` cookie |
//! | POST | `/api/cart/items` `{sku, qty}` (auth) | `cart` | 200 `{cart_id, items: [{sku, qty, price}], total}`; 404 sku; 400 qty |
//! | GET | `/api/cart` (auth) | `cart` | the open cart |
//! | POST | `/api/checkout` `{cart_id}` (auth) | `checkout` | 201 `{order_id, total}`; 404 wrong cart; 409 empty |
//! | GET | `/static/hello` | `static` | `hello, world\n`, no state touched |
//! | GET | `/static/app.js` | `static` | the storefront bundle (changed by a `ui:` fault) |
//! | GET | `/store/`, `/store/login`, `/store/products/{sku}`, `/store/cart`, `/store/account` | `store` | storefront pages the bundle fills: `#email` `#password` `#login`; `#price` `#add-to-cart` `#go-to-cart`; `.cart-item` `#checkout` `#order-id`; `#account-name` `#account-email` `.order` |
//! | GET | `/redirect/{n}`, `/redirect-loop` | `*` only | n chained 302s then 200; a 302 to itself |
//! | GET | `/healthz` | never | `ok` |
//!
//! Accounts are `customer01@shop.test` … `customer32@shop.test` ("Test Customer 01" …), all with the
//! shop's password ([`DEMO_PASSWORD`] unless changed). State lives in memory and is bounded: the newest
//! 1024 sessions per account, 4096 guest sessions, 50 orders per account.
//!
//! # Faults
//!
//! `--fault ROUTE=SPEC[,SPEC…]` (see [`parse_fault`]) or the admin API set what a route does wrong.
//! ROUTE is one of [`ROUTES`]; `*` applies to every route, and a route's own fault overrides `*` field by
//! field. SPEC is `status:CODE`, `latency:DURATION` (added before handling), `error-rate:FRACTION` (that
//! share answers 500), `hang` (never answers until shutdown), `reset` (TCP RST before any response byte)
//! or `stall:WINDOW/PERIOD` (responses ready during the first WINDOW of each PERIOD since the shop
//! started are held until the window ends). Injected answers carry an `x-shop-fault` header.
//!
//! `ui:KIND` breaks the storefront bundle while every HTTP answer stays 200, so only a browser sees it
//! (set it on `static`, the bundle's route): `ui:js-error` (the bundle throws [`JS_ERROR_MESSAGE`] on
//! load), `ui:no-checkout` (the cart renders no `#checkout` button), `ui:empty-price` (`#price` stays
//! empty). `static=status:404` makes the bundle itself answer 404.
//!
//! # Admin API (never faulted)
//!
//! - `GET /admin/faults` → `{"faults": {"checkout": {"status": 503}, …}, "hanging": 0}` (`hanging`: requests
//!   held by `hang` right now)
//! - `GET /admin/faults/{route}` → that route's fault (`{}` when none)
//! - `PUT /admin/faults/{route}` with JSON fields to merge into the route's fault: `{"status": 503}`,
//!   `{"latency": "300ms"}`, `{"error_rate": 0.5}`, `{"hang": true}`, `{"reset": true}`,
//!   `{"stall": "1s/5s"}`, `{"ui": "js-error"}`; `null` or `false` clears a field → 200 with the resulting fault; 400 on bad values
//! - `DELETE /admin/faults/{route}` and `DELETE /admin/faults` clear → 200 with the remaining faults
//! - an unknown route name → 404 `{"error": …, "valid_routes": [...]}`
//!
//! ```sh
//! curl -X PUT localhost:8080/admin/faults/checkout -d '{"status": 503}'
//! curl -X DELETE localhost:8080/admin/faults
//! ```

mod admin;
mod api;
mod faults;
mod html;
mod routes;
mod server;
mod spec;
mod state;
mod store;
mod table;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use faults::{Fault, Stall, UiFault, UnknownRoute, ROUTES};
pub use spec::{parse_fault, FaultSpec};
pub use store::JS_ERROR_MESSAGE;
pub use table::FaultHandle;

/// The password every demo account accepts unless `--password` says otherwise.
pub const DEMO_PASSWORD: &str = "demo-password";

#[derive(Debug, Clone)]
pub struct ShopOptions {
    pub password: String,
    /// Faults active from the start (`--fault ROUTE=SPEC`); several for one route merge.
    pub faults: Vec<FaultSpec>,
}

impl Default for ShopOptions {
    fn default() -> Self {
        ShopOptions { password: DEMO_PASSWORD.to_string(), faults: Vec::new() }
    }
}

/// A shop serving in the background.
pub struct RunningShop {
    pub addr: SocketAddr,
    /// Cancel to stop the shop (or call [`RunningShop::stop`]).
    pub shutdown: CancellationToken,
    /// The live fault table: tests set and clear faults here without going through HTTP.
    pub faults: FaultHandle,
    /// The serve loop, awaited by `stop` so callers know the port is released.
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningShop {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish (briefly), and waits for the serve loop.
    pub async fn stop(self) -> std::io::Result<()> {
        self.shutdown.cancel();
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Binds `127.0.0.1:0`, serves in a background task, returns where.
pub async fn spawn(opts: ShopOptions) -> std::io::Result<RunningShop> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let faults = initial_faults(&opts.faults)?;
    let shutdown = CancellationToken::new();
    let app = app(opts.password, faults.clone(), shutdown.clone());
    let task = tokio::spawn(server::run(listener, app));
    Ok(RunningShop { addr, shutdown, faults, task })
}

/// Serves on `listener` until `shutdown` is cancelled; then stops accepting and gives in-flight
/// requests a short grace period (hung requests end at once).
pub async fn serve(listener: TcpListener, opts: ShopOptions, shutdown: CancellationToken) -> std::io::Result<()> {
    let faults = initial_faults(&opts.faults)?;
    server::run(listener, app(opts.password, faults, shutdown)).await
}

fn app(password: String, faults: FaultHandle, shutdown: CancellationToken) -> Arc<server::App> {
    let shop = Arc::new(state::Shop::new(password));
    let router = routes::router(shop, faults.clone());
    Arc::new(server::App::new(router, faults, shutdown))
}

fn initial_faults(specs: &[FaultSpec]) -> std::io::Result<FaultHandle> {
    let faults = FaultHandle::new();
    for spec in specs {
        spec.fault.validate().map_err(|e| invalid(format!("fault for `{}`: {e}", spec.route)))?;
        faults.apply_spec(spec).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(faults)
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)
}
