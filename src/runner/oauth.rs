//! OAuth2 client-credentials tokens (RFC 6749 §4.4): one cache per token source per journey [`Plan`],
//! shared by all of its virtual users.
//!
//! A token is fetched on first use and kept until shortly before it expires: `expires_in` less 10% or
//! 30 s, whichever is larger ([`fresh_for`]); without `expires_in`, for [`DEFAULT_LIFETIME`]. Fetching is
//! single-flight: the cache is a tokio `Mutex`, so users that need a token while one is fetched wait for
//! that fetch instead of starting their own. The token endpoint is reached over the cache's own connection,
//! never a user's, so a user's cookies and kept connection are the journey's alone.
//!
//! [`Plan`]: crate::runner::plan::Plan

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};

use crate::http::HeaderList;
use reqwest::Method;
use tokio::sync::Mutex;
use tokio_rustls::rustls::ClientConfig;

use crate::http::h1;
use crate::model::{Body, ClientAuth, HeaderTemplate, Journey, OAuthSource, PartValue, Step};
use crate::runner::plan::resolve_url;
use crate::template::{Scope, Template};

/// How long a token without `expires_in` is kept: servers that leave it out usually issue hour-long tokens,
/// and five minutes bounds the damage if this one is shorter (a 401 refetches it anyway).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// The smallest margin before expiry at which a token is refreshed: a step's request must not race it.
const MIN_MARGIN: Duration = Duration::from_secs(30);
/// The largest token response read: a token response is a few hundred bytes, a login page a few dozen KiB.
const MAX_BODY: usize = 256 * 1024;

/// One token source's cache and connection.
#[derive(Debug)]
pub struct TokenCache {
    pub source: OAuthSource,
    /// The journey's TLS configuration (its CA, or skip-verify): the token endpoint is trusted like its sites.
    tls: Arc<ClientConfig>,
    /// The cached token and the connection, behind one lock: one fetch at a time, and users wait for it.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    client: h1::Client,
    token: Option<Cached>,
}

#[derive(Debug)]
struct Cached {
    value: Arc<str>,
    fresh_until: Instant,
}

/// Why no token: what the step's failure (reason `auth`) shows. Never holds the client secret or a token unredacted by the
/// caller's redactor (which knows the secret).
#[derive(Debug)]
pub struct TokenError {
    /// A fetch was attempted (false: the deadline passed while another user's fetch held the cache).
    pub requested: bool,
    pub message: String,
    /// `POST <token_url>`.
    pub request: Option<String>,
    pub status: Option<u16>,
    pub body: Option<Vec<u8>>,
}

impl TokenCache {
    pub fn new(source: OAuthSource, tls: Arc<ClientConfig>) -> TokenCache {
        TokenCache { source, tls, state: Mutex::new(State::default()) }
    }

    /// The cached token, or a new one fetched before `deadline` (then `true`: a request was made). `now` is
    /// the clock (injected by tests).
    pub async fn token(
        &self,
        journey: &Journey,
        deadline: Instant,
        now: fn() -> Instant,
    ) -> Result<(Arc<str>, bool), TokenError> {
        let late = |requested: bool| TokenError {
            message: format!(
                "oauth.{}: the token endpoint did not answer before the step's deadline",
                self.source.name
            ),
            requested,
            request: None,
            status: None,
            body: None,
        };
        // Waiting for another user's fetch counts against this step's deadline too.
        let Ok(mut state) = tokio::time::timeout_at(deadline.into(), self.state.lock()).await else {
            return Err(late(false));
        };
        if let Some(cached) = state.token.as_ref().filter(|c| now() < c.fresh_until) {
            return Ok((Arc::clone(&cached.value), false));
        }
        state.token = None;
        let fetched = tokio::time::timeout_at(deadline.into(), self.fetch(&mut state.client, journey)).await;
        let (value, lifetime) = match fetched {
            Ok(result) => result?,
            Err(_) => {
                // The connection may hold half a response: the next fetch starts on a new one.
                state.client.close();
                return Err(late(true));
            }
        };
        let value: Arc<str> = Arc::from(value);
        state.token = Some(Cached { value: Arc::clone(&value), fresh_until: now() + fresh_for(lifetime) });
        Ok((value, true))
    }

    /// Forgets `used` (the API refused it with 401), unless another user already replaced it.
    pub async fn invalidate(&self, used: &str) {
        let mut state = self.state.lock().await;
        if state.token.as_ref().is_some_and(|c| &*c.value == used) {
            state.token = None;
        }
    }

    /// One token request: `POST token_url` with the client-credentials form.
    async fn fetch(
        &self,
        client: &mut h1::Client,
        journey: &Journey,
    ) -> Result<(String, Option<Duration>), TokenError> {
        let scope = Scope { secrets: &journey.secrets, rows: &[], captures: &[], tokens: &[] };
        let s = &self.source;
        let auth_error =
            |message: String| TokenError { message, requested: true, request: None, status: None, body: None };
        let url_text = s.token_url.render(&scope);
        let url = resolve_url(journey, &scope, &url_text)
            .map_err(|e| auth_error(format!("oauth.{}: token_url: {e}", s.name)))?;
        let request_line = format!("POST {url}");
        let (headers, body) = self.form(&scope);
        let target = h1::Target::of(&url)
            .ok_or_else(|| auth_error(format!("oauth.{}: token_url {url} is not http(s)", s.name)))?;
        let request = h1::Request {
            method: &Method::POST,
            target,
            headers: &headers,
            trace: None,
            cookies: None,
            body: Some(body.as_bytes()),
            max_body: MAX_BODY,
            tls: Some(&self.tls),
        };
        let with_line = |mut e: TokenError| {
            e.request = Some(request_line.clone());
            e
        };
        let response = match client.send(&request).await {
            Ok(r) => r,
            Err(e) => return Err(with_line(auth_error(format!("oauth.{}: the token request failed: {e}", s.name)))),
        };
        let refused = |message: String| {
            with_line(TokenError {
                requested: true,
                message: format!("oauth.{}: {message}", s.name),
                request: None,
                status: Some(response.status.as_u16()),
                body: Some(response.body.clone()),
            })
        };
        if !response.status.is_success() {
            return Err(refused(format!("the token endpoint answered {}", response.status)));
        }
        let parsed: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|_| refused("the token endpoint's answer is not JSON".to_string()))?;
        let Some(token) = parsed.get("access_token").and_then(|t| t.as_str()).filter(|t| !t.is_empty()) else {
            return Err(refused("the token endpoint's answer has no access_token".to_string()));
        };
        let lifetime = parsed.get("expires_in").and_then(|e| e.as_u64().or_else(|| e.as_str()?.parse().ok()));
        Ok((token.to_string(), lifetime.map(Duration::from_secs)))
    }

    /// The headers and form body of a token request, client authentication as configured.
    fn form(&self, scope: &Scope<'_>) -> (HeaderList, String) {
        let s = &self.source;
        let render = |t: &Template| t.render(scope).into_owned();
        let (id, secret) = (render(&s.client_id), render(&s.client_secret));
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope_value) = &s.scope {
            form.append_pair("scope", &render(scope_value));
        }
        if let Some(audience) = &s.audience {
            form.append_pair("audience", &render(audience));
        }
        let mut headers = HeaderList::new();
        match s.auth {
            ClientAuth::Body => {
                form.append_pair("client_id", &id);
                form.append_pair("client_secret", &secret);
            }
            ClientAuth::Header => {
                // RFC 6749 §2.3.1: each part form-encoded before the Basic encoding.
                let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", enc(&id), enc(&secret));
                let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair);
                if let Ok(v) = HeaderValue::from_str(&format!("Basic {basic}")) {
                    headers.push((AUTHORIZATION, v));
                }
            }
        }
        headers.push((CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded")));
        headers.push((ACCEPT, HeaderValue::from_static("application/json")));
        if let Ok(ua) = HeaderValue::from_str(crate::user_agent()) {
            headers.push((USER_AGENT, ua));
        }
        (headers, form.finish())
    }
}

/// How long a token with this lifetime is used: its lifetime less 10% or 30 s, whichever is larger.
pub fn fresh_for(lifetime: Option<Duration>) -> Duration {
    match lifetime {
        None => DEFAULT_LIFETIME,
        Some(l) => l.saturating_sub((l / 10).max(MIN_MARGIN)),
    }
}

/// The `oauth` sources a step uses (URL, query, headers with the journey's defaults, body), in index order.
pub fn sources_used<'a>(step: &'a Step, headers: impl Iterator<Item = &'a HeaderTemplate>) -> Vec<usize> {
    let mut templates: Vec<&Template> = vec![&step.url];
    templates.extend(step.query.iter().map(|(_, t)| t));
    templates.extend(headers.filter_map(|h| match h {
        HeaderTemplate::Dynamic(t) => Some(t),
        HeaderTemplate::Static(_) => None,
    }));
    match &step.body {
        None => {}
        Some(Body::Json(json)) => templates.extend(json.templates()),
        Some(Body::Form(fields)) => templates.extend(fields.iter().map(|(_, t)| t)),
        Some(Body::Raw { text, .. }) => templates.push(text),
        Some(Body::Multipart(parts)) => templates.extend(parts.iter().filter_map(|p| match &p.value {
            PartValue::Field(t) => Some(t),
            PartValue::File(_) => None,
        })),
        Some(Body::Graphql(g)) => {
            templates.push(&g.query);
            templates.extend(g.variables.iter().flat_map(|v| v.templates()));
        }
    }
    let mut used = Vec::new();
    for t in templates {
        for p in &t.parts {
            if let crate::template::Part::Expr(e) = p {
                e.oauth_sources(&mut used);
            }
        }
    }
    used.sort_unstable();
    used.dedup();
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        assert_eq!(fresh_for(None), DEFAULT_LIFETIME);
        assert_eq!(fresh_for(Some(Duration::from_secs(3600))), Duration::from_secs(3240));
        assert_eq!(fresh_for(Some(Duration::from_secs(120))), Duration::from_secs(90));
        assert_eq!(fresh_for(Some(Duration::from_secs(1))), Duration::ZERO);
    }
}
