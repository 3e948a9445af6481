//! A connection of the own client: TCP, or TLS over TCP (rustls through tokio-rustls), opened with each
//! phase timed — resolution, TCP connect, TLS handshake — and what the handshake presented kept.
//!
//! Every new TLS connection is a full handshake (resumption is off in [`crate::http::tls`]): it is what
//! a customer's first visit pays, and the only way to read the certificate each time.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ClientConnection};
use tokio_rustls::TlsConnector;

use super::{Error, Target};
use crate::http::tls;
use crate::outcome::CertSeen;

/// A connection: plain or TLS. Both halves are `Unpin`, so the I/O traits delegate without projection.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    // Boxed: the TLS state is ~1 KiB, and most users of plain-http journeys never have one.
    Tls(Box<TlsStream<TcpStream>>),
}

/// A newly opened connection and what opening it took.
#[derive(Debug)]
pub(crate) struct Opened {
    pub stream: Stream,
    pub dns: Duration,
    pub connect: Duration,
    pub tls: Duration,
    /// What the server presented, on a TLS connection.
    pub cert: Option<Arc<CertSeen>>,
    /// The `first` bytes given to [`open`] went out with the handshake.
    pub sent_first: bool,
}

impl Stream {
    /// Forgets a stale readable event (see `Client::exchange`). TLS keeps its own buffered records, so only
    /// a plain socket can skip the read this saves.
    pub fn forget_readiness(&self) {
        if let Stream::Plain(s) = self {
            let _ = s.try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
        }
    }

    /// Whether a kept connection still looks usable: no close, no unexpected bytes from the server.
    /// TLS: a read polled once without waiting, so session tickets and close_notify are processed by rustls
    /// rather than mistaken for (or hidden as) response bytes.
    pub fn looks_open(&mut self) -> bool {
        match self {
            Stream::Plain(s) => {
                let mut probe = [0u8; 1];
                matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            Stream::Tls(s) => {
                let mut probe = [0u8; 1];
                let mut buf = ReadBuf::new(&mut probe);
                let waker = futures_util::task::noop_waker();
                let mut cx = Context::from_waker(&waker);
                matches!(Pin::new(&mut **s).poll_read(&mut cx, &mut buf), Poll::Pending)
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// The most [`open`] queues to go out with the handshake: rustls buffers up to 64 KiB of plaintext before
/// it may send (`DEFAULT_BUFFER_LIMIT`), and a partial queue could not be taken back; a larger request head
/// is written after the handshake as usual.
const MAX_FIRST: usize = 32 * 1024;

/// Resolves, connects and, for `https`, shakes hands — each phase timed. `first` is what the caller will
/// send first (a request head, or nothing): over TLS it goes out with the client's last handshake flight,
/// one write and one TCP segment instead of two (rustls holds it until the handshake allows application
/// data, so no TLS version sends it early), and [`Opened::sent_first`] says so; plain TCP leaves it to the
/// caller.
pub(crate) async fn open(
    target: &Target<'_>,
    tls_config: Option<&Arc<ClientConfig>>,
    first: &[u8],
) -> Result<Opened, Error> {
    let started = Instant::now();
    let addrs = resolve(target).await?;
    let dns = started.elapsed();
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(tcp) = tcp else {
        let e = last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to connect to"));
        return Err(Error::Connect(e));
    };
    let _ = tcp.set_nodelay(true);
    let connected = Instant::now();
    let connect = connected - started - dns;
    if !target.tls {
        return Ok(Opened {
            stream: Stream::Plain(tcp),
            dns,
            connect,
            tls: Duration::ZERO,
            cert: None,
            sent_first: false,
        });
    }
    let Some(config) = tls_config else {
        return Err(Error::Tls("no TLS configuration for this journey".into()));
    };
    let name = server_name(target)?;
    let sent_first = !first.is_empty() && first.len() <= MAX_FIRST;
    // A write into a connection that cannot send yet only queues the bytes, whole while under the limit.
    let queue = |conn: &mut ClientConnection| {
        if sent_first {
            let queued = conn.writer().write(first);
            debug_assert!(matches!(queued, Ok(n) if n == first.len()), "rustls queued {queued:?} of {}", first.len());
        }
    };
    let stream =
        TlsConnector::from(Arc::clone(config)).connect_with(name, tcp, queue).await.map_err(handshake_error)?;
    let tls = connected.elapsed();
    let cert = tls::seen(stream.get_ref().1);
    Ok(Opened { stream: Stream::Tls(Box::new(stream)), dns, connect, tls, cert, sent_first })
}

/// A failed handshake: `tls` when TLS refused something (rustls reports its errors — certificate,
/// protocol, an alert from the server — as `InvalidData`); when the connection itself was reset or closed
/// mid-handshake, nothing about TLS failed, so it is the same `connect` failure as a reset before a
/// response on plain http (and as the reqwest path reports it).
fn handshake_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::InvalidData {
        return Error::Tls(tls::handshake_message(&e));
    }
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return Error::NoResponse("the connection was closed during the TLS handshake".into());
    }
    Error::NoResponse(format!("connection error during the TLS handshake: {e}"))
}

/// The addresses of the target: an IP literal as it is, a name through the system resolver.
async fn resolve(target: &Target<'_>) -> Result<Vec<SocketAddr>, Error> {
    match target.url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(vec![SocketAddr::new(ip.into(), target.port)]),
        Some(url::Host::Ipv6(ip)) => Ok(vec![SocketAddr::new(ip.into(), target.port)]),
        _ => match tokio::net::lookup_host((target.host, target.port)).await {
            Ok(a) => {
                let addrs: Vec<SocketAddr> = a.collect();
                if addrs.is_empty() {
                    let source = io::Error::new(io::ErrorKind::NotFound, "no addresses");
                    return Err(Error::Dns { host: target.host.to_string(), source });
                }
                Ok(addrs)
            }
            Err(source) => Err(Error::Dns { host: target.host.to_string(), source }),
        },
    }
}

/// The name sent in SNI and checked against the certificate: the URL's host (an IP address is checked as
/// one and sends no SNI, as browsers do).
fn server_name(target: &Target<'_>) -> Result<ServerName<'static>, Error> {
    match target.url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(ServerName::IpAddress(std::net::IpAddr::V4(ip).into())),
        Some(url::Host::Ipv6(ip)) => Ok(ServerName::IpAddress(std::net::IpAddr::V6(ip).into())),
        _ => ServerName::try_from(target.host.to_string())
            .map_err(|_| Error::Tls(format!("{:?} is not a valid TLS server name", target.host))),
    }
}
