//! Building a step's request: its URL (fixed in the plan, or rendered and resolved), query, headers and
//! body rendered with the iteration's scope, and userinfo turned into Basic auth (the trace headers are the
//! sender's: [`crate::http::TraceContext`]). A child
//! module of `iteration` (the first stage of its pipeline), so it shares the pipeline's `StepCall` and
//! `failure`.

use std::borrow::Cow;
use std::time::Instant;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;

use super::{failure, StepCall};
use crate::http::{credentials, has_header, HeaderList};
use crate::model::Step;
use crate::outcome::{Failure, Reason};
use crate::redact::Redactor;
use crate::runner::body::render_body;
use crate::runner::plan::{resolve_url, HeaderTemplate};
use crate::template::{RenderError, Scope};

/// The step's request, rendered.
pub(super) struct Request<'a> {
    /// Borrowed from the plan when fixed (most steps): no copy per request.
    pub(super) url: Cow<'a, Url>,
    pub(super) headers: HeaderList,
    pub(super) body: Option<Vec<u8>>,
    /// When the request counts as sent (service time starts): after the body is rendered.
    pub(super) sent: Instant,
}

impl Request<'_> {
    pub(super) fn line(&self, step: &Step) -> String {
        format!("{} {}", step.method, self.url)
    }
}

/// Renders the step's URL, headers and body. A userinfo password (`https://user:pw@host`) is a secret whether
/// declared or not: a server may echo it, and its Basic form is on the wire. It is sent as Basic auth, never
/// in the URL, so no request line or redirect chain can print it. Credentials the templates make (`totp`
/// codes, `base64` of secrets) are registered with the redactor whether or not rendering succeeds.
pub(super) fn build_request<'a>(
    call: &StepCall<'a>,
    scope: &Scope<'_>,
    redactor: &mut Redactor,
) -> Result<Request<'a>, Box<Failure>> {
    let mut derived = Vec::new();
    let rendered = render_request(call, scope, redactor, &mut derived);
    for value in &derived {
        redactor.add(value);
    }
    rendered.map_err(|e| {
        let message = match e {
            RequestError::Url(message) => return failure(redactor, call, Reason::Connect, message),
            RequestError::Template(e) => format!("the request could not be rendered: {e}"),
            RequestError::Header(name) => format!("header {name} renders to a value that is not a valid header"),
        };
        failure(redactor, call, Reason::Check, message)
    })
}

/// Why a step's request could not be built.
enum RequestError {
    /// The URL is invalid: reason `connect`.
    Url(String),
    /// A `totp` seed that is not base32.
    Template(RenderError),
    /// A header value that is not a valid header.
    Header(reqwest::header::HeaderName),
}

impl From<RenderError> for RequestError {
    fn from(e: RenderError) -> RequestError {
        RequestError::Template(e)
    }
}

fn render_request<'a>(
    call: &StepCall<'a>,
    scope: &Scope<'_>,
    redactor: &mut Redactor,
    derived: &mut Vec<String>,
) -> Result<Request<'a>, RequestError> {
    let (journey, step) = (&call.plan.journey, call.step);
    let plan_step = &call.plan.steps[call.index];
    let mut url = match &plan_step.url {
        Some(url) => Cow::Borrowed(url),
        None => {
            let text = step.url.try_render(scope, derived)?;
            Cow::Owned(resolve_url(journey, scope, &text).map_err(RequestError::Url)?)
        }
    };
    if !step.query.is_empty() {
        let values = step.query.iter().map(|(k, v)| Ok((k, v.try_render(scope, derived)?)));
        let values: Result<Vec<_>, RenderError> = values.collect();
        let mut pairs = url.to_mut().query_pairs_mut();
        for (k, v) in values? {
            pairs.append_pair(k, &v);
        }
    }
    // Userinfo is rare: one check for it, then the password becomes a secret and the URL loses it.
    let userinfo_auth = credentials::userinfo_authorization(&url);
    if userinfo_auth.is_some() {
        redactor.add_url_credentials(&url);
        credentials::strip_userinfo(url.to_mut());
    }
    let (body, content_type) = render_body(step.body.as_ref(), scope, derived)?;
    let sent = Instant::now();
    // Room for what is added below (content type, userinfo's Authorization). The plan's names are distinct.
    let mut headers = HeaderList::with_capacity(plan_step.headers.len() + 2);
    for (name, value) in &plan_step.headers {
        let v = match value {
            HeaderTemplate::Static(v) => v.clone(),
            HeaderTemplate::Dynamic(t) => {
                // A rendered string becomes the value's bytes without a copy (it is sized exactly).
                let value = match t.try_render(scope, derived)? {
                    Cow::Owned(text) => HeaderValue::from_maybe_shared(bytes::Bytes::from(text)),
                    Cow::Borrowed(text) => HeaderValue::from_str(text),
                };
                value.map_err(|_| RequestError::Header(name.clone()))?
            }
        };
        headers.push((name.clone(), v));
    }
    if let Some(ct) = content_type {
        if !has_header(&headers, &CONTENT_TYPE) {
            headers.push((CONTENT_TYPE, ct));
        }
    }
    if let Some(auth) = userinfo_auth {
        if !has_header(&headers, &AUTHORIZATION) {
            headers.push((AUTHORIZATION, auth));
        }
    }
    Ok(Request { url, headers, body, sent })
}
