//! A journey prepared for running: header names parsed, methods parsed, row pools and the redactor built —
//! everything that can be done once instead of per request.

use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;

use crate::http::Clients;
use crate::model::{Journey, Template};
use crate::redact::Redactor;
use crate::runner::leases::RowPools;

/// A journey ready to run, shared by all of its virtual users.
#[derive(Debug)]
pub struct Plan {
    pub journey: Arc<Journey>,
    /// The `journey` label value, shared by every outcome without copying.
    pub name: Arc<str>,
    pub pools: Arc<RowPools>,
    /// Masks the journey's secrets; each virtual user extends a clone with its secret captures.
    pub redactor: Redactor,
    pub client: reqwest::Client,
    /// Plain `http` requests go through the per-user [`crate::http::h1`] client.
    pub plain_h1: bool,
    pub(crate) steps: Vec<StepPlan>,
}

#[derive(Debug)]
pub(crate) struct StepPlan {
    pub method: Method,
    /// The URL, parsed once, when neither it nor the journey's target has a template in it.
    pub url: Option<reqwest::Url>,
    /// Journey default headers first, then the step's (a step header replaces a default of the same name).
    pub headers: Vec<(HeaderName, HeaderTemplate)>,
    /// Headers whose value renders from a secret or a secret capture: like `Authorization`, never sent on a
    /// redirect to another origin (`http::credentials`).
    pub sensitive: Vec<HeaderName>,
}

#[derive(Debug)]
pub(crate) enum HeaderTemplate {
    /// Built once; cloning a `HeaderValue` of static bytes does not allocate.
    Static(HeaderValue),
    Dynamic(Template),
}

/// A journey the runner cannot prepare (the loader validates what it can; this catches the rest).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("journey {journey}: step {step}: invalid header name {name:?}")]
    HeaderName { journey: String, step: String, name: String },
    #[error("journey {journey}: step {step}: invalid header value for {name}")]
    HeaderValue { journey: String, step: String, name: String },
    #[error("journey {journey}: step {step}: invalid method {method:?}")]
    Method { journey: String, step: String, method: String },
    #[error("journey {journey}: {message}")]
    Client { journey: String, message: String },
}

impl Plan {
    pub fn new(journey: Arc<Journey>, clients: &Clients) -> Result<Plan, PlanError> {
        let mut steps = Vec::with_capacity(journey.steps.len());
        for step in &journey.steps {
            let method = Method::from_bytes(step.method.as_bytes()).map_err(|_| PlanError::Method {
                journey: journey.name.clone(),
                step: step.name.clone(),
                method: step.method.clone(),
            })?;
            let mut headers: Vec<(HeaderName, HeaderTemplate)> = Vec::new();
            let mut sensitive: Vec<HeaderName> = Vec::new();
            for (name, value) in journey.defaults.headers.iter().chain(step.headers.iter()) {
                let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| PlanError::HeaderName {
                    journey: journey.name.clone(),
                    step: step.name.clone(),
                    name: name.clone(),
                })?;
                let secret =
                    value.uses_secret() || value.capture_slots().any(|slot| journey.secret_captures.contains(&slot));
                let template = if value.is_literal() {
                    let text = value.render(&crate::template::Scope { secrets: &[], rows: &[], captures: &[] });
                    let v = HeaderValue::from_str(&text).map_err(|_| PlanError::HeaderValue {
                        journey: journey.name.clone(),
                        step: step.name.clone(),
                        name: name.clone(),
                    })?;
                    HeaderTemplate::Static(v)
                } else {
                    HeaderTemplate::Dynamic(value.clone())
                };
                headers.retain(|(n, _)| n != header);
                sensitive.retain(|n| n != header);
                if secret {
                    sensitive.push(header.clone());
                }
                headers.push((header, template));
            }
            let url = fixed_url(&journey, step);
            steps.push(StepPlan { method, url, headers, sensitive });
        }
        let redactor = Redactor::new(journey.secrets.iter().map(|s| s.value.as_str()));
        Ok(Plan {
            name: Arc::from(journey.name.as_str()),
            pools: RowPools::new(&journey.data),
            redactor,
            client: clients
                .for_journey(journey.defaults.tls_skip_verify, journey.defaults.tls_ca.as_deref())
                .map_err(|e| PlanError::Client { journey: journey.name.clone(), message: e.to_string() })?,
            plain_h1: clients.plain_h1,
            steps,
            journey,
        })
    }
}

/// The step's URL when it is the same for every request (literal target and path), parsed once.
fn fixed_url(journey: &Journey, step: &crate::model::Step) -> Option<reqwest::Url> {
    let empty = crate::template::Scope { secrets: &[], rows: &[], captures: &[] };
    if !step.url.is_literal() || journey.target.as_ref().is_some_and(|t| !t.is_literal()) {
        return None;
    }
    crate::runner::iteration::resolve_url(journey, &empty, &step.url.render(&empty)).ok()
}
