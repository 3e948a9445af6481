//! A WebSocket step (`ws:`): upgrade with the step's headers and the user's cookies, send the messages,
//! wait for the first message that passes every hard check, take the captures from it, close.
//!
//! Messages that do not match are skipped, up to [`MAX_MESSAGES`] or the journey's body cap in bytes
//! (a feed that never matches fails with reason `body` rather than being read until the deadline). Failures
//! are data as for HTTP steps: `dns`/`connect`/`tls` opening the connection, `status` when the upgrade is
//! answered with anything but 101, `timeout` when no message matched before the deadline, `check` when the
//! server closed first, `capture` when the matching message lacks a capture.

use std::time::{Duration, Instant};

use crate::http::cookies::CookieJar;
use reqwest::header::HeaderMap;

use crate::http::headers::ResponseHeaders;
use reqwest::Url;
use tokio::time::timeout_at;
use tokio_tungstenite::WebSocketStream;

use super::{build_request, failure, step_tokens, StepCall, StepEnd, VirtualUser, EXCERPT};
use crate::http::h1::stream::Stream;
use crate::http::ws::{self, Message, WsError};
use crate::model::{WsMessage, WsStep};
use crate::outcome::{Failure, Reason, StepOutcome};
use crate::redact::Redactor;
use crate::runner::checks::{self, excerpt_of, ResponseView};
use crate::template::{RenderError, Scope};

/// Most messages read while waiting for one that matches.
const MAX_MESSAGES: usize = 1000;
/// Longest the close handshake may take once the step is decided: a courtesy to the server, not part of
/// the step's time.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// What the wait has seen, kept outside the deadline so a timeout can say it.
#[derive(Default)]
struct Seen {
    /// The 101's headers, once upgraded.
    upgraded: Option<ResponseHeaders>,
    /// When the 101 arrived: `transfer` counts from here.
    upgraded_at: Option<Instant>,
    messages: usize,
    bytes: usize,
    last: Option<Vec<u8>>,
}

/// How a conversation that did not break ended.
enum Ended {
    /// The first message that passed every hard check, and when it arrived.
    Matched(Vec<u8>, Instant),
    /// Nothing to wait for (no checks, no captures): sent and done.
    Sent,
    /// The server closed the WebSocket before a message matched.
    Closed,
    /// The wait read its limit of messages or bytes without a match.
    Limit(String),
}

/// What the conversation needs besides the socket: the step and how to judge a message.
struct Talk<'a> {
    call: &'a StepCall<'a>,
    scope: &'a Scope<'a>,
    redactor: &'a Redactor,
    /// The `http`/`https` form of the URL: the jar's cookies are matched against it.
    http_url: &'a Url,
}

pub(super) async fn run(
    call: &StepCall<'_>,
    vu: &mut VirtualUser,
    so: &mut StepOutcome,
    soft_failures: &mut Vec<Failure>,
    ws: &WsStep,
) -> StepEnd {
    let tokens = match step_tokens(call, &mut vu.redactor, so).await {
        Ok(tokens) => tokens,
        Err(f) => return StepEnd::Failed(f),
    };
    let rows = vu.lease.row_slices();
    let scope = Scope { secrets: &call.plan.journey.secrets, rows: &rows, captures: &vu.captures, tokens: &tokens };
    let request = match build_request(call, &scope, &mut vu.redactor) {
        Ok(request) => request,
        Err(f) => return StepEnd::Failed(f),
    };
    // The messages first: credentials they make (`totp`, `base64` of a secret) join the redactor before any
    // evidence can be written, and a message that cannot be rendered fails the step before it connects.
    let mut derived = Vec::new();
    let messages = render(&ws.send, &scope, &mut derived);
    for value in &derived {
        vu.redactor.add(value);
    }
    let redactor = &vu.redactor;
    let line = redactor.redact_owned(request.line(call.step));
    let messages = match messages {
        Ok(m) => m,
        Err(e) => {
            let message = format!("a message could not be rendered: {e}");
            return StepEnd::Failed(with_line(failure(redactor, call, Reason::Check, message), &line));
        }
    };
    let Some((http_url, ws_url)) = ws::urls(&request.url) else {
        let message = format!("{} is not a ws://, wss://, http:// or https:// URL", request.url);
        return StepEnd::Failed(with_line(failure(redactor, call, Reason::Connect, message), &line));
    };
    let deadline = call.deadline(request.sent);
    let talk = Talk { call, scope: &scope, redactor, http_url: &http_url };
    let mut seen = Seen::default();
    let headers = crate::http::header_map(&request.headers, Some(&call.trace()));
    let conversation = talk.converse(&ws_url, headers, messages, &mut seen, so);
    let ended = timeout_at(deadline.into(), conversation).await;
    let done = Instant::now();
    so.service_time = done - request.sent;
    so.response_time = done.saturating_duration_since(call.intended);
    so.body_bytes = seen.bytes as u64;
    so.status = seen.upgraded.as_ref().map(|_| 101);
    let evidence = |reason, message: String| {
        let mut f = with_line(failure(redactor, call, reason, message), &line);
        f.status = so.status;
        f.excerpt = seen.last.as_deref().map(|m| excerpt_of(m, EXCERPT, redactor));
        f
    };
    let (socket, matched) = match ended {
        Err(_) => {
            let message =
                format!("no matching WebSocket message before the {}: {}", call.limit_text(deadline), received(&seen));
            return StepEnd::Failed(evidence(Reason::Timeout, message));
        }
        Ok(Err(e)) => {
            let mut f = evidence(e.reason(), e.to_string());
            if let WsError::Refused { status, body } = &e {
                f.status = Some(status.as_u16());
                f.excerpt = Some(excerpt_of(body, EXCERPT, redactor));
            }
            return StepEnd::Failed(f);
        }
        Ok(Ok((socket, Ended::Matched(message, at)))) => (socket, Some((message, at))),
        Ok(Ok((socket, Ended::Sent))) => (socket, None),
        Ok(Ok((_, Ended::Closed))) => {
            let message = format!("the server closed the WebSocket before a message matched: {}", received(&seen));
            return StepEnd::Failed(evidence(Reason::Check, message));
        }
        Ok(Ok((_, Ended::Limit(limit)))) => {
            let message = format!("no WebSocket message matched within {limit}");
            return StepEnd::Failed(evidence(Reason::Body, message));
        }
    };
    if let (Some((_, at)), Some(upgraded)) = (&matched, seen.upgraded_at) {
        so.phases.transfer = at.saturating_duration_since(upgraded);
    }
    close(socket, deadline).await;
    let Some((message, _)) = matched else {
        return StepEnd::Passed;
    };
    let answer = Answer { call, headers: seen.upgraded.unwrap_or_default(), message, line, tokens: &tokens };
    answer.take(vu, so, soft_failures)
}

/// The matching message, with what its evidence is made of.
struct Answer<'a> {
    call: &'a StepCall<'a>,
    /// The 101's headers.
    headers: ResponseHeaders,
    message: Vec<u8>,
    line: String,
    /// The step's `oauth` tokens, for templates in its checks.
    tokens: &'a [Option<std::sync::Arc<str>>],
}

impl Answer<'_> {
    /// Captures and soft checks on the matching message; the captures are stored if all were found.
    fn take(&self, vu: &mut VirtualUser, so: &StepOutcome, soft_failures: &mut Vec<Failure>) -> StepEnd {
        let call = self.call;
        let view = ResponseView::new(101, &self.headers, &self.message, so.response_time, None);
        let captured: Vec<_> = call.step.capture.iter().map(|c| checks::capture(&c.source, &view)).collect();
        for (cap, value) in call.step.capture.iter().zip(&captured) {
            if let (true, Ok(v)) = (cap.secret, value) {
                vu.redactor.add(v);
            }
        }
        let rows = vu.lease.row_slices();
        let scope =
            Scope { secrets: &call.plan.journey.secrets, rows: &rows, captures: &vu.captures, tokens: self.tokens };
        let redactor = &vu.redactor;
        for check in call.step.expect.iter().filter(|c| c.soft) {
            if let Err(m) = checks::evaluate(check, &view, &scope, redactor) {
                let mut f = self.failure(redactor, Reason::Check, format!("expected {}", check.text));
                f.check = Some(check.text.clone());
                f.actual = Some(m.actual);
                soft_failures.push(*f);
            }
        }
        for (cap, value) in call.step.capture.iter().zip(&captured) {
            if let Err(why) = value {
                let message = format!("capture {}: {}", cap.name, why.describe(&self.message, redactor));
                return StepEnd::Failed(self.failure(redactor, Reason::Capture, message));
            }
        }
        drop(view);
        for (cap, value) in call.step.capture.iter().zip(captured) {
            if let Ok(v) = value {
                vu.captures[cap.slot] = Some(v);
            }
        }
        StepEnd::Passed
    }

    fn failure(&self, redactor: &Redactor, reason: Reason, message: String) -> Box<Failure> {
        let mut f = with_line(failure(redactor, self.call, reason, message), &self.line);
        f.status = Some(101);
        f.excerpt = Some(excerpt_of(&self.message, EXCERPT, redactor));
        f
    }
}

impl Talk<'_> {
    /// Upgrades, sends, and waits for the matching message; what it sees is written to `seen` as it goes.
    async fn converse(
        &self,
        ws_url: &Url,
        headers: HeaderMap,
        messages: Vec<String>,
        seen: &mut Seen,
        so: &mut StepOutcome,
    ) -> Result<(WebSocketStream<Stream>, Ended), WsError> {
        use futures_util::{SinkExt, StreamExt};
        let journey = &self.call.plan.journey;
        let cookie = self.call.jar.get().and_then(|j| j.cookies(self.http_url));
        let max = journey.defaults.max_body_bytes;
        let up = ws::connect(self.http_url, ws_url, headers, cookie, &self.call.plan.client.tls, max).await?;
        so.phases = up.phases;
        so.tls = up.cert;
        let headers = ResponseHeaders::from_map(&up.headers);
        let mut set_cookies = headers.get_all("set-cookie").peekable();
        if set_cookies.peek().is_some() {
            self.call.jar.get_or_init(CookieJar::default).set_cookies(&mut set_cookies, self.http_url);
        }
        drop(set_cookies);
        seen.upgraded = Some(headers);
        seen.upgraded_at = Some(up.at);
        let mut socket = up.socket;
        for text in messages {
            socket.send(Message::text(text)).await.map_err(|e| broken("sending a message", e))?;
        }
        let step = self.call.step;
        if step.expect.is_empty() && step.capture.is_empty() {
            return Ok((socket, Ended::Sent));
        }
        loop {
            let data = match socket.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok((socket, Ended::Closed)),
                Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
                Some(Ok(Message::Binary(b))) => b.to_vec(),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(broken("reading a message", e)),
            };
            let at = Instant::now();
            seen.messages += 1;
            seen.bytes += data.len();
            if self.matches(seen.upgraded.as_ref().unwrap_or(&ResponseHeaders::default()), &data, at) {
                return Ok((socket, Ended::Matched(data, at)));
            }
            seen.last = Some(data);
            if seen.messages >= MAX_MESSAGES || seen.bytes >= max {
                let limit = format!(
                    "{} messages, {} bytes (the limit is {MAX_MESSAGES} or max_body)",
                    seen.messages, seen.bytes
                );
                return Ok((socket, Ended::Limit(limit)));
            }
        }
    }

    /// Whether a message passes every hard check (soft ones are judged on the match only).
    fn matches(&self, headers: &ResponseHeaders, data: &[u8], at: Instant) -> bool {
        let elapsed = at.saturating_duration_since(self.call.intended);
        let view = ResponseView::new(101, headers, data, elapsed, None);
        self.call
            .step
            .expect
            .iter()
            .filter(|c| !c.soft)
            .all(|c| checks::evaluate(c, &view, self.scope, self.redactor).is_ok())
    }
}

/// The step's messages, rendered; credentials made while rendering go to `derived`.
fn render(send: &[WsMessage], scope: &Scope<'_>, derived: &mut Vec<String>) -> Result<Vec<String>, RenderError> {
    send.iter()
        .map(|message| match message {
            WsMessage::Text(t) => Ok(t.try_render(scope, derived)?.into_owned()),
            WsMessage::Json(j) => Ok(String::from_utf8_lossy(&j.try_render(scope, derived)?).into_owned()),
        })
        .collect()
}

fn received(seen: &Seen) -> String {
    match (seen.upgraded.is_some(), seen.messages) {
        (false, _) => "the upgrade was not answered".into(),
        (true, 0) => "no message received".into(),
        (true, 1) => "1 message received, it did not match".into(),
        (true, n) => format!("{n} messages received, none matched"),
    }
}

fn broken(doing: &str, e: tokio_tungstenite::tungstenite::Error) -> WsError {
    match e {
        tokio_tungstenite::tungstenite::Error::Capacity(e) => WsError::TooLarge(format!("{e} (the limit is max_body)")),
        e => WsError::Broken(format!("the WebSocket broke while {doing}: {e}")),
    }
}

fn with_line(mut f: Box<Failure>, line: &str) -> Box<Failure> {
    f.request = Some(line.to_string());
    f
}

/// Closes the WebSocket politely, within [`CLOSE_GRACE`] and the step's deadline.
async fn close(mut socket: WebSocketStream<Stream>, deadline: Instant) {
    let until = deadline.min(Instant::now() + CLOSE_GRACE);
    let _ = timeout_at(until.into(), socket.close(None)).await;
}
