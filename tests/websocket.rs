//! WebSocket steps against real WebSocket servers in-process on 127.0.0.1:0 (tokio-tungstenite's server
//! side, over plain TCP or TLS from a private CA): matching with skips, captures used by a later HTTP step,
//! the timeout with its evidence, a refused upgrade, wss, cookies on the upgrade, secrets redacted.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use common::tls::Ca;
use common::{describe, echo_app, journey, run_once, serve};
use journeyd::outcome::Reason;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Socket = WebSocketStream<Box<dyn Io>>;
type Handler = Arc<dyn Fn(Socket) -> BoxFuture<'static, ()> + Send + Sync>;

/// What the server's upgrade does besides recording each request's `Cookie` header.
#[derive(Clone, Copy, PartialEq)]
enum Gate {
    Open,
    /// An upgrade without a `Cookie` is refused with 403.
    NeedsCookie,
    /// The 101 sets a cookie (`seat=42`).
    SetsCookie,
}

/// A WebSocket server that records each upgrade's `Cookie` header.
struct WsServer {
    addr: std::net::SocketAddr,
    cookies: Arc<Mutex<Vec<String>>>,
}

async fn ws_server(tls: Option<TlsAcceptor>, gate: Gate, handler: Handler) -> WsServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cookies: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&cookies);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (tls, handler, seen) = (tls.clone(), Arc::clone(&handler), Arc::clone(&seen));
            tokio::spawn(async move {
                let io: Box<dyn Io> = match tls {
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(s) => Box::new(s),
                        Err(_) => return,
                    },
                    None => Box::new(tcp),
                };
                // The shape of tungstenite's `Callback`: its error is the response itself.
                #[allow(clippy::result_large_err)]
                let check = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
                    let cookie = req.headers().get("cookie").map(|v| v.to_str().unwrap_or("").to_string());
                    seen.lock().unwrap().push(cookie.clone().unwrap_or_default());
                    if gate == Gate::SetsCookie {
                        resp.headers_mut().insert("set-cookie", "seat=42; Path=/".parse().unwrap());
                    }
                    if gate == Gate::NeedsCookie && cookie.is_none() {
                        let mut refused = ErrorResponse::new(Some("login required".into()));
                        *refused.status_mut() = StatusCode::FORBIDDEN;
                        return Err(refused);
                    }
                    Ok(resp)
                };
                if let Ok(ws) = tokio_tungstenite::accept_hdr_async(io, check).await {
                    handler(ws).await;
                }
            });
        }
    });
    WsServer { addr, cookies }
}

fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Socket) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    Arc::new(move |s| f(s).boxed())
}

/// Reads the subscription, pushes two messages that do not match, then the price of what was asked for.
fn prices() -> Handler {
    handler(|mut ws: Socket| async move {
        let Some(Ok(Message::Text(sub))) = ws.next().await else { return };
        let sub: serde_json::Value = serde_json::from_str(sub.as_str()).unwrap();
        for m in [r#"{"type":"hello"}"#.to_string(), r#"{"type":"heartbeat","price":0}"#.to_string()] {
            ws.send(Message::text(m)).await.unwrap();
        }
        let price = serde_json::json!({ "type": "price", "product": sub["subscribe"], "price": 42.5 });
        ws.send(Message::text(price.to_string())).await.unwrap();
        while let Some(Ok(_)) = ws.next().await {}
    })
}

/// Sends every text message back.
fn echo() -> Handler {
    handler(|mut ws: Socket| async move {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_text() && ws.send(m).await.is_err() {
                return;
            }
        }
    })
}

/// Answers the upgrade, then says nothing at all.
fn silent() -> Handler {
    handler(|mut ws: Socket| async move { while let Some(Ok(_)) = ws.next().await {} })
}

#[tokio::test]
async fn skips_messages_until_one_matches_and_a_later_http_step_uses_the_capture() {
    let server = ws_server(None, Gate::Open, prices()).await;
    let http = serve(echo_app()).await;
    let yaml = r#"
name: ws-prices
target: "http://{{ env.WS }}"
steps:
  - name: live-price
    ws: /prices
    send:
      - json: { subscribe: "sku-{{ env.SKU }}" }
    expect: [ json.type == "price", json.price > 0 ]
    capture: { price: json.price, product: json.product }
    timeout: 5s
  - name: order
    get: "{{ env.HTTP }}/order?price={{ price }}&product={{ product }}"
    expect: [ 'json.query == "price=42.5&product=sku-7"' ]
"#;
    let j = journey(yaml, &[("WS", &server.addr.to_string()), ("HTTP", &http), ("SKU", "7")]);
    let o = run_once(&j).await;
    assert!(o.passed(), "{}", describe(&o));
    let step = &o.steps[0];
    assert_eq!(step.status, Some(101));
    assert!(step.phases.waiting > Duration::ZERO && step.phases.transfer > Duration::ZERO, "{:?}", step.phases);
    assert!(step.service_time > Duration::ZERO);
}

#[tokio::test]
async fn an_echoed_text_message_matches_its_check() {
    let server = ws_server(None, Gate::Open, echo()).await;
    let yaml = r#"
name: ws-echo
steps:
  - name: echo
    ws: "ws://{{ env.WS }}/echo"
    send: [ { text: "ping {{ env.N }}" } ]
    expect: [ body == "ping 3" ]
    capture: { said: { regex: "ping (\\d)" } }
    timeout: 5s
"#;
    let o = run_once(&journey(yaml, &[("WS", &server.addr.to_string()), ("N", "3")])).await;
    assert!(o.passed(), "{}", describe(&o));
}

#[tokio::test]
async fn no_matching_message_before_the_deadline_is_a_timeout_with_what_was_received() {
    let server = ws_server(None, Gate::Open, prices()).await;
    let yaml = r#"
name: ws-timeout
steps:
  - name: never
    ws: "ws://{{ env.WS }}/prices"
    send: [ { json: { subscribe: x } } ]
    expect: [ json.type == "trade" ]
    timeout: 300ms
"#;
    let o = run_once(&journey(yaml, &[("WS", &server.addr.to_string())])).await;
    let f = o.failure().expect("a timeout");
    assert_eq!(f.reason, Reason::Timeout, "{}", describe(&o));
    assert!(f.message.contains("step timeout 300ms") && f.message.contains("3 messages received"), "{}", f.message);
    assert!(f.excerpt.as_deref().unwrap_or("").contains(r#""type":"price""#), "{:?}", f.excerpt);
    assert_eq!(f.status, Some(101));

    let server = ws_server(None, Gate::Open, silent()).await;
    let o = run_once(&journey(yaml, &[("WS", &server.addr.to_string())])).await;
    let f = o.failure().expect("a timeout");
    assert_eq!(f.reason, Reason::Timeout);
    assert!(f.message.contains("no message received"), "{}", f.message);
}

#[tokio::test]
async fn a_refused_upgrade_is_a_status_failure_and_login_cookies_reach_the_upgrade() {
    let server = ws_server(None, Gate::NeedsCookie, echo()).await;
    let http = serve(echo_app()).await;
    let steps = r#"
  - name: live
    ws: "ws://{{ env.WS }}/live"
    send: [ { text: hi } ]
    expect: [ body == "hi" ]
    timeout: 5s
"#;
    let alone = format!("name: ws-refused\nsteps:{steps}");
    let o = run_once(&journey(&alone, &[("WS", &server.addr.to_string())])).await;
    let f = o.failure().expect("refused");
    assert_eq!(f.reason, Reason::Status, "{}", describe(&o));
    assert_eq!(f.status, Some(403));
    assert!(f.excerpt.as_deref().unwrap_or("").contains("login required"), "{:?}", f.excerpt);
    assert!(f.message.contains("403"), "{}", f.message);

    let login = format!("name: ws-login\nsteps:\n  - name: login\n    get: \"{{{{ env.HTTP }}}}/set-cookie\"\n{steps}");
    let o = run_once(&journey(&login, &[("WS", &server.addr.to_string()), ("HTTP", &http)])).await;
    assert!(o.passed(), "{}", describe(&o));
    assert_eq!(server.cookies.lock().unwrap().last().map(String::as_str), Some("flavour=oat"));
}

#[tokio::test]
async fn a_cookie_set_on_the_101_reaches_the_next_upgrade() {
    let server = ws_server(None, Gate::SetsCookie, echo()).await;
    let step = |name: &str| {
        format!("  - name: {name}\n    ws: \"ws://{{{{ env.WS }}}}/\"\n    send: [ {{ text: x }} ]\n    expect: [ body == x ]\n")
    };
    let yaml = format!("name: ws-seat\nsteps:\n{}{}", step("first"), step("second"));
    let o = run_once(&journey(&yaml, &[("WS", &server.addr.to_string())])).await;
    assert!(o.passed(), "{}", describe(&o));
    assert_eq!(*server.cookies.lock().unwrap(), ["", "seat=42"]);
}

#[tokio::test]
async fn wss_trusts_the_journeys_private_ca() {
    let ca = Ca::new("WS Test CA");
    let leaf = ca.leaf_for(&["127.0.0.1"], 2036, 11);
    let server = ws_server(Some(leaf.acceptor()), Gate::Open, echo()).await;
    let file = ca.file("wss");
    let yaml = |ca: &str| {
        format!(
            "name: wss\n{ca}steps:\n  - name: echo\n    ws: \"wss://{}/echo\"\n    send: [ {{ text: hello }} ]\n    \
             expect: [ body == hello ]\n    timeout: 5s\n",
            server.addr
        )
    };
    let trusted = yaml(&format!("defaults: {{ tls_ca: \"{}\" }}\n", file.display()));
    let o = run_once(&journey(&trusted, &[])).await;
    assert!(o.passed(), "{}", describe(&o));
    let step = &o.steps[0];
    assert!(step.phases.tls > Duration::ZERO && step.tls.is_some(), "{:?}", step.phases);

    let o = run_once(&journey(&yaml(""), &[])).await;
    assert_eq!(o.failure().map(|f| f.reason), Some(Reason::Tls), "{}", describe(&o));
}

#[tokio::test]
async fn a_secret_sent_in_a_message_is_redacted_in_the_failure_evidence() {
    let server = ws_server(None, Gate::Open, echo()).await;
    let yaml = r#"
name: ws-secret
secrets: { token: { env: WS_TOKEN } }
steps:
  - name: auth
    ws: "ws://{{ env.WS }}/auth"
    send: [ { json: { token: "{{ secrets.token }}" } } ]
    expect: [ json.ok == true ]
    timeout: 300ms
"#;
    let o = run_once(&journey(yaml, &[("WS", &server.addr.to_string()), ("WS_TOKEN", "hunter2-s3cr3t")])).await;
    let f = o.failure().expect("no ok");
    assert_eq!(f.reason, Reason::Timeout);
    let excerpt = f.excerpt.clone().unwrap_or_default();
    assert!(excerpt.contains("token") && !excerpt.contains("hunter2-s3cr3t"), "{excerpt}");
    assert!(!format!("{f:?}").contains("hunter2-s3cr3t"));
}

#[tokio::test]
async fn a_close_before_a_match_is_a_check_failure_and_a_flood_stops_at_the_limit() {
    let yaml = r#"
name: ws-ends
steps:
  - name: feed
    ws: "ws://{{ env.WS }}/feed"
    expect: [ json.type == "trade" ]
    timeout: 5s
"#;
    let closes = handler(|mut ws: Socket| async move {
        let _ = ws.send(Message::text(r#"{"type":"hello"}"#)).await;
        let _ = ws.close(None).await;
    });
    let server = ws_server(None, Gate::Open, closes).await;
    let o = run_once(&journey(yaml, &[("WS", &server.addr.to_string())])).await;
    let f = o.failure().expect("closed");
    assert_eq!(f.reason, Reason::Check, "{}", describe(&o));
    assert!(f.message.contains("closed") && f.message.contains("1 message received"), "{}", f.message);

    let floods = handler(|mut ws: Socket| async move {
        for i in 0..1200 {
            if ws.send(Message::text(format!(r#"{{"type":"tick","n":{i}}}"#))).await.is_err() {
                return;
            }
        }
        while let Some(Ok(_)) = ws.next().await {}
    });
    let server = ws_server(None, Gate::Open, floods).await;
    let o = run_once(&journey(yaml, &[("WS", &server.addr.to_string())])).await;
    let f = o.failure().expect("limit");
    assert_eq!(f.reason, Reason::Body, "{}", describe(&o));
    assert!(f.message.contains("1000 messages"), "{}", f.message);
}

#[tokio::test]
async fn a_step_without_checks_sends_and_closes() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let server = ws_server(
        None,
        Gate::Open,
        handler(move |mut ws: Socket| {
            let tx = tx.clone();
            async move {
                while let Some(Ok(Message::Text(t))) = ws.next().await {
                    let _ = tx.send(t.to_string());
                }
            }
        }),
    )
    .await;
    let yaml = "name: ws-fire\nsteps:\n  - name: fire\n    ws: \"ws://{{ env.WS }}/in\"\n    send: [ { text: a }, { text: b } ]\n";
    let o = run_once(&journey(yaml, &[("WS", &server.addr.to_string())])).await;
    assert!(o.passed(), "{}", describe(&o));
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap());
    }
    assert_eq!(got, ["a", "b"]);
}
