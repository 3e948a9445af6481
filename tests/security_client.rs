//! Issue 17, the client's part: credentials stay with their origin, https → http is refused unless allowed,
//! the redirect chain is evidence, URL userinfo is Basic auth on both clients and never printed, deflate is
//! decoded (and capped) on both clients, an unknown coding fails naming it, and `body length` counts bytes.
//!
//! Every server is real and in-process on 127.0.0.1:0 (plain TCP, or TLS with a certificate for `localhost`
//! and `127.0.0.1` from a private CA made at test time); each records the heads it received. Each case runs
//! on both client paths: the own h1 client and reqwest (selected through `Clients::own`, as
//! `JOURNEYD_HTTP_CLIENT=reqwest` would), over http and https. Journeys trust the TLS servers through
//! `tls_ca` ([`Trust::Ca`]), or with `tls_skip_verify` ([`Trust::Skip`]) in the cases written before the
//! own client spoke TLS.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use common::tls::Ca;
use common::{describe, journey};
use journeyd::http::Clients;
use journeyd::model::Journey;
use journeyd::outcome::{Reason, RunOutcome};
use journeyd::runner::{run_iteration, Plan, VirtualUser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "tok-9f8e7d6c5b4a";

/// One request a server received: its path and headers (names lower-case).
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HashMap<String, String>,
}

/// A running server and what it has received.
struct Server {
    base: String,
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// The base URL naming the server by `host` (it listens on 127.0.0.1; `localhost` resolves there).
    fn base_at(&self, host: &str) -> String {
        let scheme = self.base.split(':').next().unwrap_or("http");
        format!("{scheme}://{host}:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The headers of the one request to `path`.
    fn at(&self, path: &str) -> HashMap<String, String> {
        let seen = self.seen();
        let hits: Vec<&Seen> = seen.iter().filter(|s| s.path == path).collect();
        assert_eq!(hits.len(), 1, "{} requests to {path}: {seen:?}", hits.len());
        hits[0].headers.clone()
    }
}

/// A raw response with `content-length` and `connection: close`.
fn reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

fn redirect(location: &str) -> Vec<u8> {
    reply(302, &[("location", location)], b"")
}

type Respond = Arc<dyn Fn(&str) -> Vec<u8> + Send + Sync>;

/// Serves `respond(path)` over plain TCP (`http://127.0.0.1:PORT`) or TLS (`https://localhost:PORT`, a
/// certificate for `localhost` and `127.0.0.1` from the private CA; journeys say how they trust it, [`Trust`]).
async fn serve(tls: bool, respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> Server {
    let respond: Respond = Arc::new(respond);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let acceptor = tls.then(|| trust().0.clone());
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (respond, log, acceptor) = (Arc::clone(&respond), Arc::clone(&log), acceptor.clone());
            tokio::spawn(async move {
                match acceptor {
                    Some(a) => {
                        if let Ok(s) = a.accept(sock).await {
                            answer(s, respond, log).await;
                        }
                    }
                    None => answer(sock, respond, log).await,
                }
            });
        }
    });
    let base = if tls { format!("https://localhost:{port}") } else { format!("http://127.0.0.1:{port}") };
    Server { base, port, seen }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, respond: Respond, log: Arc<Mutex<Vec<Seen>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines.next().unwrap_or("").split(' ').nth(1).unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    log.lock().unwrap().push(Seen { path: path.clone(), headers });
    let _ = s.write_all(&respond(&path)).await;
    let _ = s.shutdown().await;
}

/// The TLS servers' acceptor (one leaf for `localhost` and `127.0.0.1`) and `defaults` trusting its CA.
fn trust() -> &'static (TlsAcceptor, String) {
    static TRUST: OnceLock<(TlsAcceptor, String)> = OnceLock::new();
    TRUST.get_or_init(|| {
        let ca = Ca::new("journeyd security test CA");
        let leaf = ca.leaf_for(&["localhost", "127.0.0.1"], 2036, 1);
        (leaf.acceptor(), format!("tls_ca: \"{}\"", ca.file("security").display()))
    })
}

/// How a journey trusts the TLS servers.
#[derive(Debug, Clone, Copy)]
enum Trust {
    /// `tls_ca`: the private CA, verification on.
    Ca,
    /// `tls_skip_verify: true`.
    Skip,
}

impl Trust {
    /// The `defaults` field that says so.
    fn field(self) -> &'static str {
        match self {
            Trust::Ca => &trust().1,
            Trust::Skip => "tls_skip_verify: true",
        }
    }
}

/// Runs one iteration on the own h1 client (`h1: true`) or on reqwest.
async fn run(j: &Arc<Journey>, h1: bool) -> RunOutcome {
    let mut clients = Clients::new().unwrap();
    clients.own = h1;
    let plan = Plan::new(Arc::clone(j), &clients);
    let mut vu = VirtualUser::new(&plan, 0).unwrap();
    run_iteration(&plan, &mut vu, Instant::now(), &CancellationToken::new()).await
}

/// A journey whose one step sends every kind of credential to `{{ env.U }}`; `defaults` are added to the
/// field that says how to trust the TLS servers.
fn credentialed(url: &str, trust: Trust, defaults: &str) -> Arc<Journey> {
    let trust = trust.field();
    let yaml = format!(
        "name: creds\ndefaults: {{ {trust}{defaults} }}\nsecrets:\n  token: {{ env: TOKEN }}\nsteps:\n\
         \x20 - name: go\n    get: \"{{{{ env.U }}}}\"\n    headers:\n\
         \x20     Authorization: \"Bearer {{{{ secrets.token }}}}\"\n\
         \x20     Cookie: \"sid=abc123\"\n\
         \x20     Proxy-Authorization: \"Basic cHJveHk6cHc=\"\n\
         \x20     X-Api-Key: \"key-{{{{ secrets.token }}}}\"\n\
         \x20     X-Plain: \"visible\"\n    expect: [ status == 200 ]\n"
    );
    journey(&yaml, &[("U", url), ("TOKEN", TOKEN)])
}

const CREDENTIALS: [&str; 4] = ["authorization", "cookie", "proxy-authorization", "x-api-key"];

/// A redirects to B (another port: another origin) and to itself; B and A's landing page record headers.
async fn credentials_stay_with_their_origin(tls: bool, h1: bool, trust: Trust) {
    let b = serve(tls, |_| reply(200, &[], b"b ok")).await;
    let b_base = b.base.clone();
    let a = serve(tls, move |path| match path {
        "/cross" => redirect(&format!("{b_base}/landed")),
        "/same" => redirect("/landed"),
        _ => reply(200, &[], b"a ok"),
    })
    .await;
    let what = format!("tls={tls} h1={h1}");

    let o = run(&credentialed(&format!("{}/cross", a.base), trust, ""), h1).await;
    assert!(o.passed(), "{what}: {}", describe(&o));
    let at_b = b.at("/landed");
    for name in CREDENTIALS {
        assert!(!at_b.contains_key(name), "{what}: {name} reached another origin: {at_b:?}");
    }
    assert_eq!(at_b.get("x-plain").map(String::as_str), Some("visible"), "{what}: other headers still go");
    assert!(!format!("{at_b:?}").contains(TOKEN), "{what}: the token reached B: {at_b:?}");
    assert_eq!(a.at("/cross").get("authorization"), Some(&format!("Bearer {TOKEN}")), "{what}");

    let o = run(&credentialed(&format!("{}/same", a.base), trust, ""), h1).await;
    assert!(o.passed(), "{what}: {}", describe(&o));
    let at_a = a.at("/landed");
    for name in CREDENTIALS {
        assert!(at_a.contains_key(name), "{what}: {name} missing on a same-origin redirect: {at_a:?}");
    }
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin_on_h1() {
    credentials_stay_with_their_origin(false, true, Trust::Skip).await;
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin_on_reqwest_over_https() {
    credentials_stay_with_their_origin(true, false, Trust::Skip).await;
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin_on_h1_over_https() {
    credentials_stay_with_their_origin(true, true, Trust::Ca).await;
}

#[tokio::test]
async fn https_to_http_is_refused_naming_both_origins_unless_the_journey_allows_it() {
    https_to_http_is_refused(Trust::Skip).await;
}

#[tokio::test]
async fn https_to_http_is_refused_naming_both_origins_unless_the_journey_allows_it_trusting_a_private_ca() {
    https_to_http_is_refused(Trust::Ca).await;
}

/// On h1: https → http is refused, or followed without the credentials when allowed.
async fn https_to_http_is_refused(trust: Trust) {
    let plain = serve(false, |_| reply(200, &[], b"plain")).await;
    let plain_base = plain.base.clone();
    let secure = serve(true, move |_| redirect(&format!("{plain_base}/landed"))).await;
    let url = format!("{}/start", secure.base);

    let o = run(&credentialed(&url, trust, ""), true).await;
    let f = o.failure().unwrap_or_else(|| panic!("must be refused: {}", describe(&o)));
    assert_eq!(f.reason, Reason::Redirect, "{}", describe(&o));
    let port = |base: &str| base.rsplit(':').next().unwrap().to_string();
    let from = format!("https://localhost:{}", port(&secure.base));
    let to = format!("http://127.0.0.1:{}", port(&plain.base));
    assert!(f.message.contains(&from) && f.message.contains(&to), "{}", f.message);
    assert!(f.message.contains("redirects_to_http"), "says how to allow it: {}", f.message);
    assert_eq!(f.status, Some(302));
    assert!(plain.seen().is_empty(), "nothing was sent over plain http: {:?}", plain.seen());

    let o = run(&credentialed(&url, trust, ", redirects_to_http: true"), true).await;
    assert!(o.passed(), "allowed: {}", describe(&o));
    let landed = plain.at("/landed");
    for name in CREDENTIALS {
        assert!(!landed.contains_key(name), "{name} went out over plain http: {landed:?}");
    }
}

/// One step to `{{ env.U }}` with a secret `Authorization` and a plain header, trusting the private CA,
/// expecting a 200 where the redirects end.
fn logged_in(url: &str) -> Arc<Journey> {
    let yaml = format!(
        "name: hops\ndefaults: {{ {} }}\nsecrets:\n  token: {{ env: TOKEN }}\nsteps:\n\
         \x20 - name: go\n    get: \"{{{{ env.U }}}}\"\n    headers:\n\
         \x20     Authorization: \"Bearer {{{{ secrets.token }}}}\"\n\
         \x20     X-Plain: \"visible\"\n    expect: [ status == 200 ]\n",
        Trust::Ca.field()
    );
    journey(&yaml, &[("U", url), ("TOKEN", TOKEN)])
}

/// http → https on the same host, another port: followed (an upgrade needs no opt-in). The cookie the
/// http side set goes along — a host-only cookie belongs to the host whatever the port or scheme (RFC 6265
/// §8.5) — and the step's credentials do not: another scheme and port is another origin.
#[tokio::test]
async fn http_to_https_on_the_same_host_keeps_the_hosts_cookie_and_not_the_credentials() {
    for h1 in [true, false] {
        let secure = serve(true, |_| reply(200, &[], b"secure")).await;
        let landing = format!("{}/landed", secure.base);
        let plain =
            serve(false, move |_| reply(302, &[("location", &landing), ("set-cookie", "sid=from-http; Path=/")], b""))
                .await;
        let o = run(&logged_in(&format!("{}/start", plain.base_at("localhost"))), h1).await;
        assert!(o.passed(), "h1={h1}: {}", describe(&o));
        let landed = secure.at("/landed");
        assert_eq!(landed.get("cookie").map(String::as_str), Some("sid=from-http"), "h1={h1}: {landed:?}");
        assert!(!landed.contains_key("authorization"), "h1={h1}: credentials crossed origins: {landed:?}");
        assert_eq!(landed.get("x-plain").map(String::as_str), Some("visible"), "h1={h1}");
        assert_eq!(plain.at("/start").get("authorization"), Some(&format!("Bearer {TOKEN}")), "h1={h1}");
    }
}

/// https → https to another host and back: `localhost` redirects to `127.0.0.1` (one certificate names
/// both), which redirects back. Each host gets only its own host-only cookies; `127.0.0.1` gets no
/// credentials; the step's own origin gets them again when the chain comes back to it.
#[tokio::test]
async fn https_to_another_host_and_back_keeps_cookies_per_host_and_credentials_per_origin() {
    for h1 in [true, false] {
        let back: Arc<OnceLock<String>> = Arc::default();
        let back_to = Arc::clone(&back);
        let b = serve(true, move |path| match path {
            "/landed" => {
                let home = back_to.get().map(String::as_str).unwrap_or("/nowhere");
                reply(302, &[("location", home), ("set-cookie", "b=from-b; Path=/")], b"")
            }
            _ => reply(404, &[], b"not here"),
        })
        .await;
        let b_landing = format!("{}/landed", b.base_at("127.0.0.1"));
        let a = serve(true, move |path| match path {
            "/start" => {
                reply(302, &[("location", &b_landing), ("set-cookie", "a=from-a; Path=/; Secure; HttpOnly")], b"")
            }
            "/back" => reply(200, &[], b"home"),
            _ => reply(404, &[], b"not here"),
        })
        .await;
        back.set(format!("{}/back", a.base)).unwrap();

        let o = run(&logged_in(&format!("{}/start", a.base)), h1).await;
        assert!(o.passed(), "h1={h1}: {}", describe(&o));
        assert_eq!(o.steps[0].redirects, 2, "h1={h1}: start → 127.0.0.1 → back");
        let at_b = b.at("/landed");
        assert!(!at_b.contains_key("cookie"), "h1={h1}: localhost's cookie went to 127.0.0.1: {at_b:?}");
        assert!(!at_b.contains_key("authorization"), "h1={h1}: credentials went to another host: {at_b:?}");
        assert_eq!(at_b.get("x-plain").map(String::as_str), Some("visible"), "h1={h1}");
        let home = a.at("/back");
        assert_eq!(home.get("cookie").map(String::as_str), Some("a=from-a"), "h1={h1}: {home:?}");
        assert_eq!(home.get("authorization"), Some(&format!("Bearer {TOKEN}")), "h1={h1}: {home:?}");
        assert!(!a.at("/start").contains_key("cookie"), "h1={h1}: no cookie before one was set");
    }
}

#[tokio::test]
async fn the_redirect_chain_is_evidence_redacted_and_bounded() {
    for h1 in [true, false] {
        let b = serve(false, move |path| match path {
            "/hop" => redirect(&format!("/missing?token={TOKEN}")),
            _ => reply(404, &[], b"not here"),
        })
        .await;
        let b_base = b.base.clone();
        let a = serve(false, move |_| redirect(&format!("{b_base}/hop"))).await;
        let o = run(&credentialed(&format!("{}/start", a.base), Trust::Skip, ""), h1).await;
        let f = o.failure().unwrap_or_else(|| panic!("h1={h1}: must fail on the 404"));
        assert_eq!(f.reason, Reason::Status, "{}", describe(&o));
        let chain: Vec<(String, Option<u16>)> = f.redirects.iter().map(|h| (h.url.clone(), h.status)).collect();
        assert_eq!(
            chain,
            [
                (format!("{}/start", a.base), Some(302)),
                (format!("{}/hop", b.base), Some(302)),
                (format!("{}/missing?token=[REDACTED]", b.base), Some(404)),
            ],
            "h1={h1}"
        );
        let text = journeyd::outcome::chain_text(&f.redirects);
        assert!(text.contains("/hop (302) → ") && !text.contains(TOKEN), "{text}");

        // Into a port nothing listens on: the hop that got no response is the last of the chain.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let nowhere = serve(false, move |_| redirect(&format!("http://{closed}/metadata"))).await;
        let o = run(&credentialed(&format!("{}/start", nowhere.base), Trust::Skip, ""), h1).await;
        let f = o.failure().unwrap_or_else(|| panic!("h1={h1}: must fail to connect"));
        assert_eq!(f.reason, Reason::Connect, "{}", describe(&o));
        let last = f.redirects.last().unwrap_or_else(|| panic!("h1={h1}: no chain: {f:?}"));
        assert_eq!((last.url.as_str(), last.status), (format!("http://{closed}/metadata").as_str(), None));
        assert_eq!(f.redirects.len(), 2, "{:?}", f.redirects);
    }

    // A loop of many redirects keeps a bounded chain.
    let looping = serve(false, |path| {
        let n: u32 = path.trim_start_matches("/r").parse().unwrap_or(0);
        redirect(&format!("/r{}", n + 1))
    })
    .await;
    let yaml = "name: loop\ndefaults: { redirects: 100 }\nsteps:\n  - name: go\n    get: \"{{ env.U }}/r0\"\n";
    let o = run(&journey(yaml, &[("U", &looping.base)]), true).await;
    let f = o.failure().expect("too many redirects");
    assert_eq!(f.reason, Reason::Redirect);
    assert_eq!(f.redirects.len(), 20, "first and last ten of 101: {:?}", f.redirects);
    assert!(f.redirects[0].url.ends_with("/r0") && f.redirects[19].url.ends_with("/r100"), "{:?}", f.redirects);
}

#[tokio::test]
async fn userinfo_is_sent_as_basic_auth_on_both_clients_and_never_printed() {
    for h1 in [true, false] {
        let server = serve(false, |_| reply(500, &[], b"no")).await;
        let url = server.base.replace("http://", "http://alice:s%3Ecret%20pw@");
        let yaml = "name: userinfo\nsteps:\n  - name: go\n    get: \"{{ env.U }}/in\"\n    expect: [ status == 200 ]\n";
        let o = run(&journey(yaml, &[("U", &url)]), h1).await;
        // base64("alice:s>cret pw")
        assert_eq!(server.at("/in").get("authorization").map(String::as_str), Some("Basic YWxpY2U6cz5jcmV0IHB3"));
        let f = o.failure().expect("the 500 fails the step");
        let request = f.request.as_deref().unwrap_or_default();
        assert_eq!(request, format!("GET {}/in", server.base), "h1={h1}");
        assert!(!format!("{f:?}").contains("cret"), "h1={h1}: userinfo printed: {f:?}");
    }
    // The step's own Authorization wins over userinfo.
    let server = serve(false, |_| reply(200, &[], b"ok")).await;
    let url = server.base.replace("http://", "http://alice:pw@");
    let yaml = "name: own\nsteps:\n  - name: go\n    get: \"{{ env.U }}/in\"\n    headers: { Authorization: \"Bearer mine\" }\n";
    assert!(run(&journey(yaml, &[("U", &url)]), true).await.passed());
    assert_eq!(server.at("/in").get("authorization").map(String::as_str), Some("Bearer mine"));
}

#[tokio::test]
async fn userinfo_does_not_follow_a_redirect_to_another_origin() {
    let b = serve(false, |_| reply(200, &[], b"b")).await;
    let b_base = b.base.clone();
    let a = serve(false, move |_| redirect(&format!("{b_base}/landed"))).await;
    let url = a.base.replace("http://", "http://alice:pw@");
    let yaml = "name: ui\nsteps:\n  - name: go\n    get: \"{{ env.U }}/start\"\n";
    for h1 in [true, false] {
        assert!(run(&journey(yaml, &[("U", &url)]), h1).await.passed());
    }
    assert_eq!(a.seen().iter().filter(|s| s.headers.contains_key("authorization")).count(), 2);
    assert_eq!(b.seen().len(), 2);
    assert!(b.seen().iter().all(|s| !s.headers.contains_key("authorization")), "{:?}", b.seen());
}

fn compressed<W: std::io::Write>(mut w: W, data: &[u8]) -> W {
    w.write_all(data).unwrap();
    w
}

fn zlib(data: &[u8]) -> Vec<u8> {
    compressed(flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default()), data).finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    compressed(flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default()), data).finish().unwrap()
}

#[tokio::test]
async fn deflate_zlib_and_raw_is_decoded_and_capped_and_an_unknown_coding_fails_naming_it() {
    let text = b"hello from a deflated body";
    let bomb = zlib(&vec![0u8; 8 << 20]);
    let server = serve(false, move |path| match path {
        "/zlib" => reply(200, &[("content-encoding", "deflate")], &zlib(text)),
        "/raw" => reply(200, &[("content-encoding", "deflate")], &raw_deflate(text)),
        "/bomb" => reply(200, &[("content-encoding", "deflate")], &bomb),
        _ => reply(200, &[("content-encoding", "br")], b"\x1b\x03\x00\xf8\xa5"),
    })
    .await;
    let step = |name: &str, path: &str, expect: &str| {
        let yaml = format!(
            "name: {name}\ndefaults: {{ max_body: 1MiB }}\nsteps:\n  - name: go\n    get: \"{{{{ env.U }}}}{path}\"\n    expect: [ {expect} ]\n"
        );
        journey(&yaml, &[("U", &server.base)])
    };
    for h1 in [true, false] {
        for path in ["/zlib", "/raw"] {
            let o = run(&step("deflate", path, "body == \"hello from a deflated body\""), h1).await;
            assert!(o.passed(), "h1={h1} {path}: {}", describe(&o));
        }
        let o = run(&step("bomb", "/bomb", "status == 200"), h1).await;
        let f = o.failure().unwrap_or_else(|| panic!("h1={h1}: the bomb must fail"));
        assert_eq!(f.reason, Reason::Body, "{}", describe(&o));
        assert!(f.message.contains("1MiB cap"), "h1={h1}: {}", f.message);

        let o = run(&step("brotli", "/br", "status == 200"), h1).await;
        let f = o.failure().unwrap_or_else(|| panic!("h1={h1}: br must fail"));
        assert_eq!(f.reason, Reason::Body, "{}", describe(&o));
        assert!(f.message.contains("Content-Encoding \"br\""), "h1={h1}: {}", f.message);
    }
    let asked: Vec<String> =
        server.seen().iter().map(|s| s.headers.get("accept-encoding").cloned().unwrap_or_default()).collect();
    assert!(asked.iter().all(|a| a == "gzip, deflate"), "only what both clients decode: {asked:?}");
}

#[tokio::test]
async fn body_length_counts_bytes() {
    let bytes: Vec<u8> = (0..65_536u32).map(|_| rand::random::<u8>()).collect();
    let server = serve(false, move |_| reply(200, &[("content-type", "application/octet-stream")], &bytes)).await;
    let yaml = "name: len\nsteps:\n  - name: go\n    get: \"{{ env.U }}/\"\n    expect: [ body length == 65536 ]\n";
    let j = journey(yaml, &[("U", &server.base)]);
    for h1 in [true, false] {
        let o = run(&j, h1).await;
        assert!(o.passed(), "h1={h1}: {}", describe(&o));
    }
    let yaml = "name: len\nsteps:\n  - name: go\n    get: \"{{ env.U }}/\"\n    expect: [ body length == 1 ]\n";
    let o = run(&journey(yaml, &[("U", &server.base)]), true).await;
    assert_eq!(o.failure().and_then(|f| f.actual.clone()).as_deref(), Some("length 65536"));
}

#[tokio::test]
async fn a_header_from_a_secret_capture_does_not_follow_a_redirect_to_another_origin() {
    let b = serve(false, |_| reply(200, &[], b"b")).await;
    let b_base = b.base.clone();
    let a = serve(false, move |path| match path {
        "/login" => reply(200, &[("content-type", "application/json")], br#"{"token":"sess-5e55i0n-77"}"#),
        _ => redirect(&format!("{b_base}/landed")),
    })
    .await;
    let yaml = "name: cap\nsteps:\n  - name: login\n    get: \"{{ env.U }}/login\"\n\
                \x20   capture: { token: { json: token, secret: true } }\n\
                \x20 - name: go\n    get: \"{{ env.U }}/go\"\n    headers: { X-Session: \"{{ token }}\" }\n";
    for h1 in [true, false] {
        let o = run(&journey(yaml, &[("U", &a.base)]), h1).await;
        assert!(o.passed(), "h1={h1}: {}", describe(&o));
    }
    let sent = a.seen().iter().filter(|s| s.path == "/go" && s.headers.contains_key("x-session")).count();
    assert_eq!(sent, 2, "the step's own origin gets it: {:?}", a.seen());
    assert_eq!(b.seen().len(), 2);
    assert!(b.seen().iter().all(|s| !s.headers.contains_key("x-session")), "{:?}", b.seen());
}

#[test]
fn reports_carry_the_chain_and_read_reports_written_before_it() {
    use journeyd::outcome::{Failure, Reason, RedirectHop};
    use journeyd::report::Evidence;
    let mut failure = Failure::new(0, "go", Reason::Status, "expected status == 200");
    failure.request = Some("GET http://a/start".into());
    failure.status = Some(404);
    failure.redirects = vec![
        RedirectHop { url: "http://a/start".into(), status: Some(302) },
        RedirectHop { url: "http://b/missing".into(), status: Some(404) },
    ];
    let mut e = Evidence { at_unix_ms: 1, failure };
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["step"], "go", "the step by name, as before: {json}");
    assert!(json.get("reason").is_none(), "the reason is the table key: {json}");
    assert_eq!(json["redirects"][1], serde_json::json!({ "url": "http://b/missing", "status": 404 }));
    assert_eq!(serde_json::from_value::<Evidence>(json).unwrap(), e);
    assert!(e.line().contains(" redirects: http://a/start (302) → http://b/missing (404)"), "{}", e.line());
    e.failure.redirects.clear();
    let json = serde_json::to_value(&e).unwrap();
    assert!(json.get("redirects").is_none(), "no chain, no field: {json}");
    assert_eq!(serde_json::from_value::<Evidence>(json).unwrap(), e, "a report from before the chain reads");
}
