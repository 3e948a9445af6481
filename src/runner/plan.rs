//! A journey prepared for running: default and step headers merged, fixed URLs parsed, row pools, the redactor
//! and the HTTP client chosen — everything that can be done once instead of per request. Methods and headers
//! were parsed at load, so preparing cannot fail.

use std::sync::Arc;

use reqwest::header::HeaderName;
use reqwest::{Method, Url};

use crate::http::{Clients, JourneyClient, TRACEPARENT, TRACESTATE_NAME};
pub(crate) use crate::model::HeaderTemplate;
use crate::model::{Journey, JsonPath};
use crate::redact::Redactor;
use crate::runner::checks::json_paths;
use crate::runner::leases::RowPools;
use crate::runner::oauth::TokenCache;
use crate::template::Scope;

/// A journey ready to run, shared by all of its virtual users.
#[derive(Debug)]
pub struct Plan {
    pub journey: Arc<Journey>,
    /// The `journey` label value, shared by every outcome without copying.
    pub name: Arc<str>,
    /// Which of the journey's `targets:` this plan runs against (`None`: the journey has one target).
    pub target: Option<Arc<str>>,
    pub pools: Arc<RowPools>,
    /// Masks the journey's secrets; each virtual user extends a clone with its secret captures.
    pub redactor: Redactor,
    /// The journey's client settings (TLS, which client); each virtual user has its own connections.
    pub client: JourneyClient,
    /// One token cache per `oauth` source, shared by every virtual user of the journey (`runner::oauth`).
    pub oauth: Vec<TokenCache>,
    pub(crate) steps: Vec<StepPlan>,
    /// Browser journeys: the process's one Chromium (`None` for HTTP journeys).
    pub browser: Option<crate::runner::browser_host::BrowserHost>,
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
    /// The `oauth` sources the step's templates use: fetched before it renders, refreshed on a 401.
    pub oauth: Vec<usize>,
    /// The JSON paths its checks and captures read, each once: read together, in one pass over the body.
    pub json_paths: Vec<JsonPath>,
}

impl Plan {
    /// Cannot fail: the loader parsed methods and headers and checked the CA file, so everything here is
    /// already known to be valid.
    pub fn new(journey: Arc<Journey>, clients: &Clients) -> Plan {
        let mut steps = Vec::with_capacity(journey.steps.len());
        for step in &journey.steps {
            let mut headers: Vec<(HeaderName, HeaderTemplate)> = Vec::new();
            let mut sensitive: Vec<HeaderName> = Vec::new();
            // A step's own `traceparent` or `tracestate` was always replaced by the iteration's trace context,
            // which the sender adds: it is left out here.
            let traced = |h: &&(HeaderName, HeaderTemplate)| h.0 == TRACEPARENT || h.0 == TRACESTATE_NAME;
            let all = journey.defaults.headers.iter().chain(step.headers.iter());
            for (header, template) in all.filter(|h| !traced(h)) {
                headers.retain(|(n, _)| n != header);
                sensitive.retain(|n| n != header);
                if template.is_secret(&journey.secret_captures) {
                    sensitive.push(header.clone());
                }
                headers.push((header.clone(), template.clone()));
            }
            let url = fixed_url(&journey, step);
            let oauth = crate::runner::oauth::sources_used(step, headers.iter().map(|(_, t)| t));
            let json_paths = json_paths(step.expect.iter().map(|c| &c.subject), step.capture.iter().map(|c| &c.source));
            steps.push(StepPlan { method: step.method.clone(), url, headers, sensitive, oauth, json_paths });
        }
        let redactor = Redactor::new(journey.secrets.iter().map(|s| s.value.as_str()));
        let client = clients.for_journey(journey.defaults.tls_skip_verify, journey.defaults.tls_ca.as_deref());
        // The loader built a client with this CA already, so this only fails if the TLS backend itself does
        // (and `Clients::new` would have failed first). Without the CA its sites fail with reason `tls`: a
        // failed journey is data, and the rest of the suite keeps running.
        let client = client.or_else(|e| {
            tracing::error!(journey = %journey.name, "the tls_ca client could not be built: {e}");
            clients.for_journey(false, None)
        });
        // Without a CA the configuration is the one `Clients::new` built already: it cannot fail here.
        let client = client.expect("the default TLS configuration was built by Clients::new");
        let oauth = journey.oauth.iter().map(|s| TokenCache::new(s.clone(), Arc::clone(&client.tls))).collect();
        Plan {
            browser: journey.browser.as_ref().map(|_| clients.browser.clone()),
            name: Arc::from(journey.name.as_str()),
            target: None,
            oauth,
            pools: RowPools::new(&journey.data),
            redactor,
            client,
            steps,
            journey,
        }
    }
}

/// The plans a monitor tick runs: one, or with `targets:` one per target, baseline first, each a copy of
/// the journey whose `target` is that target's URL and whose outcomes name it.
pub fn per_target(journey: &Arc<Journey>, clients: &Clients) -> Vec<Plan> {
    let Some(targets) = &journey.targets else { return vec![Plan::new(Arc::clone(journey), clients)] };
    let named = targets.named.iter().map(|(name, url)| {
        let copy = Journey { target: Some(url.clone()), ..Journey::clone(journey) };
        Plan { target: Some(Arc::from(name.as_str())), ..Plan::new(Arc::new(copy), clients) }
    });
    named.collect()
}

/// The step's URL when it is the same for every request (literal target and path), parsed once.
fn fixed_url(journey: &Journey, step: &crate::model::Step) -> Option<reqwest::Url> {
    let empty = crate::template::Scope { secrets: &[], rows: &[], captures: &[], tokens: &[] };
    if !step.url.is_literal() || journey.target.as_ref().is_some_and(|t| !t.is_literal()) {
        return None;
    }
    resolve_url(journey, &empty, &step.url.render(&empty)).ok()
}

/// A step's URL: an absolute URL as it is, a path joined onto the rendered journey target.
pub(crate) fn resolve_url(journey: &Journey, scope: &Scope<'_>, text: &str) -> Result<Url, String> {
    if text.contains("://") {
        return Url::parse(text).map_err(|e| format!("invalid URL {text:?}: {e}"));
    }
    let Some(target) = &journey.target else {
        return Err(format!("{text:?} is a path, and the journey has no target to join it to"));
    };
    let base = target.render(scope);
    let joined = format!("{}/{}", base.trim_end_matches('/'), text.trim_start_matches('/'));
    Url::parse(&joined).map_err(|e| format!("invalid URL {joined:?}: {e} (is the target set?)"))
}
