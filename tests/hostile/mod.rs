//! Hostile in-process servers for the fault matrix: raw `TcpListener`s on 127.0.0.1:0 that misbehave on
//! purpose (hang, drip, flood, reset, lie about framing, speak something that is not HTTP).
//!
//! Each server reads the request head first (so the client has really sent its request), then runs its
//! behaviour on the socket. `accepted` counts connections, so a test can wait for "the request arrived"
//! instead of sleeping.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running hostile server.
pub struct Hostile {
    pub addr: SocketAddr,
    /// Connections accepted so far (readiness signal for tests).
    pub accepted: Arc<AtomicUsize>,
}

impl Hostile {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Serves `behave` on every connection, after the request head has been read.
pub async fn spawn<F, Fut>(behave: F) -> Hostile
where
    F: Fn(TcpStream, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let behave = Arc::new(behave);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let behave = Arc::clone(&behave);
            tokio::spawn(async move {
                let Some(head) = read_head(&mut sock).await else { return };
                behave(sock, head).await;
            });
        }
    });
    Hostile { addr, accepted }
}

/// Reads until the end of the request head; returns it (request line and headers) as text.
pub async fn read_head(sock: &mut TcpStream) -> Option<String> {
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
pub async fn hang(mut sock: TcpStream, _head: String) {
    let mut sink = [0u8; 256];
    while let Ok(n) = sock.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

/// Announces `len` bytes, then sends one byte every `every`.
pub fn drip(
    len: usize,
    every: Duration,
) -> impl Fn(TcpStream, String) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
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
pub fn huge(len: u64) -> impl Fn(TcpStream, String) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
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
pub async fn endless_chunked(mut sock: TcpStream, _head: String) {
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
pub async fn gzip_bomb(mut sock: TcpStream, _head: String) {
    let body = gzip_bomb_bytes();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    if sock.write_all(head.as_bytes()).await.is_ok() {
        let _ = sock.write_all(body).await;
    }
}

/// Sends the headers and part of the announced body, then resets the connection (RST, not FIN).
pub async fn reset_mid_body(mut sock: TcpStream, _head: String) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\npartial-body-before-reset";
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.flush().await;
    // Let the client read what was sent before the reset arrives.
    tokio::time::sleep(Duration::from_millis(50)).await;
    reset(sock);
}

/// Resets the connection as soon as the request arrived: no response at all.
pub async fn reset_before_response(sock: TcpStream, _head: String) {
    reset(sock);
}

/// Closing with SO_LINGER 0 sends RST.
fn reset(sock: TcpStream) {
    let _ = sock.set_zero_linger();
    drop(sock);
}

/// A chunked body that stops mid-chunk and closes cleanly (no terminating `0` chunk).
pub async fn truncated_chunked(mut sock: TcpStream, _head: String) {
    let text = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n\
                14\r\ntruncated-chunk-data\r\n40\r\nonly-part-of-this";
    let _ = sock.write_all(text.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// Answers with bytes that are not HTTP at all.
pub async fn invalid_http(mut sock: TcpStream, _head: String) {
    let _ = sock.write_all(b"SSH-2.0-OpenSSH_9.6 this is not http\r\n\r\n").await;
    let _ = sock.shutdown().await;
}

/// Answers every request with this status, content type and body (a well-formed response).
pub fn respond(
    status: u16,
    content_type: &'static str,
    body: String,
) -> impl Fn(TcpStream, String) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
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
