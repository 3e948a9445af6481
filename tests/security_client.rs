//! Issue 17, the client's part: credentials stay with their origin, https → http is refused unless allowed,
//! the redirect chain is evidence, URL userinfo is Basic auth on both clients and never printed, deflate is
//! decoded (and capped) on both clients, an unknown coding fails naming it, and `body length` counts bytes.
//!
//! Every server is real and in-process on 127.0.0.1:0 (plain TCP, or TLS with a generated certificate); each
//! records the heads it received. Each case runs on both client paths: the own h1 client and reqwest
//! (selected through `Clients::plain_h1`, as `JOURNEYD_PLAIN_HTTP=reqwest` would).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::{describe, journey};
use journeyd::http::Clients;
use journeyd::model::Journey;
use journeyd::outcome::{Reason, RunOutcome};
use journeyd::runner::{run_iteration, Plan, VirtualUser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
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
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
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
/// self-signed certificate: journeys set `tls_skip_verify`).
async fn serve(tls: bool, respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> Server {
    let respond: Respond = Arc::new(respond);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let acceptor = tls.then(acceptor);
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
    Server { base, seen }
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

fn acceptor() -> TlsAcceptor {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// Runs one iteration on the own h1 client (`h1: true`, plain http only) or on reqwest.
async fn run(j: &Arc<Journey>, h1: bool) -> RunOutcome {
    let mut clients = Clients::new().unwrap();
    clients.own = h1;
    let plan = Plan::new(Arc::clone(j), &clients);
    let mut vu = VirtualUser::new(&plan, 0).unwrap();
    run_iteration(&plan, &mut vu, Instant::now(), &CancellationToken::new()).await
}

/// A journey whose one step sends every kind of credential to `{{ env.U }}`.
fn credentialed(url: &str, defaults: &str) -> Arc<Journey> {
    let yaml = format!(
        "name: creds\ndefaults: {{ tls_skip_verify: true{defaults} }}\nsecrets:\n  token: {{ env: TOKEN }}\nsteps:\n\
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
async fn credentials_stay_with_their_origin(tls: bool, h1: bool) {
    let b = serve(tls, |_| reply(200, &[], b"b ok")).await;
    let b_base = b.base.clone();
    let a = serve(tls, move |path| match path {
        "/cross" => redirect(&format!("{b_base}/landed")),
        "/same" => redirect("/landed"),
        _ => reply(200, &[], b"a ok"),
    })
    .await;
    let what = format!("tls={tls} h1={h1}");

    let o = run(&credentialed(&format!("{}/cross", a.base), ""), h1).await;
    assert!(o.passed(), "{what}: {}", describe(&o));
    let at_b = b.at("/landed");
    for name in CREDENTIALS {
        assert!(!at_b.contains_key(name), "{what}: {name} reached another origin: {at_b:?}");
    }
    assert_eq!(at_b.get("x-plain").map(String::as_str), Some("visible"), "{what}: other headers still go");
    assert!(!format!("{at_b:?}").contains(TOKEN), "{what}: the token reached B: {at_b:?}");
    assert_eq!(a.at("/cross").get("authorization"), Some(&format!("Bearer {TOKEN}")), "{what}");

    let o = run(&credentialed(&format!("{}/same", a.base), ""), h1).await;
    assert!(o.passed(), "{what}: {}", describe(&o));
    let at_a = a.at("/landed");
    for name in CREDENTIALS {
        assert!(at_a.contains_key(name), "{what}: {name} missing on a same-origin redirect: {at_a:?}");
    }
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin_on_h1() {
    credentials_stay_with_their_origin(false, true).await;
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin_on_reqwest_over_https() {
    credentials_stay_with_their_origin(true, false).await;
}

#[tokio::test]
async fn https_to_http_is_refused_naming_both_origins_unless_the_journey_allows_it() {
    let plain = serve(false, |_| reply(200, &[], b"plain")).await;
    let plain_base = plain.base.clone();
    let secure = serve(true, move |_| redirect(&format!("{plain_base}/landed"))).await;
    let url = format!("{}/start", secure.base);

    let o = run(&credentialed(&url, ""), true).await;
    let f = o.failure().unwrap_or_else(|| panic!("must be refused: {}", describe(&o)));
    assert_eq!(f.reason, Reason::Redirect, "{}", describe(&o));
    let port = |base: &str| base.rsplit(':').next().unwrap().to_string();
    let from = format!("https://localhost:{}", port(&secure.base));
    let to = format!("http://127.0.0.1:{}", port(&plain.base));
    assert!(f.message.contains(&from) && f.message.contains(&to), "{}", f.message);
    assert!(f.message.contains("redirects_to_http"), "says how to allow it: {}", f.message);
    assert_eq!(f.status, Some(302));
    assert!(plain.seen().is_empty(), "nothing was sent over plain http: {:?}", plain.seen());

    let o = run(&credentialed(&url, ", redirects_to_http: true"), true).await;
    assert!(o.passed(), "allowed: {}", describe(&o));
    let landed = plain.at("/landed");
    for name in CREDENTIALS {
        assert!(!landed.contains_key(name), "{name} went out over plain http: {landed:?}");
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
        let o = run(&credentialed(&format!("{}/start", a.base), ""), h1).await;
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
        let o = run(&credentialed(&format!("{}/start", nowhere.base), ""), h1).await;
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
