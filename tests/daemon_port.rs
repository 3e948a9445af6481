//! The daemon's own port under attack (issue 17): write endpoints off without their flags, a request head
//! that never finishes, idle kept-alive connections, and more connections than the cap. The listener is
//! served in-process on 127.0.0.1:0 with short, injected limits; the write routes through the daemon's
//! library entry with each access setting; the flags themselves and SIGHUP on the real binary.

mod daemon_support;

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use daemon_support::{
    counting_journey, counting_target, eventually, options, tempdir, write_atomic, Daemon, InProcess, PATIENCE,
};
use journeyd::daemon::Options;
use journeyd::server::listen::{self, ConnectionMetrics, ServeOptions};
use journeyd::server::WriteAccess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

struct Port {
    addr: std::net::SocketAddr,
    registry: prometheus::Registry,
    _stop: tokio_util::sync::DropGuard,
}

impl Port {
    /// The value of a metric without labels, read from the exposition the daemon would serve.
    fn metric(&self, name: &str) -> f64 {
        let text = prometheus::TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap();
        daemon_support::metric(&text, name).unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    }
}

async fn serve(opts: ServeOptions) -> Port {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = prometheus::Registry::new();
    let metrics = ConnectionMetrics::register(&registry, &opts);
    let app = Router::new().route("/", get(|| async { "ok" }));
    let stop = CancellationToken::new();
    tokio::spawn(listen::serve(listener, app, None, opts, metrics, stop.clone()));
    Port { addr, registry, _stop: stop.drop_guard() }
}

/// Reads until the server closes the connection (EOF or reset); what it sent before does not matter.
async fn closed_by_server(conn: &mut TcpStream) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(PATIENCE, conn.read_to_end(&mut sink)).await.is_ok()
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_request_head_is_closed() {
    let port = serve(ServeOptions { header_read_timeout: Duration::from_millis(200), ..ServeOptions::default() }).await;
    let mut slow = TcpStream::connect(port.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: journeyd\r\n").await.unwrap();
    assert!(closed_by_server(&mut slow).await, "a half-sent head must not hold the connection");

    let mut silent = TcpStream::connect(port.addr).await.unwrap();
    assert!(closed_by_server(&mut silent).await, "a connection that sends nothing is closed too");
    eventually("both connections are counted closed", || async {
        (port.metric("journeyd_http_connections") == 0.0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_its_answer() {
    let port = serve(ServeOptions { header_read_timeout: Duration::from_millis(200), ..ServeOptions::default() }).await;
    let mut conn = TcpStream::connect(port.addr).await.unwrap();
    // Keep-alive (no `Connection: close`): only the idle timeout can end this connection.
    conn.write_all(b"GET / HTTP/1.1\r\nHost: journeyd\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, conn.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server closes the idle connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "the request was answered first: {answer}");
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once_and_counted() {
    let port = serve(ServeOptions { max_connections: 2, ..ServeOptions::default() }).await;
    let first = TcpStream::connect(port.addr).await.unwrap();
    let _second = TcpStream::connect(port.addr).await.unwrap();
    eventually("two connections are open", || async {
        (port.metric("journeyd_http_connections") == 2.0).then_some(())
    })
    .await;
    let mut third = TcpStream::connect(port.addr).await.unwrap();
    assert!(closed_by_server(&mut third).await, "the third connection is closed");
    assert_eq!(port.metric("journeyd_http_connections_rejected_total"), 1.0);
    assert_eq!(port.metric("journeyd_http_connections_limit"), 2.0);

    // A slot freed is a slot to use.
    drop(first);
    eventually("the closed connection gives its slot back", || async {
        (port.metric("journeyd_http_connections") == 1.0).then_some(())
    })
    .await;
    let mut fourth = TcpStream::connect(port.addr).await.unwrap();
    fourth.write_all(b"GET / HTTP/1.1\r\nHost: journeyd\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut text = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, fourth.read_to_end(&mut text)).await;
    assert!(String::from_utf8_lossy(&text).starts_with("HTTP/1.1 200"));
    assert_eq!(port.metric("journeyd_http_connections_rejected_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_endpoints_answer_403_unless_enabled_and_never_to_a_cross_site_form() {
    let (_counter, target) = counting_target().await;
    let dir = tempdir("daemon-port-access");
    write_atomic(&dir.join("a.yml"), &counting_journey("a", "1h", "access"));
    let http = reqwest::Client::new();
    let window = serde_json::json!({ "journey": "*", "duration": "1h", "reason": "outsider" });

    let d = InProcess::start(options(&dir, &target)).await;
    let r = http.post(d.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Lifecycle API is not enabled: start journeyd with --enable-lifecycle"));
    let r = http.put(d.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 403, "PUT too");
    let r = http.post(d.url("/api/v1/maintenance")).json(&window).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("--enable-admin-api"));
    for read in ["/api/v1/maintenance", "/api/v1/alerts", "/api/v1/journeys", "/metrics", "/-/ready"] {
        assert_eq!(http.get(d.url(read)).send().await.unwrap().status(), 200, "{read} stays on");
    }
    d.reloader.reload().await.expect("the reload SIGHUP asks for needs no flag");
    drop(d);

    let access = WriteAccess { lifecycle: true, admin: true };
    let d = InProcess::start(Options { access, ..options(&dir, &target) }).await;
    assert_eq!(http.post(d.url("/-/reload")).send().await.unwrap().status(), 200);
    assert_eq!(http.post(d.url("/api/v1/maintenance")).json(&window).send().await.unwrap().status(), 201);
    let form = http
        .post(d.url("/-/reload"))
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 403, "a cross-site form cannot reload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_writes_only_with_their_flags_and_sighup_reloads_without_them() {
    let (_counter, target) = counting_target().await;
    let dir = tempdir("daemon-port-flags");
    write_atomic(&dir.join("a.yml"), &counting_journey("a", "1h", "flags"));
    let http = reqwest::Client::new();
    let window = serde_json::json!({ "journey": "*", "duration": "1h", "reason": "outsider" });

    let d = Daemon::start("daemon-port-off", &[dir.to_str().unwrap()], &[("TARGET", &target)]);
    assert_eq!(http.post(d.url("/-/reload")).send().await.unwrap().status(), 403);
    assert_eq!(http.post(d.url("/api/v1/maintenance")).json(&window).send().await.unwrap().status(), 403);
    d.signal("HUP");
    eventually("SIGHUP reloads without the flag", || async {
        (!d.log_events("configuration reloaded").is_empty()).then_some(())
    })
    .await;
    drop(d);

    let on = ["--enable-lifecycle", "--enable-admin-api", dir.to_str().unwrap()];
    let d = Daemon::start("daemon-port-on", &on, &[("TARGET", &target)]);
    assert_eq!(http.post(d.url("/-/reload")).send().await.unwrap().status(), 200);
    assert_eq!(http.post(d.url("/api/v1/maintenance")).json(&window).send().await.unwrap().status(), 201);
}
