//! WebSocket connections for `ws:` steps: the own client's connection ([`h1::stream`]: resolution, TCP
//! connect and TLS handshake each timed, with the journey's rustls configuration, so `tls_ca` and
//! `tls_skip_verify` mean what they mean for `https` steps and the certificate is read as for them),
//! upgraded by tokio-tungstenite, which does the handshake and the framing and nothing else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, COOKIE, USER_AGENT};
use reqwest::{StatusCode, Url};
use tokio_rustls::rustls::ClientConfig;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as TungError;
use tokio_tungstenite::WebSocketStream;

use super::h1::stream::{open, Stream};
use super::h1::{self, Target};
use crate::outcome::{CertSeen, Phases, Reason};

pub use tokio_tungstenite::tungstenite::Message;

/// An open WebSocket and what opening it took.
pub(crate) struct Upgraded {
    pub socket: WebSocketStream<Stream>,
    /// The `101 Switching Protocols` response's headers (checks may look at them; its cookies go to the jar).
    pub headers: HeaderMap,
    /// dns, connect and tls of the connection; `waiting`: upgrade request written → 101 read.
    pub phases: Phases,
    pub cert: Option<Arc<CertSeen>>,
    /// When the 101 arrived: the conversation's `transfer` phase counts from here.
    pub at: Instant,
}

/// Why no WebSocket was opened.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// Resolution, TCP connect or the TLS handshake failed.
    #[error("{0}")]
    Transport(h1::Error),
    /// The server answered the upgrade with another status (a 403 from an auth proxy, a 404, a 200 page).
    #[error("the server answered the WebSocket upgrade with {status} instead of 101 Switching Protocols")]
    Refused { status: StatusCode, body: Vec<u8> },
    /// The 101 arrived but broke the protocol (a wrong `Sec-WebSocket-Accept`), or the connection broke.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
    /// The open WebSocket broke (reset, invalid frame).
    #[error("{0}")]
    Broken(String),
    /// A message or frame over the cap.
    #[error("a WebSocket message is too large: {0}")]
    TooLarge(String),
}

impl WsError {
    pub fn reason(&self) -> Reason {
        match self {
            WsError::Transport(e) => e.reason(),
            WsError::Refused { .. } => Reason::Status,
            WsError::Handshake(_) | WsError::Broken(_) => Reason::Connect,
            WsError::TooLarge(_) => Reason::Body,
        }
    }
}

/// The URL to connect to (`http`/`https`: the own client's target) and the one to upgrade (`ws`/`wss`), from a
/// step URL of either family: a path joined to an `https` target becomes `wss`. `None` for other schemes.
pub fn urls(url: &Url) -> Option<(Url, Url)> {
    let (http, ws) = match url.scheme() {
        "ws" | "http" => ("http", "ws"),
        "wss" | "https" => ("https", "wss"),
        _ => return None,
    };
    let (mut h, mut w) = (url.clone(), url.clone());
    // Between special schemes, `set_scheme` cannot fail.
    h.set_scheme(http).ok()?;
    w.set_scheme(ws).ok()?;
    Some((h, w))
}

/// Opens the connection to `http_url` and upgrades it on `ws_url` with the step's headers and the user's
/// cookies. Messages (and frames) larger than `max_message` are refused by the reader.
pub(crate) async fn connect(
    http_url: &Url,
    ws_url: &Url,
    headers: HeaderMap,
    cookie: Option<HeaderValue>,
    tls: &Arc<ClientConfig>,
    max_message: usize,
) -> Result<Upgraded, WsError> {
    let target = Target::of(http_url).ok_or_else(|| WsError::Handshake(format!("{ws_url} has no host")))?;
    let opened = open(&target, Some(tls), &[]).await.map_err(WsError::Transport)?;
    let mut request =
        ws_url.as_str().into_client_request().map_err(|e| WsError::Handshake(format!("{ws_url}: {e}")))?;
    let out = request.headers_mut();
    for (name, value) in &headers {
        out.insert(name.clone(), value.clone());
    }
    if !out.contains_key(USER_AGENT) {
        if let Ok(ua) = HeaderValue::from_str(crate::user_agent()) {
            out.insert(USER_AGENT, ua);
        }
    }
    if let Some(cookie) = cookie {
        out.insert(COOKIE, cookie);
    }
    let config = WebSocketConfig::default().max_message_size(Some(max_message)).max_frame_size(Some(max_message));
    let sent = Instant::now();
    let (socket, response) = tokio_tungstenite::client_async_with_config(request, opened.stream, Some(config))
        .await
        .map_err(handshake_error)?;
    let at = Instant::now();
    let phases = Phases {
        dns: opened.dns,
        connect: opened.connect,
        tls: opened.tls,
        waiting: at - sent,
        transfer: Duration::ZERO,
        reused: false,
    };
    Ok(Upgraded { socket, headers: response.headers().clone(), phases, cert: opened.cert, at })
}

fn handshake_error(e: TungError) -> WsError {
    match e {
        TungError::Http(response) => {
            let (parts, body) = (*response).into_parts();
            WsError::Refused { status: parts.status, body: body.unwrap_or_default() }
        }
        TungError::Io(e) => WsError::Handshake(format!("connection error during the upgrade: {e}")),
        e => WsError::Handshake(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_joined_to_an_https_target_upgrades_on_wss() {
        let (h, w) = urls(&Url::parse("https://shop.example/ws/prices?x=1").unwrap()).unwrap();
        assert_eq!(
            (h.as_str(), w.as_str()),
            ("https://shop.example/ws/prices?x=1", "wss://shop.example/ws/prices?x=1")
        );
        let (h, w) = urls(&Url::parse("ws://127.0.0.1:8080/live").unwrap()).unwrap();
        assert_eq!((h.as_str(), w.as_str()), ("http://127.0.0.1:8080/live", "ws://127.0.0.1:8080/live"));
        assert!(urls(&Url::parse("ftp://x/").unwrap()).is_none());
    }
}
