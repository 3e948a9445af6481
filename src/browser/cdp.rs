//! A small Chrome DevTools Protocol connection: one WebSocket to the browser, one task that owns it, writes
//! commands and reads everything; answers go to the caller by `id`, events to the page by `sessionId`
//! (flat sessions, `Target.attachToTarget { flatten: true }`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::BrowserError;

/// Events buffered per page between two of its calls. A page that is not being driven (a journey thinking)
/// still receives network and console events; past this many, newer events are dropped, and the count of
/// what was lost is reported with the signals. Sized for a heavy page load (a few hundred requests, each
/// with 3–4 events).
pub(crate) const EVENTS_PER_PAGE: usize = 4096;

/// Commands queued to the writer. Callers wait for space, each until its own deadline.
const OUTBOX: usize = 256;

/// The largest message accepted from Chromium: a full-page PNG screenshot in base64 can be several MB.
const MAX_MESSAGE: usize = 64 << 20;

/// One CDP event for a page: its method and params.
pub(crate) struct Event {
    pub method: String,
    pub params: Value,
}

type Reply = Result<Value, BrowserError>;

/// A cheap handle to the browser's one DevTools connection.
#[derive(Clone)]
pub(crate) struct Connection {
    inner: Arc<Shared>,
}

struct Shared {
    outbox: mpsc::Sender<String>,
    next_id: AtomicU64,
    /// Callers waiting for an answer, by command id. Emptied (answering `Crashed`) when the socket closes.
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Each attached page's event channel, by session id. Removed on `Target.detachedFromTarget`, and all
    /// dropped when the socket closes, so a page waiting for an event learns that its browser is gone.
    sessions: Mutex<HashMap<String, Session>>,
    closed: AtomicBool,
}

struct Session {
    events: mpsc::Sender<Event>,
    /// Events dropped because the page's channel was full.
    lost: Arc<AtomicU64>,
}

/// The receiving end of one page's events.
pub(crate) struct Events {
    pub rx: mpsc::Receiver<Event>,
    pub lost: Arc<AtomicU64>,
}

impl Connection {
    /// Opens the WebSocket at `ws_url` (`ws://127.0.0.1:PORT/devtools/browser/ID`) and starts the task that
    /// owns it.
    pub async fn connect(ws_url: &str, deadline: Instant) -> Result<Connection, BrowserError> {
        let authority = ws_url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| BrowserError::Protocol(format!("Chromium printed an odd DevTools address {ws_url}")))?;
        let connect = async {
            let tcp = TcpStream::connect(authority).await.map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let config =
                WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
            tokio_tungstenite::client_async_with_config(ws_url, tcp, Some(config)).await.map_err(|e| e.to_string())
        };
        let (socket, _) = tokio::time::timeout_at(deadline, connect)
            .await
            .map_err(|_| BrowserError::Timeout(format!("Chromium's DevTools socket {ws_url}")))?
            .map_err(|e| BrowserError::Unavailable(format!("cannot open Chromium's DevTools socket {ws_url}: {e}")))?;
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let shared = Arc::new(Shared {
            outbox,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(run(socket, rx, shared.clone()));
        Ok(Connection { inner: shared })
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Registers a page's session before its domains are enabled, so no event is missed.
    pub fn subscribe(&self, session: &str) -> Events {
        let (tx, rx) = mpsc::channel(EVENTS_PER_PAGE);
        let lost = Arc::new(AtomicU64::new(0));
        lock(&self.inner.sessions).insert(session.to_string(), Session { events: tx, lost: lost.clone() });
        Events { rx, lost }
    }

    pub fn unsubscribe(&self, session: &str) {
        lock(&self.inner.sessions).remove(session);
    }

    /// Sends `method` (to the page's `session`, or to the browser) and waits for its answer until
    /// `deadline`. A timeout forgets the command; a late answer is dropped.
    pub async fn call(&self, session: Option<&str>, method: &str, params: Value, deadline: Instant) -> Reply {
        if self.is_closed() {
            return Err(closed(method));
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = Value::String(session.to_string());
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.pending).insert(id, tx);
        let exchange = async {
            self.inner.outbox.send(message.to_string()).await.map_err(|_| closed(method))?;
            rx.await.map_err(|_| closed(method))?
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(reply) => reply,
            Err(_) => {
                lock(&self.inner.pending).remove(&id);
                Err(BrowserError::Timeout(format!("Chromium to answer {method}")))
            }
        }
    }
}

fn closed(method: &str) -> BrowserError {
    BrowserError::Crashed(format!("the connection to Chromium closed during {method}"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The task that owns the socket: writes queued commands, reads answers and events, until either side
/// closes. Then every waiting caller and page learns the browser is gone.
async fn run(mut socket: WebSocketStream<TcpStream>, mut outbox: mpsc::Receiver<String>, shared: Arc<Shared>) {
    loop {
        tokio::select! {
            command = outbox.recv() => match command {
                Some(text) => {
                    if socket.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Text(text))) => dispatch(&shared, text.as_str()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    shared.closed.store(true, Ordering::Release);
    lock(&shared.pending).clear();
    lock(&shared.sessions).clear();
    let _ = socket.close(None).await;
}

fn dispatch(shared: &Shared, text: &str) {
    let Ok(mut message) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if let Some(id) = message.get("id").and_then(Value::as_u64) {
        let Some(tx) = lock(&shared.pending).remove(&id) else {
            return; // the caller gave up at its deadline
        };
        let reply = match message.get_mut("error") {
            Some(error) => Err(BrowserError::Protocol(
                error.get("message").and_then(Value::as_str).unwrap_or("error without a message").to_string(),
            )),
            None => Ok(message.get_mut("result").map(Value::take).unwrap_or(Value::Null)),
        };
        let _ = tx.send(reply);
        return;
    }
    let method = message.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
    let params = message.get_mut("params").map(Value::take).unwrap_or(Value::Null);
    if method == "Target.detachedFromTarget" {
        if let Some(session) = params.get("sessionId").and_then(Value::as_str) {
            lock(&shared.sessions).remove(session);
        }
        return;
    }
    let Some(session) = message.get("sessionId").and_then(Value::as_str) else {
        return; // browser-level events: nothing subscribes to them
    };
    let sessions = lock(&shared.sessions);
    if let Some(page) = sessions.get(session) {
        if page.events.try_send(Event { method, params }).is_err() {
            page.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}
