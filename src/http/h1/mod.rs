//! A lean HTTP/1.1 client for `http` and `https` steps: one keep-alive connection per virtual user, driven
//! inside the user's own task.
//!
//! Why it exists: on the single-GET benchmark reqwest cost ~29 µs of CPU per request against wrk's ~9.5
//! (bench/RESULTS.md), and the profile put most of it in machinery a virtual user does not need — the shared
//! pool and its checkout, a connector service cloned per request, a connection task per socket fed through a
//! channel, a second URL parse. A virtual user is one browser tab: one connection, one request at a time. So
//! this client writes the request head straight into a reused buffer, parses the response with `httparse`
//! (the parser hyper itself uses) and reads the body in the same task. `https` is the same code over a
//! rustls stream ([`stream`]): the handshake is timed as its own phase and what it presented is read on
//! every new connection — reqwest exposed neither.
//!
//! What it does, like reqwest did for these steps: `Host`, `User-Agent`, `Accept: */*` and
//! `Accept-Encoding: gzip, deflate` unless the step sets them; gzip and deflate bodies decoded (with the body
//! cap applied after decoding, so a bomb costs at most the cap; see [`crate::http::decode`]); content-length,
//! chunked and read-to-close framing; 1xx interim responses skipped; keep-alive unless either side says
//! `close` or the framing forbids it. A kept connection idle for more than [`IDLE_REUSE`] is closed rather
//! than reused (servers time idle ones out), and one found closed by the server is detected before reuse.
//! If a reused connection still fails before a single response byte arrives (the server closed it as the
//! request was written), the request is sent once more on a new connection — what browsers do, and safe,
//! because no byte of a response means it was not answered. Whether a connection outlives an iteration is
//! the runner's policy ([`Client::close`]).
//!
//! Timeouts are not handled here: the runner wraps the whole exchange in its deadline, and dropping the
//! future drops the connection (it is only put back into the user's slot after a complete response).

use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONNECTION, HOST, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::ClientConfig;

use crate::http::cookies::CookieJar;
use crate::http::headers::ResponseHeaders;
use crate::http::TraceContext;
use crate::outcome::{CertSeen, Reason};

mod body;
pub(crate) mod stream;

use crate::http::decode::{self, Coding};
use body::{framing, has_token, Framing, Head, WITHOUT_NOTIFY};
use stream::Stream;

/// A kept connection idle longer than this is closed instead of reused (reqwest's pool used the same).
pub const IDLE_REUSE: Duration = Duration::from_secs(30);
/// A kept connection idle at least this long is checked for a close by the server before it is reused.
const PROBE_AFTER: Duration = Duration::from_secs(1);
/// Largest response head (status line and headers) accepted.
const HEAD_LIMIT: usize = 64 * 1024;
/// Most response headers accepted.
const MAX_HEADERS: usize = 128;
/// Read buffer kept per user between requests; a larger one (a big head) is given back after the response.
const KEEP_BUFFER: usize = 16 * 1024;
/// Bodies up to this size are written in the same `write` as the head.
const INLINE_BODY: usize = 16 * 1024;

/// `user-agent`, `accept` and `accept-encoding` as one block of head lines, for the usual step that sets none
/// of them: one copy per request instead of three lines written piece by piece.
static DEFAULT_HEADERS: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut w = Vec::new();
    line(&mut w, b"user-agent", crate::USER_AGENT.as_bytes());
    line(&mut w, b"accept", b"*/*");
    line(&mut w, b"accept-encoding", decode::ACCEPT_ENCODING.as_bytes());
    w
});

/// What a request goes to, taken from its URL without copying.
#[derive(Debug)]
pub struct Target<'a> {
    /// `https`: the connection is TLS.
    tls: bool,
    /// Host as in the URL (IPv6 in brackets), for the connection key.
    host: &'a str,
    port: u16,
    /// `host[:port]`, for the `Host` header.
    authority: &'a str,
    /// Path and query, for the request line.
    path_and_query: &'a str,
    url: &'a Url,
}

impl<'a> Target<'a> {
    /// The target of an `http` or `https` URL; `None` for any other scheme.
    pub fn of(url: &'a Url) -> Option<Target<'a>> {
        use url::Position;
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        Some(Target {
            tls,
            host: url.host_str()?,
            port: url.port_or_known_default()?,
            authority: &url[Position::BeforeHost..Position::AfterPort],
            path_and_query: &url[Position::BeforePath..Position::AfterQuery],
            url,
        })
    }
}

/// One request.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a Method,
    pub target: Target<'a>,
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// `traceparent` and `tracestate`, written after `headers` (which do not carry them).
    pub trace: Option<&'a TraceContext>,
    /// The user's cookies: those for the target's URL are written straight into the request head.
    pub cookies: Option<&'a CookieJar>,
    pub body: Option<&'a [u8]>,
    /// Largest body accepted, after decoding.
    pub max_body: usize,
    /// The journey's TLS configuration (roots, its CA, or none checked), for `https` targets.
    pub tls: Option<&'a Arc<ClientConfig>>,
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: ResponseHeaders,
    pub body: Vec<u8>,
    /// When the response head was complete.
    pub head_at: Instant,
    /// Name resolution, TCP connect and TLS handshake of a new connection; zero on a reused one.
    pub dns: Duration,
    pub connect: Duration,
    pub tls: Duration,
    pub reused: bool,
    /// What a new TLS connection's handshake presented.
    pub cert: Option<Arc<CertSeen>>,
}

/// Why a request got no complete response.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("dns: cannot resolve {host}: {source}")]
    Dns { host: String, source: io::Error },
    #[error("cannot connect: tcp connect error: {0}")]
    Connect(io::Error),
    /// TLS refused the handshake (the message says why: expired, wrong host, unknown issuer, not TLS…).
    #[error("{0}")]
    Tls(String),
    /// The connection broke before any byte of a response (reset or closed, during the TLS handshake
    /// too; write failed).
    #[error("{0}")]
    NoResponse(String),
    /// Something that is not a valid HTTP/1 response.
    #[error("invalid HTTP response: {0}")]
    Invalid(String),
    /// The head arrived; the body did not (truncated, reset, over the cap, not decodable).
    #[error("{message}")]
    Body { status: StatusCode, message: String, partial: Vec<u8> },
}

impl Error {
    pub fn reason(&self) -> Reason {
        match self {
            Error::Dns { .. } => Reason::Dns,
            Error::Tls(_) => Reason::Tls,
            Error::Connect(_) | Error::NoResponse(_) | Error::Invalid(_) => Reason::Connect,
            Error::Body { .. } => Reason::Body,
        }
    }
}

#[derive(Debug)]
struct Conn {
    stream: Stream,
    tls: bool,
    host: String,
    port: u16,
    idle_since: Instant,
}

/// One virtual user's HTTP/1.1 client: its kept connection and buffers.
#[derive(Debug, Default)]
pub struct Client {
    conn: Option<Conn>,
    read: BytesMut,
    write: Vec<u8>,
    /// The request being sent says `connection: close`.
    close_asked: bool,
}

impl Client {
    /// Sends `req` and reads the complete response.
    pub async fn send(&mut self, req: &Request<'_>) -> Result<Response, Error> {
        let inline = self.prepare(req);
        if let Some(conn) = self.take_kept(&req.target) {
            match self.exchange(conn, req, None, inline).await {
                // Closed under us as we wrote: the request was not answered, so send it on a new connection.
                Err(Error::NoResponse(_)) => {}
                other => return other,
            }
        }
        // Boxed: the TLS handshake's state is kilobytes, and a kept connection never needs it; inline, it would
        // grow (and be moved with) every request's future.
        let opened = Box::pin(stream::open(&req.target, req.tls, &self.write)).await?;
        let t = &req.target;
        let conn = Conn {
            stream: opened.stream,
            tls: t.tls,
            host: t.host.to_string(),
            port: t.port,
            idle_since: Instant::now(),
        };
        let setup = Setup {
            dns: opened.dns,
            connect: opened.connect,
            tls: opened.tls,
            cert: opened.cert,
            prepared_sent: opened.sent_first,
        };
        self.exchange(conn, req, Some(setup), inline).await
    }

    /// Writes the request head into the write buffer, and the body too when it is small (one write for
    /// both); returns whether it did.
    fn prepare(&mut self, req: &Request<'_>) -> bool {
        self.write_head(req);
        let inline = req.body.is_some_and(|b| b.len() <= INLINE_BODY);
        if inline {
            self.write.extend_from_slice(req.body.unwrap_or_default());
        }
        inline
    }

    /// Closes the kept connection, if any: the next request opens a new one (`connections: fresh`).
    pub fn close(&mut self) {
        self.conn = None;
    }

    /// The kept connection if it goes to `target`, has not idled too long and the server has not closed it.
    fn take_kept(&mut self, target: &Target<'_>) -> Option<Conn> {
        let mut conn = self.conn.take()?;
        let idle = conn.idle_since.elapsed();
        if conn.port != target.port || conn.host != target.host || conn.tls != target.tls || idle > IDLE_REUSE {
            return None;
        }
        // Back to back (a load test), the probe's system call would cost more than the rare retry it saves.
        if idle < PROBE_AFTER {
            return Some(conn);
        }
        // A closed (or chattering) connection is dropped.
        conn.stream.looks_open().then_some(conn)
    }

    /// One request and its response on `conn`: a kept connection (`setup` is `None`) or a new one. The
    /// write buffer holds what [`Client::prepare`] wrote (the whole body if `inline`), unless the new
    /// connection already sent it with its handshake.
    async fn exchange(
        &mut self,
        mut conn: Conn,
        req: &Request<'_>,
        setup: Option<Setup>,
        inline: bool,
    ) -> Result<Response, Error> {
        let reused = setup.is_none();
        // Whatever made the socket readable before this request (the last response, read in full) is stale:
        // forgetting it saves the read that would only return EAGAIN; the response's own event wakes us.
        // No response to this request can exist yet, so no wakeup is lost (a close by the peer stays flagged).
        conn.stream.forget_readiness();
        let prepared_sent = setup.as_ref().is_some_and(|s| s.prepared_sent);
        let sent = match if prepared_sent { Ok(()) } else { conn.stream.write_all(&self.write).await } {
            Ok(()) if !inline => match req.body {
                Some(body) => conn.stream.write_all(body).await,
                None => Ok(()),
            },
            other => other,
        };
        if let Err(e) = sent {
            return Err(Error::NoResponse(format!("connection closed while sending the request: {e}")));
        }

        self.read.clear();
        let (status, headers, head) = self.read_head(&mut conn.stream, reused).await?;
        let head_at = Instant::now();
        let framing = framing(req.method, status, &head)?;
        let keep = !head.close && !matches!(framing, Framing::Close) && !self.close_asked;
        let mut body = match framing {
            Framing::None => Vec::new(),
            Framing::Length(n) => self.read_length(&mut conn.stream, n, req.max_body, status).await?,
            Framing::Chunked => self.read_chunked(&mut conn.stream, req.max_body, status).await?,
            Framing::Close => self.read_to_close(&mut conn.stream, req.max_body, status).await?,
        };
        let mut headers = headers;
        if head.coding != Coding::Identity && !body.is_empty() {
            body = decode::decode(head.coding, &body, req.max_body).map_err(|(message, partial)| Error::Body {
                status,
                message,
                partial,
            })?;
            headers.remove("content-encoding");
            headers.remove("content-length");
        }
        // Bytes past the response mean the server is not speaking request/response: do not reuse it.
        if keep && self.read.is_empty() {
            conn.idle_since = head_at;
            self.conn = Some(conn);
        }
        if self.read.capacity() > KEEP_BUFFER {
            self.read = BytesMut::new();
        }
        let Setup { dns, connect, tls, cert, .. } = setup.unwrap_or_default();
        Ok(Response { status, headers, body, head_at, dns, connect, tls, reused, cert })
    }

    fn write_head(&mut self, req: &Request<'_>) {
        let w = &mut self.write;
        w.clear();
        w.extend_from_slice(req.method.as_str().as_bytes());
        w.push(b' ');
        w.extend_from_slice(req.target.path_and_query.as_bytes());
        w.extend_from_slice(b" HTTP/1.1\r\n");
        // One pass over the step's headers, noting which defaults they replace (no lookups).
        let (mut host, mut agent, mut accept, mut encoding, mut close) = (false, false, false, false, false);
        for (name, value) in req.headers {
            if *name == HOST {
                host = true;
            } else if *name == USER_AGENT {
                agent = true;
            } else if *name == ACCEPT {
                accept = true;
            } else if *name == ACCEPT_ENCODING {
                encoding = true;
            } else if *name == CONNECTION {
                close |= has_token(value.as_bytes(), "close");
            }
            line(w, name.as_str().as_bytes(), value.as_bytes());
        }
        if let Some(trace) = req.trace {
            line(w, b"traceparent", &trace.traceparent());
            line(w, b"tracestate", crate::http::TRACESTATE.as_bytes());
        }
        self.close_asked = close;
        if !host {
            line(w, b"host", req.target.authority.as_bytes());
        }
        if let Some(jar) = req.cookies {
            let mark = w.len();
            w.extend_from_slice(b"cookie: ");
            if jar.write_cookies(req.target.url, w) {
                w.extend_from_slice(b"\r\n");
            } else {
                w.truncate(mark);
            }
        }
        if !(agent || accept || encoding) {
            w.extend_from_slice(&DEFAULT_HEADERS);
        } else {
            if !agent {
                line(w, b"user-agent", crate::USER_AGENT.as_bytes());
            }
            if !accept {
                line(w, b"accept", b"*/*");
            }
            if !encoding {
                line(w, b"accept-encoding", decode::ACCEPT_ENCODING.as_bytes());
            }
        }
        let length = match req.body {
            Some(b) => Some(b.len()),
            None if matches!(*req.method, Method::POST | Method::PUT | Method::PATCH) => Some(0),
            None => None,
        };
        if let Some(n) = length {
            // Formatted straight into the buffer: no string per request.
            let _ = write!(w, "content-length: {n}\r\n");
        }
        w.extend_from_slice(b"\r\n");
    }

    /// Reads until a final (non-1xx) response head is complete; returns it with whether the server asked to
    /// close. The head's bytes are consumed from the read buffer; what follows (body bytes) stays.
    async fn read_head(
        &mut self,
        stream: &mut Stream,
        reused: bool,
    ) -> Result<(StatusCode, ResponseHeaders, Head), Error> {
        loop {
            if !self.read.is_empty() {
                // Uninitialised slots: the parser writes only those it fills, where an initialised array would
                // cost 4 KiB of stores per response.
                let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
                let mut parsed = httparse::Response::new(&mut []);
                let config = httparse::ParserConfig::default();
                match config.parse_response_with_uninit_headers(&mut parsed, &self.read, &mut slots) {
                    Ok(httparse::Status::Complete(len)) => {
                        let code = parsed.code.unwrap_or(0);
                        let status = StatusCode::from_u16(code)
                            .map_err(|_| Error::Invalid(format!("status code {code} is out of range")))?;
                        let http10 = parsed.version == Some(0);
                        // Fields are ranges of the head's own bytes (no copy, no map; `http::headers`). httparse
                        // has checked the names (tokens, as `HeaderName` would) and the values (no control
                        // characters but tab, as `HeaderValue` would): a test below pins both.
                        let base = self.read.as_ptr() as usize;
                        let range = |b: &[u8]| b.as_ptr() as usize - base..b.as_ptr() as usize - base + b.len();
                        let fields: Vec<_> =
                            parsed.headers.iter().map(|h| (range(h.name.as_bytes()), range(h.value))).collect();
                        let mut info = Head::scan(parsed.headers.iter().map(|h| (h.name.as_bytes(), h.value)))?;
                        info.close |= http10 && !info.keep_alive;
                        let head = self.read.split_to(len).freeze();
                        let headers = ResponseHeaders::from_parts(head, fields);
                        // 1xx (other than 101, which a plain request never asks for) precede the real response.
                        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
                            continue;
                        }
                        return Ok((status, headers, info));
                    }
                    Ok(httparse::Status::Partial) if self.read.len() > HEAD_LIMIT => {
                        return Err(Error::Invalid("response head larger than 64KiB".into()));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(httparse::Error::TooManyHeaders) => {
                        return Err(Error::Invalid(format!("more than {MAX_HEADERS} response headers")));
                    }
                    Err(e) => return Err(Error::Invalid(e.to_string())),
                }
            }
            let got = self.read.len();
            self.read.reserve(4096);
            match stream.read_buf(&mut self.read).await {
                Ok(0) if got == 0 => {
                    let on = if reused { "a reused connection" } else { "the connection" };
                    return Err(Error::NoResponse(format!("{on} was closed before a response arrived")));
                }
                Ok(0) => return Err(Error::Invalid("connection closed in the middle of the response head".into())),
                Ok(_) => {}
                // A TLS stream that ended without close_notify: the same close as `Ok(0)` above.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && got == 0 => {
                    let on = if reused { "a reused connection" } else { "the connection" };
                    let message = format!("{on} was closed{WITHOUT_NOTIFY} before a response arrived");
                    return Err(Error::NoResponse(message));
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    let message = format!("connection closed in the middle of the response head{WITHOUT_NOTIFY}");
                    return Err(Error::Invalid(message));
                }
                Err(e) if got == 0 => {
                    return Err(Error::NoResponse(format!("connection error before a response arrived: {e}")));
                }
                Err(e) => return Err(Error::Invalid(format!("connection error in the response head: {e}"))),
            }
        }
    }
}

/// What opening a new connection took, and what its TLS handshake presented.
#[derive(Debug, Default)]
struct Setup {
    dns: Duration,
    connect: Duration,
    tls: Duration,
    cert: Option<Arc<CertSeen>>,
    /// The prepared request went out with the TLS handshake (see [`stream::open`]).
    prepared_sent: bool,
}

fn line(w: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    w.extend_from_slice(name);
    w.extend_from_slice(b": ");
    w.extend_from_slice(value);
    w.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the response head's fields rely on: httparse accepts exactly the names and values `HeaderName`
    /// and `HeaderValue` accept, so taking its fields as they lie drops no check.
    #[test]
    fn httparse_accepts_the_fields_header_names_and_values_accept() {
        for b in 0..=255u8 {
            let head = [&b"HTTP/1.1 200 OK\r\nx-a: a"[..], &[b], b"b\r\nx", &[b], b"y: 1\r\n\r\n"].concat();
            let mut fields = [httparse::EMPTY_HEADER; 4];
            let parsed = httparse::Response::new(&mut fields).parse(&head).is_ok();
            let value = HeaderValue::from_bytes(&[b'a', b, b'b']).is_ok();
            // A colon ends the name (`x` with the value `y: 1`).
            let name = b == b':' || HeaderName::from_bytes(&[b'x', b, b'y']).is_ok();
            assert_eq!(parsed, value && name, "byte {b:#04x}");
        }
    }

    #[test]
    fn target_of_an_http_url_borrows_its_parts() {
        let url = Url::parse("http://[::1]:8080/a/b?x=1&y=2#frag").unwrap();
        let t = Target::of(&url).unwrap();
        assert_eq!((t.host, t.port, t.authority, t.path_and_query), ("[::1]", 8080, "[::1]:8080", "/a/b?x=1&y=2"));
        let url = Url::parse("http://example.com").unwrap();
        let t = Target::of(&url).unwrap();
        assert_eq!((t.port, t.authority, t.path_and_query), (80, "example.com", "/"));
        let url = Url::parse("https://example.com/x").unwrap();
        let t = Target::of(&url).unwrap();
        assert_eq!((t.tls, t.port, t.authority), (true, 443, "example.com"));
        assert!(Target::of(&Url::parse("ftp://example.com/").unwrap()).is_none());
    }
}
