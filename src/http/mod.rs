//! The HTTP clients journeys run on, DNS timing, and the classification of transport errors into reasons.
//!
//! `http` and `https` steps go through [`h1`], a lean HTTP/1.1 client with one keep-alive connection per
//! virtual user (see there for why), TLS by rustls configured in [`tls`]. With `JOURNEYD_HTTP_CLIENT=reqwest`,
//! the escape hatch should a server and `h1` disagree, every step goes through reqwest instead — one client
//! per virtual user, with the same TLS configuration — so the connection policy is the same on both: a
//! user's connections are its own ([`UserConnections`]), never shared with another user or journey; whether
//! they outlive an iteration is the runner's choice (`connections: fresh | reuse`). Redirects are followed
//! by the runner on both paths, so that every hop gets the user's cookies and a redirect loop is reported as
//! such, and so that one policy ([`credentials`]) keeps a step's credentials with their origin on both.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::model::TlsCa;
use crate::outcome::Reason;

pub mod cookies;
pub mod credentials;
pub mod decode;
pub mod exchange;
pub mod h1;
pub mod headers;
pub mod tls;
pub mod ws;

/// The failure message of a body over its cap, the same on both client paths.
pub fn body_cap_message(cap: usize) -> String {
    format!("response body larger than the {} cap (max_body)", fmt_bytes(cap))
}

fn fmt_bytes(n: usize) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{}MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{}KiB", n >> 10)
    } else {
        format!("{n}B")
    }
}

/// Why building the clients failed (TLS backend initialisation, a CA bundle with nothing usable; rare, fatal).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the HTTP client: {0}")]
    Reqwest(#[from] reqwest::Error),
    #[error("cannot build the TLS configuration: {0}")]
    Tls(#[from] tls::TlsSetupError),
}

use crate::runner::browser_host::BrowserHost;
use crate::runner::evidence::EvidenceStore;

/// What every journey's client is made from: the TLS configurations (one per distinct CA, shared) and the
/// choice of client.
#[derive(Clone, Debug)]
pub struct Clients {
    tls: Arc<tls::TlsConfigs>,
    /// Steps go through the own client [`h1`] (false only with `JOURNEYD_HTTP_CLIENT=reqwest`).
    pub own: bool,
    /// Browser journeys' Chromium, found now and started on first use: the browser is their client.
    pub browser: crate::runner::browser_host::BrowserHost,
}

impl Clients {
    pub fn new() -> Result<Clients, ClientError> {
        let reqwest_asked = |var: &str| std::env::var(var).is_ok_and(|v| v.eq_ignore_ascii_case("reqwest"));
        // `JOURNEYD_PLAIN_HTTP` is the name from when only plain http had the own client; still honoured.
        let own = !(reqwest_asked("JOURNEYD_HTTP_CLIENT") || reqwest_asked("JOURNEYD_PLAIN_HTTP"));
        let tls = Arc::new(tls::TlsConfigs::new());
        // Built now, so a broken TLS backend fails the start rather than the first journey.
        tls.config(false, None)?;
        let browser = BrowserHost::new(None, EvidenceStore::from_env());
        Ok(Clients { tls, own, browser })
    }

    /// The same clients with browser journeys run by this host (`--chromium`, an evidence directory).
    pub fn with_browser(mut self, browser: BrowserHost) -> Clients {
        self.browser = browser;
        self
    }

    /// The client of a journey with these TLS settings: skipping verification wins over a CA file.
    pub fn for_journey(&self, tls_skip_verify: bool, ca: Option<&TlsCa>) -> Result<JourneyClient, ClientError> {
        Ok(JourneyClient { tls: self.tls.config(tls_skip_verify, ca)?, own: self.own })
    }
}

/// One journey's client settings, shared by its virtual users; the connections are each user's own
/// ([`UserConnections`]), never shared between users or journeys.
#[derive(Clone, Debug)]
pub struct JourneyClient {
    /// Roots (and the journey's CA), or no verification with `tls_skip_verify`; ALPN `http/1.1`.
    pub tls: Arc<tokio_rustls::rustls::ClientConfig>,
    /// Steps go through [`h1`]; otherwise through a reqwest client per user.
    pub own: bool,
}

impl JourneyClient {
    /// A reqwest client for one virtual user (`JOURNEYD_HTTP_CLIENT=reqwest`): its own pool, so the same
    /// connection policy holds on both clients, and this journey's TLS configuration.
    pub fn reqwest(&self) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .use_preconfigured_tls((*self.tls).clone())
            .user_agent(crate::user_agent())
            // The runner follows redirects itself: per-user cookies on every hop, per-step limits, loops.
            .redirect(reqwest::redirect::Policy::none())
            // Monitors must see the site, not a proxy configured in the environment of whoever runs journeyd.
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(h1::IDLE_REUSE)
            .dns_resolver(Arc::new(TimedResolver))
            .connector_layer(ConnectTiming)
            .build()
    }
}

/// One virtual user's connections: the own client's kept connection, or its reqwest client's pool.
#[derive(Debug, Default)]
pub struct UserConnections {
    pub h1: h1::Client,
    /// Made on the user's first request through reqwest.
    pub reqwest: Option<reqwest::Client>,
}

impl UserConnections {
    /// Closes every kept connection: the next request starts cold (DNS, connect, TLS handshake).
    pub fn close(&mut self) {
        self.h1.close();
        self.reqwest = None;
    }
}

/// Per-request phase timings written by the resolver (and connector) while a request is in flight.
///
/// Each virtual user owns one recorder and scopes its requests with [`with_recorder`]; the resolver picks the
/// recorder up from the task-local when it is called (synchronously, inside the request's poll), so timing
/// needs no lock shared between users and no allocation per request.
///
/// A connection attempt can outlive its request (hyper starts a connect, a pooled connection frees up first
/// and wins, the connect finishes in the background): timings are recorded only while the request that
/// started them is still current (same `generation`), so they never leak into the user's next request.
#[derive(Debug, Default)]
pub struct PhaseRecorder {
    dns_ns: AtomicU64,
    connect_ns: AtomicU64,
    tls_ns: AtomicU64,
    /// A new connection was opened for this request (false: a pooled one was reused).
    new_connection: AtomicBool,
    /// Bumped by every `reset`: which request timings belong to.
    generation: AtomicU64,
}

impl PhaseRecorder {
    pub fn reset(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.dns_ns.store(0, Ordering::Relaxed);
        self.connect_ns.store(0, Ordering::Relaxed);
        self.tls_ns.store(0, Ordering::Relaxed);
        self.new_connection.store(false, Ordering::Relaxed);
    }

    /// The request being timed now (see the type's docs).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// A connection opened for request `generation` took `total` (resolution included): the part that was
    /// not DNS is `connect`. Ignored when that request is over.
    pub fn record_connection(&self, generation: u64, total: Duration) {
        if self.generation() == generation {
            let tcp = total.saturating_sub(self.dns());
            self.record_connect(tcp, Duration::ZERO);
        }
    }

    pub fn dns(&self) -> Duration {
        Duration::from_nanos(self.dns_ns.load(Ordering::Relaxed))
    }

    pub fn connect(&self) -> Duration {
        Duration::from_nanos(self.connect_ns.load(Ordering::Relaxed))
    }

    pub fn tls(&self) -> Duration {
        Duration::from_nanos(self.tls_ns.load(Ordering::Relaxed))
    }

    pub fn new_connection(&self) -> bool {
        self.new_connection.load(Ordering::Relaxed)
    }

    pub fn record_dns(&self, took: Duration) {
        self.dns_ns.fetch_add(nanos(took), Ordering::Relaxed);
    }

    pub fn record_connect(&self, tcp: Duration, tls: Duration) {
        self.connect_ns.fetch_add(nanos(tcp), Ordering::Relaxed);
        self.tls_ns.fetch_add(nanos(tls), Ordering::Relaxed);
        self.new_connection.store(true, Ordering::Relaxed);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

tokio::task_local! {
    static RECORDER: Arc<PhaseRecorder>;
}

/// Runs `fut` (one request) with `recorder` receiving its phase timings.
pub async fn with_recorder<F: std::future::Future>(recorder: Arc<PhaseRecorder>, fut: F) -> F::Output {
    RECORDER.scope(recorder, fut).await
}

/// The recorder of the request being polled, if any.
pub fn current_recorder() -> Option<Arc<PhaseRecorder>> {
    RECORDER.try_with(Arc::clone).ok()
}

/// The system resolver (tokio's `lookup_host`), timed, with errors marked as DNS errors so that
/// classification does not depend on message text.
#[derive(Debug)]
struct TimedResolver;

/// A name-resolution failure (the host does not resolve).
#[derive(Debug, thiserror::Error)]
#[error("dns: cannot resolve {host}: {source}")]
pub struct DnsError {
    pub host: String,
    #[source]
    pub source: std::io::Error,
}

impl Resolve for TimedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let recorder = current_recorder().map(|r| (r.generation(), r));
        Box::pin(async move {
            let started = Instant::now();
            let result = tokio::net::lookup_host((host.as_str(), 0)).await.map(|a| a.collect::<Vec<SocketAddr>>());
            if let Some((generation, r)) = recorder {
                if r.generation() == generation {
                    r.record_dns(started.elapsed());
                }
            }
            match result {
                Ok(addrs) => {
                    if addrs.is_empty() {
                        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
                        return Err(Box::new(DnsError { host, source }) as _);
                    }
                    Ok(Box::new(addrs.into_iter()) as Addrs)
                }
                Err(source) => Err(Box::new(DnsError { host, source }) as _),
            }
        })
    }
}

/// Times connection establishment (resolution, TCP connect and, for https, the TLS handshake) as a reqwest
/// connector layer, into the recorder of the request that asked for the connection. Only new connections
/// pass through a connector: a request on a pooled connection records nothing, so its dns, connect and tls
/// stay zero.
///
/// reqwest runs TCP connect and the TLS handshake inside one connector and exposes no boundary between them,
/// so for https `connect` is TCP connect + TLS handshake and `tls` stays 0 (it is not exported). Splitting
/// them would need a second connection or a guess; both would make the numbers less true, not more.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectTiming;

impl<S> tower_layer::Layer<S> for ConnectTiming {
    type Service = TimedConnect<S>;

    fn layer(&self, inner: S) -> TimedConnect<S> {
        TimedConnect { inner }
    }
}

/// The connector service wrapped by [`ConnectTiming`].
#[derive(Debug, Clone)]
pub struct TimedConnect<S> {
    inner: S,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, R> tower_service::Service<R> for TimedConnect<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    // One box per new connection (never per request): cheap next to a TCP handshake.
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let recorder = current_recorder().map(|r| (r.generation(), r));
        let started = Instant::now();
        let connecting = self.inner.call(req);
        Box::pin(async move {
            let result = connecting.await;
            if let (Ok(_), Some((generation, r))) = (&result, recorder) {
                r.record_connection(generation, started.elapsed());
            }
            result
        })
    }
}

/// The `tracestate` every request carries beside `traceparent`: a W3C list member that tells the site's
/// tracing (and samplers that read it) the request is journeyd's synthetic traffic, not a customer's.
pub const TRACESTATE: &str = "journeyd=synthetic";

/// A request's headers in order, each name once: a list rather than a `HeaderMap`, because a step sends a
/// handful and the own client only writes them out in order — a map's two allocations and a hash per insert
/// were paid on every request for lookups nobody made. [`header_map`] makes the map where one is needed.
pub type HeaderList = Vec<(HeaderName, HeaderValue)>;

/// Whether `list` has a header `name`.
pub fn has_header(list: &[(HeaderName, HeaderValue)], name: &HeaderName) -> bool {
    list.iter().any(|(n, _)| n == name)
}

/// The W3C trace context a step's requests carry (`traceparent` and `tracestate`): the iteration's trace
/// and the step's span. Kept as two numbers and written out by whoever sends the request (the own client
/// straight into its buffer), so no header value is made per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub span_id: u64,
}

impl TraceContext {
    /// The `traceparent` value (`00-<trace id>-<span id>-01`), hex-encoded on the stack.
    pub fn traceparent(&self) -> [u8; 55] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-01";
        for i in 0..32 {
            buf[3 + i] = HEX[((self.trace_id >> (4 * (31 - i))) & 0xf) as usize];
        }
        for i in 0..16 {
            buf[36 + i] = HEX[((self.span_id >> (4 * (15 - i))) & 0xf) as usize];
        }
        buf
    }

    /// Adds both headers to `map` (replacing any of the same names), for the clients that take a map.
    pub fn insert_into(&self, map: &mut HeaderMap) {
        let value = HeaderValue::from_bytes(&self.traceparent()).expect("hex is a valid header value");
        map.insert(TRACEPARENT.clone(), value);
        map.insert(TRACESTATE_NAME.clone(), HeaderValue::from_static(TRACESTATE));
    }
}

/// `list` as a map, with the trace headers when given: for reqwest and the WebSocket handshake.
pub fn header_map(list: &[(HeaderName, HeaderValue)], trace: Option<&TraceContext>) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(list.len() + 2);
    for (name, value) in list {
        map.insert(name.clone(), value.clone());
    }
    if let Some(trace) = trace {
        trace.insert_into(&mut map);
    }
    map
}

/// The trace header names every request carries, made once: inserting by a `&str` parsed and checked the
/// name for every request (about a thousand instructions of a plain GET's sixteen thousand).
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub static TRACESTATE_NAME: HeaderName = HeaderName::from_static("tracestate");

/// Maps a transport error to a failure reason and a one-line message without the URL (URLs can carry
/// secrets in query strings; the runner adds a redacted request line itself).
pub fn classify(err: &reqwest::Error) -> (Reason, String) {
    let message = error_chain(err);
    if err.is_timeout() {
        return (Reason::Timeout, message);
    }
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<DnsError>().is_some() {
            return (Reason::Dns, message);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if is_tls_text(&io.to_string()) {
                return (Reason::Tls, message);
            }
        }
        source = e.source();
    }
    let lower = message.to_ascii_lowercase();
    if is_tls_text(&lower) {
        return (Reason::Tls, message);
    }
    if err.is_body() || err.is_decode() {
        return (Reason::Body, message);
    }
    (Reason::Connect, message)
}

fn is_tls_text(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("certificate") || t.contains("tls") || t.contains("handshake") || t.contains("unknownissuer")
}

/// "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)".
pub fn error_chain(err: &reqwest::Error) -> String {
    let mut out = String::new();
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    let mut last = String::new();
    while let Some(e) = source {
        let text = match e.downcast_ref::<reqwest::Error>() {
            // reqwest's Display includes the URL; rebuild it without.
            Some(r) => describe_reqwest(r),
            None => e.to_string(),
        };
        // Inner errors often repeat their source's text; keep each piece once.
        if !text.is_empty() && !last.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        last = text;
        source = e.source();
    }
    out
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else if e.is_body() {
        "error reading the response body".into()
    } else if e.is_decode() {
        "error decoding the response body".into()
    } else if e.is_redirect() {
        "redirect error".into()
    } else if e.is_request() {
        "error sending the request".into()
    } else {
        "HTTP error".into()
    }
}

#[cfg(test)]
mod tests {
    use super::TraceContext;

    #[test]
    fn traceparent_is_the_w3c_format() {
        let t = TraceContext { trace_id: 0x0af7651916cd43dd8448eb211c80319c, span_id: 0xb7ad6b7169203331 };
        assert_eq!(&t.traceparent()[..], b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        let t = TraceContext { trace_id: 1, span_id: 2 };
        assert_eq!(String::from_utf8_lossy(&t.traceparent()), format!("00-{:032x}-{:016x}-01", 1, 2));
        let mut map = super::header_map(&[], Some(&t));
        assert_eq!(map.remove("tracestate").unwrap(), "journeyd=synthetic");
        assert_eq!(map.remove("traceparent").unwrap(), &t.traceparent()[..]);
    }
}
