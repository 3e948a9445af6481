//! Hostile in-process servers for the fault matrix: raw `TcpListener`s on 127.0.0.1:0 that misbehave on
//! purpose (hang, drip, flood, reset, lie about framing, speak something that is not HTTP).
//!
//! Each server reads the request head first (so the client has really sent its request), then runs its
//! behaviour on the connection. `accepted` counts connections, so a test can wait for "the request arrived"
//! instead of sleeping.
//!
//! Every server runs over plain TCP or over TLS ([`spawn_on`]): in TLS mode it shakes hands with a leaf
//! for `localhost` and `127.0.0.1` signed by a private CA made once per test binary ([`ca_file`], for
//! `defaults: { tls_ca: … }`), then runs the same behaviour on the TLS stream. Behaviours take a [`Sock`],
//! which is either, so each misbehaviour has one implementation. A reset over TLS is a TCP reset with no
//! close_notify, as when a process or a middlebox kills the connection. [`spawn_not_tls`] serves an `https`
//! URL without speaking TLS at all: the behaviour starts at accept, the ClientHello unread.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::common::tls::Ca;

/// How a hostile server speaks to its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// `http://127.0.0.1:PORT`.
    Plain,
    /// `https://localhost:PORT`: a TLS handshake with the test CA's leaf, then the behaviour.
    Tls,
    /// `https://localhost:PORT`, but no TLS: the behaviour runs on the raw socket from accept on.
    NotTls,
}

/// A running hostile server.
pub struct Hostile {
    pub addr: SocketAddr,
    /// Connections accepted so far (readiness signal for tests).
    pub accepted: Arc<AtomicUsize>,
    transport: Transport,
}

impl Hostile {
    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` for a TLS (or not-TLS) server.
    pub fn url(&self) -> String {
        match self.transport {
            Transport::Plain => format!("http://{}", self.addr),
            Transport::Tls | Transport::NotTls => format!("https://localhost:{}", self.addr.port()),
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// A journey's `defaults:` line with `extra` (say `max_body: 1MiB`), trusting the test CA for an
    /// `https` server; empty when there is nothing to put in it.
    pub fn defaults(&self, extra: &str) -> String {
        let mut fields = Vec::new();
        if self.transport != Transport::Plain {
            fields.push(format!("tls_ca: \"{}\"", ca_file().display()));
        }
        if !extra.is_empty() {
            fields.push(extra.to_string());
        }
        if fields.is_empty() {
            return String::new();
        }
        format!("defaults: {{ {} }}\n", fields.join(", "))
    }
}

/// The PEM file of the CA that signs every TLS hostile server's leaf (one per test binary).
pub fn ca_file() -> &'static Path {
    &trust().1
}

/// The acceptor (a leaf for `localhost` and `127.0.0.1`) and the CA's file, made on first use.
fn trust() -> &'static (TlsAcceptor, PathBuf) {
    static TRUST: OnceLock<(TlsAcceptor, PathBuf)> = OnceLock::new();
    TRUST.get_or_init(|| {
        let ca = Ca::new("journeyd hostile test CA");
        let leaf = ca.leaf_for(&["localhost", "127.0.0.1"], 2036, 1);
        (leaf.acceptor(), ca.file("hostile"))
    })
}

/// A hostile server's side of one connection: plain TCP or TLS over TCP.
pub enum Sock {
    Plain(TcpStream),
    // Boxed: the TLS state is large and the enum is moved into every behaviour.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Sock {
    fn tcp(&self) -> &TcpStream {
        match self {
            Sock::Plain(s) => s,
            Sock::Tls(s) => s.get_ref().0,
        }
    }

    /// Closes with FIN; over TLS without close_notify first (the TCP half is shut down directly).
    pub async fn close_without_notify(mut self) {
        let _ = match &mut self {
            Sock::Plain(s) => s.shutdown().await,
            Sock::Tls(s) => s.get_mut().0.shutdown().await,
        };
    }

    /// Closes with a TCP reset (SO_LINGER 0, then close): RST, not FIN, and over TLS no close_notify.
    pub fn reset(self) {
        let _ = self.tcp().set_zero_linger();
        drop(self);
    }
}

impl AsyncRead for Sock {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Sock::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Sock::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Sock {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Sock::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Sock::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Sock::Plain(s) => Pin::new(s).poll_flush(cx),
            Sock::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Sock::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Sock::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// Serves `behave` over plain http on every connection, after the request head has been read.
pub async fn spawn<F, Fut>(behave: F) -> Hostile
where
    F: Fn(Sock, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    spawn_with(Transport::Plain, behave).await
}

/// Serves `behave` over https (`tls`) or plain http, after the request head has been read.
pub async fn spawn_on<F, Fut>(tls: bool, behave: F) -> Hostile
where
    F: Fn(Sock, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    spawn_with(if tls { Transport::Tls } else { Transport::Plain }, behave).await
}

/// Serves an `https` URL without TLS: `behave` runs on the raw socket at accept, with an empty head (the
/// client's ClientHello is left unread).
pub async fn spawn_not_tls<F, Fut>(behave: F) -> Hostile
where
    F: Fn(Sock, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    spawn_with(Transport::NotTls, behave).await
}

async fn spawn_with<F, Fut>(transport: Transport, behave: F) -> Hostile
where
    F: Fn(Sock, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let behave = Arc::new(behave);
    let acceptor = (transport == Transport::Tls).then(|| trust().0.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let behave = Arc::clone(&behave);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut sock = match (transport, acceptor) {
                    (Transport::NotTls, _) => return behave(Sock::Plain(tcp), String::new()).await,
                    (_, Some(acceptor)) => match acceptor.accept(tcp).await {
                        Ok(tls) => Sock::Tls(Box::new(tls)),
                        Err(_) => return,
                    },
                    (_, None) => Sock::Plain(tcp),
                };
                let Some(head) = read_head(&mut sock).await else { return };
                behave(sock, head).await;
            });
        }
    });
    Hostile { addr, accepted, transport }
}

/// Reads until the end of the request head; returns it (request line and headers) as text.
pub async fn read_head<S: AsyncRead + Unpin>(sock: &mut S) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(String::from_utf8_lossy(&buf[..end]).into_owned());
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    }
}

/// Holds the connection open and never answers (until the client gives up and closes).
pub async fn hang(mut sock: Sock, _head: String) {
    let mut sink = [0u8; 256];
    while let Ok(n) = sock.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

/// Announces `len` bytes, then sends one byte every `every`.
pub fn drip(len: usize, every: Duration) -> impl Fn(Sock, String) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    move |mut sock, _| {
        Box::pin(async move {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {len}\r\n\r\n");
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..len {
                if sock.write_all(b"x").await.is_err() || sock.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}

/// A body of `len` bytes of `x`, announced with content-length, written in 64 KiB pieces until the client
/// stops reading.
pub fn huge(len: u64) -> impl Fn(Sock, String) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    move |mut sock, _| {
        Box::pin(async move {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {len}\r\n\r\n");
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let piece = vec![b'x'; 64 * 1024];
            let mut left = len;
            while left > 0 {
                let n = left.min(piece.len() as u64) as usize;
                if sock.write_all(&piece[..n]).await.is_err() {
                    return;
                }
                left -= n as u64;
            }
        })
    }
}

/// A chunked body that never ends.
pub async fn endless_chunked(mut sock: Sock, _head: String) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let mut chunk = format!("{:x}\r\n", 16 * 1024).into_bytes();
    chunk.extend_from_slice(&[b'y'; 16 * 1024]);
    chunk.extend_from_slice(b"\r\n");
    while sock.write_all(&chunk).await.is_ok() {}
}

/// Size of the gzip bomb once inflated.
pub const BOMB_INFLATED: usize = 64 << 20;

/// 64 MiB of zeros, gzipped once per test binary (about 64 KiB on the wire).
pub fn gzip_bomb_bytes() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(BOMB_INFLATED >> 20) {
            enc.write_all(&zeros).unwrap();
        }
        enc.finish().unwrap()
    })
}

/// Serves the gzip bomb with `content-encoding: gzip`.
pub async fn gzip_bomb(mut sock: Sock, _head: String) {
    let body = gzip_bomb_bytes();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    if sock.write_all(head.as_bytes()).await.is_ok() && sock.write_all(body).await.is_ok() {
        // TLS may still hold the last records: send them before the connection is dropped.
        let _ = sock.flush().await;
    }
}

/// Sends the headers and part of the announced body, then resets the connection (RST, not FIN).
pub async fn reset_mid_body(mut sock: Sock, _head: String) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\npartial-body-before-reset";
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.flush().await;
    // Let the client read what was sent before the reset arrives.
    tokio::time::sleep(Duration::from_millis(50)).await;
    sock.reset();
}

/// Resets the connection as soon as the request arrived: no response at all.
pub async fn reset_before_response(sock: Sock, _head: String) {
    sock.reset();
}

/// Closes the connection as soon as the request arrived, with FIN (over TLS without close_notify).
pub async fn close_before_response(sock: Sock, _head: String) {
    sock.close_without_notify().await;
}

/// Announces 1000 bytes, sends a few, then closes with FIN (over TLS without close_notify).
pub async fn cut_short(mut sock: Sock, _head: String) {
    let text = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\nbody-cut-short";
    if sock.write_all(text.as_bytes()).await.is_ok() && sock.flush().await.is_ok() {
        sock.close_without_notify().await;
    }
}

/// A chunked body that stops mid-chunk and closes cleanly (no terminating `0` chunk).
pub async fn truncated_chunked(mut sock: Sock, _head: String) {
    let text = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n\
                14\r\ntruncated-chunk-data\r\n40\r\nonly-part-of-this";
    let _ = sock.write_all(text.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// A body with neither content-length nor chunked framing, ended by closing the connection: FIN, and
/// over TLS no close_notify — the same bytes as a connection cut mid-body, as far as the client can tell.
pub async fn close_delimited(mut sock: Sock, _head: String) {
    let text = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nbody-delimited-by-close";
    if sock.write_all(text.as_bytes()).await.is_ok() && sock.flush().await.is_ok() {
        sock.close_without_notify().await;
    }
}

/// Waits for the client to send something more, then closes with FIN (no close_notify over TLS). Served
/// with [`spawn_not_tls`], that something is the ClientHello: the connection ends mid-handshake.
pub async fn hang_up(mut sock: Sock, _head: String) {
    let mut buf = [0u8; 16 * 1024];
    if sock.read(&mut buf).await.is_ok() {
        sock.close_without_notify().await;
    }
}

/// Answers with bytes that are not HTTP at all.
pub async fn invalid_http(mut sock: Sock, _head: String) {
    let _ = sock.write_all(b"SSH-2.0-OpenSSH_9.6 this is not http\r\n\r\n").await;
    let _ = sock.shutdown().await;
}

/// Answers every request with this status, content type and body (a well-formed response).
pub fn respond(
    status: u16,
    content_type: &'static str,
    body: String,
) -> impl Fn(Sock, String) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    move |mut sock, _| {
        let body = body.clone();
        Box::pin(async move {
            let text = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(text.as_bytes()).await;
            let _ = sock.shutdown().await;
        })
    }
}

/// Peak resident set size of this process since the last [`reset_peak_rss`], in bytes (Linux).
pub fn peak_rss() -> u64 {
    status_kib("VmHWM:") * 1024
}

/// Resident set size now, in bytes (Linux).
pub fn rss() -> u64 {
    status_kib("VmRSS:") * 1024
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0: `echo 5 > /proc/self/clear_refs`).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
