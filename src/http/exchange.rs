//! One step's exchange: send the request, follow redirects (the user's cookies on every hop, credentials
//! kept with their origin, https → http refused unless allowed), read the body under its cap and decode it.
//!
//! It knows nothing of steps or journeys: it returns the response, or a [`TransportError`] that says what
//! broke, and the runner — the one place that knows the step — turns that into a `Failure` with redacted
//! evidence. The redirect [`Trail`] is the caller's, so it outlives a deadline that drops the exchange.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::http::cookies::CookieJar;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT_ENCODING, COOKIE};
use reqwest::{Method, StatusCode, Url};

use crate::http::credentials::{self, for_other_origin, is_downgrade, origin_text, same_origin};
use crate::http::decode::{self, Coding};
use crate::http::headers::{value_str, ResponseHeaders};
use crate::http::{self, h1, HeaderList, JourneyClient, PhaseRecorder, TraceContext, UserConnections};
use crate::outcome::{CertSeen, Phases, Reason};

/// What a step sends. A redirect may change the method and drop the body; a hop to another origin goes
/// without the credentials (`http::credentials`).
#[derive(Debug)]
pub struct Outgoing<'a> {
    pub method: &'a Method,
    /// The step's URL, without userinfo: its origin is the one the credentials are for.
    pub url: &'a Url,
    pub headers: HeaderList,
    /// The step's trace context, sent on every hop.
    pub trace: TraceContext,
    /// Headers rendered from secrets: like `Authorization`, not sent to another origin.
    pub sensitive: &'a [HeaderName],
    /// Borrowed from the rendered request, which outlives the exchange: the own client writes it from
    /// there (reqwest, the escape hatch, gets a copy per hop).
    pub body: Option<&'a [u8]>,
    pub max_redirects: u32,
    /// Largest body accepted, after decoding.
    pub max_body: usize,
    /// `defaults: { redirects_to_http: true }`: an https → http redirect is followed.
    pub redirects_to_http: bool,
}

/// The user's side of the exchange: its connections, the journey's client settings and the user's cookies.
#[derive(Debug)]
pub struct Agent<'a> {
    /// This user's connections (never another user's).
    pub connections: &'a mut UserConnections,
    pub client: &'a JourneyClient,
    /// Phase timing on the reqwest path (the own client times its phases itself).
    pub recorder: &'a Arc<PhaseRecorder>,
    /// Created on the first Set-Cookie: most steps of most journeys have none to send.
    pub jar: &'a OnceLock<CookieJar>,
}

/// The final response of a step, its body read and decoded.
#[derive(Debug)]
pub struct Exchange {
    pub status: StatusCode,
    pub headers: ResponseHeaders,
    pub body: Vec<u8>,
    /// Where a redirect led; `None`: the step's own URL answered (no copy of it per request).
    pub moved: Option<Url>,
    /// When the body was complete.
    pub done: Instant,
    /// Timing of the last hop.
    pub phases: Phases,
    /// What the last hop's TLS handshake presented, when it opened a new https connection.
    pub cert: Option<Arc<CertSeen>>,
}

/// Why an exchange got no usable response. Not redacted: the caller redacts before it becomes evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportError {
    pub reason: Reason,
    /// One line, without the URL (the caller adds a redacted request line).
    pub message: String,
    /// The status of the response whose redirect or body failed, when one came.
    pub status: Option<u16>,
    /// What arrived of a body that broke or was too large (`Some(empty)`: nothing did; `None`: not shown).
    pub partial: Option<Vec<u8>>,
}

impl TransportError {
    fn new(reason: Reason, message: String) -> TransportError {
        TransportError { reason, message, status: None, partial: None }
    }

    fn of_response(reason: Reason, message: String, status: StatusCode, partial: Option<Vec<u8>>) -> TransportError {
        TransportError { reason, message, status: Some(status.as_u16()), partial }
    }
}

/// Each request of a redirect chain, in order, with the status it got (`None`: none yet, or none came).
/// Empty, and never allocated, when the step's URL answered without a redirect.
pub type Trail = Vec<(Option<u16>, Url)>;

/// Redirects followed so far: every followed redirect adds one request after the first to the trail.
pub fn redirects_followed(trail: &Trail) -> u32 {
    trail.len().saturating_sub(1) as u32
}

/// One hop's response: the head, and the body read (h1) or still to read (reqwest).
struct Hop {
    status: StatusCode,
    headers: ResponseHeaders,
    body: HopBody,
    started: Instant,
    head_at: Instant,
    phases: Phases,
    cert: Option<Arc<CertSeen>>,
}

enum HopBody {
    Read(Vec<u8>),
    Pending(reqwest::Response),
}

/// Sends the request and follows redirects up to `max_redirects`, applying the jar on every hop, keeping
/// credentials with their origin and refusing https → http unless allowed. Each request after the first
/// redirect is written to `trail`; a failed hop's status, when a response came, goes on it too.
pub async fn send_following(
    agent: Agent<'_>,
    mut out: Outgoing<'_>,
    trail: &mut Trail,
    // When the first hop starts (the step's send time); later hops take their own.
    mut hop_started: Instant,
) -> Result<Exchange, TransportError> {
    let first = out.url;
    let mut method = out.method.clone();
    let mut body = out.body.take();
    // Owned only once a redirect moves away from the step's URL.
    let mut moved: Option<Url> = None;
    // The step's headers without its credentials, made on the first hop to another origin.
    let mut foreign: Option<HeaderList> = None;
    let failed = |trail: &mut Trail, e: TransportError| {
        if let Some(last) = trail.last_mut() {
            last.0 = e.status;
        }
        e
    };
    loop {
        let url = moved.as_ref().unwrap_or(first);
        let headers = match &moved {
            Some(u) if !same_origin(u, first) => {
                foreign.get_or_insert_with(|| for_other_origin(&out.headers, out.sensitive))
            }
            _ => &out.headers,
        };
        let target = if agent.client.own { h1::Target::of(url) } else { None };
        let hop = match target {
            Some(target) => {
                let request = h1::Request {
                    method: &method,
                    target,
                    headers,
                    trace: Some(&out.trace),
                    cookies: agent.jar.get(),
                    body,
                    max_body: out.max_body,
                    tls: Some(&agent.client.tls),
                };
                send_h1(&mut agent.connections.h1, &request, hop_started).await
            }
            None => match user_reqwest(&mut agent.connections.reqwest, agent.client) {
                Ok(client) => {
                    let cookie = agent.jar.get().and_then(|j| j.cookies(url));
                    let headers = http::header_map(headers, Some(&out.trace));
                    let request =
                        ReqwestHop { method: &method, url, headers, cookie, body: body.map(Bytes::copy_from_slice) };
                    send_reqwest(client, agent.recorder, request, hop_started).await
                }
                Err(e) => Err(e),
            },
        };
        let hop = hop.map_err(|e| failed(trail, e))?;
        let mut set_cookies = hop.headers.get_all("set-cookie").peekable();
        if set_cookies.peek().is_some() {
            agent.jar.get_or_init(CookieJar::default).set_cookies(&mut set_cookies, url);
        }
        drop(set_cookies);
        if let Some(next) = redirect_target(&out, url, &hop, trail)? {
            let status = hop.status;
            if matches!(status, StatusCode::SEE_OTHER)
                || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND) && method == Method::POST)
            {
                method = Method::GET;
                body = None;
            }
            trail.push((None, next.clone()));
            moved = Some(next);
            hop_started = Instant::now();
            continue;
        }
        let status = hop.status;
        let (headers, body) =
            read_body(hop.headers, hop.body, status, out.max_body).await.map_err(|e| failed(trail, e))?;
        if let Some(last) = trail.last_mut() {
            last.0 = Some(status.as_u16());
        }
        let done = Instant::now();
        let setup = hop.phases.dns + hop.phases.connect + hop.phases.tls;
        let phases = Phases {
            waiting: (hop.head_at - hop.started).saturating_sub(setup),
            transfer: done - hop.head_at,
            ..hop.phases
        };
        return Ok(Exchange { status, headers, body, moved, done, phases, cert: hop.cert });
    }
}

/// Where a redirect response leads, if it is one to follow: `None` for a final response. Records the hop's
/// status on the trail (starting it with the step's URL on the first redirect); refuses a loop, one redirect
/// too many, an invalid `Location` and an unallowed https → http downgrade.
fn redirect_target(out: &Outgoing<'_>, url: &Url, hop: &Hop, trail: &mut Trail) -> Result<Option<Url>, TransportError> {
    let status = hop.status;
    if !status.is_redirection() || out.max_redirects == 0 {
        return Ok(None);
    }
    let Some(location) = hop.headers.get("location").and_then(value_str) else {
        return Ok(None);
    };
    if trail.is_empty() {
        trail.push((None, out.url.clone()));
    }
    if let Some(last) = trail.last_mut() {
        last.0 = Some(status.as_u16());
    }
    let redirect = |message: String| TransportError::of_response(Reason::Redirect, message, status, None);
    let mut next = url.join(location).map_err(|e| redirect(format!("invalid Location {location:?}: {e}")))?;
    // Credentials come from the step only: userinfo in a Location is never followed with.
    if credentials::has_userinfo(&next) {
        credentials::strip_userinfo(&mut next);
    }
    let followed = redirects_followed(trail);
    if followed >= out.max_redirects {
        let looped = trail.iter().any(|(_, u)| *u == next);
        let max_redirects = out.max_redirects;
        return Err(redirect(if looped {
            format!("redirect loop: {} redirects, back to {}", followed + 1, next.path())
        } else {
            format!("more than {max_redirects} redirects (last to {})", next.path())
        }));
    }
    if is_downgrade(url, &next) && !out.redirects_to_http {
        return Err(redirect(format!(
            "refused a redirect from {} to {}: it would send the request, and anything it carries, \
             unencrypted (allow it with `defaults: {{ redirects_to_http: true }}`)",
            origin_text(url),
            origin_text(&next)
        )));
    }
    Ok(Some(next))
}

/// The final response's body, read under the cap and decoded. Both clients decode gzip; h1 deflate too.
/// What is left is deflate on the reqwest path (decoded here, raw or zlib, which reqwest's decoder is not),
/// or a coding neither can decode: checks must never run against compressed bytes.
async fn read_body(
    mut headers: ResponseHeaders,
    body: HopBody,
    status: StatusCode,
    cap: usize,
) -> Result<(ResponseHeaders, Vec<u8>), TransportError> {
    let body_error =
        |message: String, partial: Option<Vec<u8>>| TransportError::of_response(Reason::Body, message, status, partial);
    let mut body = match body {
        HopBody::Read(body) => body,
        HopBody::Pending(response) => {
            read_capped(response, cap).await.map_err(|(message, partial)| body_error(message, Some(partial)))?
        }
    };
    if let Some(coding) = headers.get("content-encoding").filter(|_| !body.is_empty()) {
        body = match decode::coding_of(coding) {
            Ok(Coding::Identity) => body,
            Ok(coding) => {
                decode::decode(coding, &body, cap).map_err(|(message, partial)| body_error(message, Some(partial)))?
            }
            Err(unsupported) => return Err(body_error(unsupported.to_string(), None)),
        };
        headers.remove("content-encoding");
        headers.remove("content-length");
    }
    Ok((headers, body))
}

/// One hop on the user's own HTTP/1.1 connection; the body is read too (the connection is reused after it).
async fn send_h1(client: &mut h1::Client, request: &h1::Request<'_>, started: Instant) -> Result<Hop, TransportError> {
    match client.send(request).await {
        Ok(r) => Ok(Hop {
            status: r.status,
            headers: r.headers,
            body: HopBody::Read(r.body),
            started,
            head_at: r.head_at,
            phases: Phases { dns: r.dns, connect: r.connect, tls: r.tls, reused: r.reused, ..Phases::default() },
            cert: r.cert,
        }),
        Err(h1::Error::Body { status, message, partial }) => {
            Err(TransportError::of_response(Reason::Body, message, status, Some(partial)))
        }
        Err(e) => Err(TransportError::new(e.reason(), e.to_string())),
    }
}

/// One hop's request on the reqwest path.
struct ReqwestHop<'a> {
    method: &'a Method,
    url: &'a Url,
    headers: HeaderMap,
    cookie: Option<HeaderValue>,
    body: Option<Bytes>,
}

/// One hop on the user's reqwest client (`JOURNEYD_HTTP_CLIENT=reqwest`); the body
/// is left to read once the runner knows it is not a redirect.
async fn send_reqwest(
    client: &reqwest::Client,
    recorder: &Arc<PhaseRecorder>,
    hop: ReqwestHop<'_>,
    started: Instant,
) -> Result<Hop, TransportError> {
    let encoding_set = hop.headers.contains_key(ACCEPT_ENCODING);
    let mut req = client.request(hop.method.clone(), hop.url.clone()).headers(hop.headers);
    // What both clients decode (reqwest alone would ask for gzip only); the runner decodes deflate.
    if !encoding_set {
        req = req.header(ACCEPT_ENCODING, HeaderValue::from_static(decode::ACCEPT_ENCODING));
    }
    if let Some(cookie) = hop.cookie {
        req = req.header(COOKIE, cookie);
    }
    if let Some(b) = hop.body {
        req = req.body(b);
    }
    recorder.reset();
    let response = http::with_recorder(Arc::clone(recorder), req.send()).await;
    let head_at = Instant::now();
    let response = response.map_err(|e| {
        let (reason, message) = http::classify(&e);
        TransportError::new(reason, message)
    })?;
    let rec = recorder;
    let phases = Phases {
        dns: rec.dns(),
        connect: rec.connect(),
        tls: rec.tls(),
        reused: !rec.new_connection() && rec.dns().is_zero(),
        ..Phases::default()
    };
    let headers = ResponseHeaders::from_map(response.headers());
    let response_status = response.status();
    // reqwest exposes no handshake: the certificate is read on the own client only.
    let body = HopBody::Pending(response);
    Ok(Hop { status: response_status, headers, body, started, head_at, phases, cert: None })
}

/// The user's reqwest client, made on its first request.
fn user_reqwest<'c>(
    slot: &'c mut Option<reqwest::Client>,
    client: &JourneyClient,
) -> Result<&'c reqwest::Client, TransportError> {
    if slot.is_none() {
        let made = client.reqwest().map_err(|e| TransportError::new(Reason::Connect, http::error_chain(&e)))?;
        *slot = Some(made);
    }
    Ok(slot.as_ref().expect("set above"))
}

/// Reads the body chunk by chunk (after decompression), failing once it exceeds `cap`: a 100 MB page or a
/// gzip bomb costs at most `cap` bytes of memory per user. The error holds what was read.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, (String, Vec<u8>)> {
    let hint = response.content_length().unwrap_or(0).min(cap as u64) as usize;
    let mut body = Vec::with_capacity(hint.min(64 * 1024));
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    let message = http::body_cap_message(cap);
                    body.extend_from_slice(&chunk[..cap.saturating_sub(body.len()).min(chunk.len())]);
                    return Err((message, body));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                // A reset or truncated body after the headers arrived: the body is what broke.
                let (_, message) = http::classify(&e);
                return Err((format!("reading the body: {message}"), body));
            }
        }
    }
}
