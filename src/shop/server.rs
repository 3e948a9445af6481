//! The serve loop: accepts connections, serves each with hyper's HTTP/1 connection builder, and applies
//! faults in front of the router.
//!
//! Connections are served by hand (not `axum::serve`) because the `reset` fault needs the socket: each
//! connection task races hyper against a per-connection kill token that a faulted request cancels; the
//! task then takes the `TcpStream` back from hyper, sets `SO_LINGER` 0 and drops it, which sends a RST
//! before any response byte.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use super::faults::Fault;
use super::routes::{error, fault_route};
use super::table::FaultHandle;

/// How long in-flight requests may run on after shutdown before their connections are dropped.
const GRACE: Duration = Duration::from_secs(2);
/// How long a connection may wait for (the rest of) a request head, idle keep-alive time included.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub(crate) struct App {
    pub router: Router,
    /// Read per request to decide whether to misbehave.
    pub faults: FaultHandle,
    /// Ends hung requests, starts draining connections.
    pub shutdown: CancellationToken,
    /// Shared connection settings (the timer drives hyper's header-read timeout).
    pub http: http1::Builder,
}

impl App {
    pub(crate) fn new(router: Router, faults: FaultHandle, shutdown: CancellationToken) -> App {
        let mut http = http1::Builder::new();
        // hyper's header-read timeout also closes idle keep-alive connections; keep it above common
        // client pool idle timeouts (reqwest: 90 s) so the client, not the shop, closes idle
        // connections and a monitor polling every 30 s never races a server-side close.
        http.timer(TokioTimer::new()).header_read_timeout(IDLE_TIMEOUT).keep_alive(true).pipeline_flush(true);
        App { router, faults, shutdown, http }
    }
}

/// Serves until `app.shutdown` is cancelled, then lets open connections drain for up to [`GRACE`].
pub(crate) async fn run(listener: TcpListener, app: Arc<App>) -> std::io::Result<()> {
    // Each connection task holds a sender; `recv` returns `None` once the last one has finished.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = app.shutdown.cancelled() => break,
            res = listener.accept() => res,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, app.clone(), done_tx.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "shop: accept failed; retrying");
                tokio::select! {
                    _ = app.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    drop(done_tx);
    let _ = done_rx.recv().await;
    Ok(())
}

async fn serve_connection(stream: TcpStream, app: Arc<App>, _done: mpsc::Sender<()>) {
    let _ = stream.set_nodelay(true);
    let kill = CancellationToken::new();
    let svc = {
        let (app, kill) = (app.clone(), kill.clone());
        service_fn(move |req| handle(app.clone(), req, kill.clone()))
    };
    let mut conn = app.http.serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        res = &mut conn => return log_end(res),
        _ = kill.cancelled() => return abort(conn),
        _ = app.shutdown.cancelled() => {}
    }
    std::pin::Pin::new(&mut conn).graceful_shutdown();
    tokio::select! {
        res = &mut conn => log_end(res),
        _ = kill.cancelled() => abort(conn),
        _ = tokio::time::sleep(GRACE) => {}
    }
}

fn log_end(res: hyper::Result<()>) {
    if let Err(e) = res {
        tracing::debug!(error = %e, "shop: connection ended with an error");
    }
}

/// Takes the socket back from hyper and drops it with `SO_LINGER` 0: the peer gets a RST.
fn abort<S>(conn: http1::Connection<TokioIo<TcpStream>, S>)
where
    S: hyper::service::HttpService<Incoming, ResBody = axum::body::Body, Error = Infallible>,
{
    let stream = conn.into_parts().io.into_inner();
    if let Err(e) = stream.set_zero_linger() {
        tracing::warn!(error = %e, "shop: could not set SO_LINGER 0; the connection closes without a reset");
    }
}

/// One request: faults first (when any are set for its route), then the router.
async fn handle(app: Arc<App>, req: Request<Incoming>, kill: CancellationToken) -> Result<Response, Infallible> {
    let fault = fault_route(req.uri().path()).and_then(|r| app.faults.effective(r));
    match fault {
        None => app.router.clone().call(req).await,
        Some(fault) => Ok(faulted(&app, req, kill, fault).await),
    }
}

async fn faulted(app: &App, req: Request<Incoming>, kill: CancellationToken, fault: Fault) -> Response {
    if let Some(d) = fault.latency {
        tokio::time::sleep(d).await;
    }
    if fault.hang {
        let _counted = app.faults.hang_guard();
        app.shutdown.cancelled().await;
        return injected(error(StatusCode::SERVICE_UNAVAILABLE, "shop is shutting down"), "hang");
    }
    if fault.reset {
        kill.cancel();
        // The connection task drops this future along with the connection.
        std::future::pending::<()>().await;
    }
    let failed = fault.error_rate.is_some_and(|rate| rand::random::<f64>() < rate);
    let resp = if failed {
        injected(error(StatusCode::INTERNAL_SERVER_ERROR, "injected fault: error-rate"), "error-rate")
    } else if let Some(code) = fault.status {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        injected(error(status, format!("injected fault: status {code}")), "status")
    } else {
        // Handlers that change what they serve under a fault (the storefront bundle's `ui:`) read it here.
        let mut req = req;
        req.extensions_mut().insert(fault);
        let Ok(resp) = app.router.clone().call(req).await;
        resp
    };
    if let Some(stall) = fault.stall {
        let hold = stall.hold_for(Instant::now().saturating_duration_since(app.faults.start()));
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
    }
    resp
}

/// Marks an answer the shop made up, so a person reading a trace can tell it from a real one.
fn injected(mut resp: Response, kind: &'static str) -> Response {
    resp.headers_mut().insert("x-shop-fault", HeaderValue::from_static(kind));
    resp
}
