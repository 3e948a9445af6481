//! The accept loop of the daemon's port, plain or TLS: a cap on open connections and a deadline for each
//! request head, so that clients which connect and never finish cannot hold sockets the journeys need.
//!
//! `axum::serve` has neither (measured before this file: 20 connections that never sent a full request
//! head were still open after 300 s, and with a low fd limit 300 idle connections starved the journeys'
//! sockets and fired a false JourneyDown), so connections are served with hyper's HTTP/1 builder here.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prometheus::{IntCounter, IntGauge, Registry};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Limits of the daemon's port.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Connections open at once (`--max-connections`); more are closed as soon as they are accepted. Far
    /// above what Prometheus, a few people and a config reloader need, far below a default fd limit.
    pub max_connections: usize,
    /// How long a client may take to send a request head. hyper runs the same timer while a kept-alive
    /// connection waits for its next request, so this is also the idle timeout.
    pub header_read_timeout: Duration,
    /// How long a client may take to finish the TLS handshake.
    pub handshake_timeout: Duration,
}

/// On shutdown, how long open connections may take to finish the request they are answering.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Tokio's semaphore cannot hold more permits than this, and shutdown acquires them all as one `u32`.
pub const MAX_CONNECTIONS_LIMIT: usize = 65_535;

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            max_connections: 256,
            // Go's http.Server guidance and Prometheus's exporter-toolkit use seconds, not minutes: a real
            // client sends its head in one packet.
            header_read_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// `journeyd_http_connections` and `journeyd_http_connections_rejected_total`.
#[derive(Clone)]
pub struct ConnectionMetrics {
    /// Open now (TLS handshakes in progress included): compare with `journeyd_http_connections_limit`.
    open: IntGauge,
    /// Closed at accept because `max_connections` were open: non-zero means a client misbehaves or the
    /// limit is too low.
    rejected: IntCounter,
}

impl ConnectionMetrics {
    /// Registers the metrics (and `journeyd_http_connections_limit`) in `registry`.
    pub fn register(registry: &Registry, opts: &ServeOptions) -> ConnectionMetrics {
        let open =
            IntGauge::new("journeyd_http_connections", "Connections open on journeyd's HTTP port.").expect("static");
        let limit = IntGauge::new(
            "journeyd_http_connections_limit",
            "Connections journeyd's HTTP port keeps open at most (--max-connections).",
        )
        .expect("static");
        let rejected = IntCounter::new(
            "journeyd_http_connections_rejected_total",
            "Connections closed at accept because --max-connections were already open.",
        )
        .expect("static");
        limit.set(opts.max_connections as i64);
        // A fresh registry per daemon: a duplicate is a programming error the tests catch.
        let _ = registry.register(Box::new(open.clone()));
        let _ = registry.register(Box::new(limit));
        let _ = registry.register(Box::new(rejected.clone()));
        ConnectionMetrics { open, rejected }
    }
}

/// Where TLS settings come from, asked once per connection so that a reloaded certificate applies to the
/// next handshake. `None` from it: plain HTTP.
pub type TlsSource = Arc<dyn Fn() -> Option<Arc<rustls::ServerConfig>> + Send + Sync>;

/// Serves `app` on `listener` until `stop` is cancelled, then lets open connections finish their request.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsSource>,
    opts: ServeOptions,
    metrics: ConnectionMetrics,
    stop: CancellationToken,
) -> io::Result<()> {
    let max = opts.max_connections.clamp(1, MAX_CONNECTIONS_LIMIT);
    let permits = Arc::new(Semaphore::new(max));
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            connection_rejected(&metrics, peer, max);
            drop(tcp);
            continue;
        };
        let open = Open::new(permit, metrics.open.clone());
        let (app, stop) = (app.clone(), stop.clone());
        let tls = tls.as_ref().and_then(|source| source());
        tokio::spawn(async move {
            match tls {
                None => serve_connection(tcp, app, &opts, stop).await,
                Some(config) => {
                    let acceptor = TlsAcceptor::from(config);
                    match tokio::time::timeout(opts.handshake_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => serve_connection(stream, app, &opts, stop).await,
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(open);
        });
    }
    // Every permit back means every connection has finished. Bounded: hyper has no timeout for a request
    // body, and a client trickling one must not hold the process after its work is done.
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, permits.acquire_many(max as u32)).await;
    if drained.is_err() {
        tracing::debug!("connections still open at shutdown were dropped");
    }
    Ok(())
}

/// A connection over the cap: counted and logged in one place so the two cannot drift.
fn connection_rejected(metrics: &ConnectionMetrics, peer: std::net::SocketAddr, max: usize) {
    metrics.rejected.inc();
    tracing::debug!(%peer, max_connections = max, "connection refused: too many open connections");
}

/// One open connection: its permit and its share of the gauge, both given back when it is dropped.
struct Open {
    _permit: OwnedSemaphorePermit,
    gauge: IntGauge,
}

impl Open {
    fn new(permit: OwnedSemaphorePermit, gauge: IntGauge) -> Open {
        gauge.inc();
        Open { _permit: permit, gauge }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

async fn serve_connection<S>(io: S, app: Router, opts: &ServeOptions, stop: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(opts.header_read_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("connection closed: {e}");
            }
        }
        _ = stop.cancelled() => {
            // An idle connection closes now; one with a request in flight closes after answering it.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
