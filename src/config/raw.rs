//! The journey file as written: serde types, strict (`deny_unknown_fields` everywhere).
//!
//! Values that need a location-aware check (durations, rates, templates, check expressions) are kept as
//! text here and validated in `build`, so every bad one is reported, not just the first.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A journey file: one journey. The meaning of each key is in `docs/journeys.md` and the JSON Schema.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJourney {
    /// Unique across files; becomes the `journey` metric label.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Base URL template; optional when every step URL is absolute.
    pub target: Option<Scalar>,
    /// Name → base URL template: the journey runs against each (stable beside canary); instead of `target`.
    pub targets: Option<OrderedMap<Scalar>>,
    /// How `targets` are compared: the baseline and the window.
    pub canary: Option<RawCanary>,
    /// Duration text; default 60s.
    pub every: Option<Scalar>,
    /// Monitor users per run; default 1.
    pub users: Option<u32>,
    /// Duration text; default min(every, 30s).
    pub timeout: Option<Scalar>,
    /// Rate text (`50/s`): the open load model.
    pub rate: Option<Scalar>,
    /// With `rate`: most iterations in flight; default 100.
    pub max_users: Option<u32>,
    /// The staged load model.
    pub stages: Option<Vec<RawStage>>,
    /// Name → template using env only.
    #[serde(default)]
    pub vars: OrderedMap<Scalar>,
    /// Name → CSV source.
    #[serde(default)]
    pub data: OrderedMap<RawData>,
    /// Name → where the secret comes from.
    #[serde(default)]
    pub secrets: OrderedMap<RawSecret>,
    /// Name → OAuth2 client-credentials token source: `{{ oauth.<name> }}`.
    #[serde(default)]
    pub oauth: OrderedMap<super::oauth::RawOAuth>,
    /// Journey names, checked across files.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Alert rules (thresholds, latency budgets); see docs/alerting.md.
    pub alerts: Option<RawAlerts>,
    /// Availability objective: `{ availability: 99.9%, window: 30d }`.
    pub slo: Option<RawSlo>,
    pub defaults: Option<RawDefaults>,
    pub steps: Vec<RawStep>,
    /// `verify` thresholds for the journey (`p99 < 800ms`), checked by `crate::threshold::parse`.
    #[serde(default)]
    pub thresholds: Vec<Scalar>,
}

/// `canary:` — how a journey's `targets` are compared (src/config/targets.rs).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCanary {
    /// The target the others are compared with; default `stable`, else the first written.
    pub baseline: Option<String>,
    /// Duration text; default 10m.
    pub window: Option<Scalar>,
}

/// `alerts:` — unset values take the settings file's defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// Consecutive failed runs before JourneyDown fires.
    pub failure_threshold: Option<u32>,
    /// Consecutive good runs before it resolves.
    pub success_threshold: Option<u32>,
    /// Latency budgets per step or for the whole journey.
    #[serde(default)]
    pub latency: Vec<RawLatency>,
    /// Time left before a certificate expires at which its alerts fire.
    pub cert_expiry: Option<RawCertExpiry>,
    /// Immediate retries of a failed monitor run before it counts as failed.
    pub confirm: Option<u32>,
}

/// `alerts.cert_expiry:` — unset values take the settings file's defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertExpiry {
    /// Duration text: JourneyCertExpiring (severity ticket) fires with less than this left.
    pub ticket: Option<Scalar>,
    /// Duration text: JourneyCertExpiringSoon (severity page) fires with less than this left.
    pub page: Option<Scalar>,
}

/// One latency budget.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLatency {
    /// A step name; absent: the whole journey.
    pub step: Option<String>,
    /// `p99`, `p95`, `0.999`; default p99.
    pub quantile: Option<Scalar>,
    /// Duration text.
    pub budget: Scalar,
    /// Duration text; default 5m.
    pub window: Option<Scalar>,
}

/// `slo:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlo {
    /// `99.9%` or `0.999`.
    pub availability: Scalar,
    /// Duration text; default 30d.
    pub window: Option<Scalar>,
}

/// One load stage: a rate or a user count, for a duration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    /// Rate text (`10/s`).
    pub rate: Option<Scalar>,
    pub users: Option<u32>,
    /// Duration text; `for` is a Rust keyword.
    #[serde(rename = "for")]
    pub duration: Scalar,
}

/// A CSV data source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    /// Path relative to the journey file.
    pub csv: String,
    /// Default unique.
    pub pick: Option<RawPick>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawPick {
    Unique,
    Sequential,
    Random,
}

/// Where a secret comes from: exactly one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    /// Environment variable name.
    pub env: Option<String>,
    /// File path, relative to the journey file.
    pub file: Option<String>,
}

/// Request options for every step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Header name → template.
    #[serde(default)]
    pub headers: OrderedMap<Scalar>,
    /// Default 10.
    pub redirects: Option<Redirects>,
    /// Duration text: the timeout of a step that sets none.
    pub timeout: Option<Scalar>,
    pub tls_skip_verify: Option<bool>,
    /// PEM file of CA certificates to trust besides the system's, relative to the journey file.
    pub tls_ca: Option<String>,
    /// Size text (`10MiB`); default 10 MiB.
    pub max_body: Option<Scalar>,
    /// Follow redirects from https to plain http; default false (the step fails with reason `redirect`).
    pub redirects_to_http: Option<bool>,
    /// Whether a virtual user's connections outlive an iteration; default: `fresh` for `run`, `reuse` for
    /// `verify` and load.
    pub connections: Option<RawConnections>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawConnections {
    Fresh,
    Reuse,
}

/// The request methods that can be written as a key (`post: /api/login`), in the order they are checked.
pub const METHOD_KEYS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// One step. Exactly one method key, or `method` + `url`, is checked in `step`, where the error can say
/// which keys clash.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Unique within the journey; becomes the `step` metric label.
    pub name: String,
    /// URL templates, one per method key.
    pub get: Option<Scalar>,
    pub post: Option<Scalar>,
    pub put: Option<Scalar>,
    pub patch: Option<Scalar>,
    pub delete: Option<Scalar>,
    pub head: Option<Scalar>,
    pub options: Option<Scalar>,
    /// Any other method token, with `url`.
    pub method: Option<String>,
    pub url: Option<Scalar>,
    /// Header name → template.
    #[serde(default)]
    pub headers: OrderedMap<Scalar>,
    /// Query parameter → template.
    #[serde(default)]
    pub query: OrderedMap<Scalar>,
    /// Any YAML value; string leaves are templates.
    pub json: Option<serde_yaml::Value>,
    /// Form field → template.
    pub form: Option<OrderedMap<Scalar>>,
    /// Raw body template.
    pub body: Option<Scalar>,
    /// Content-Type of a raw `body`.
    pub content_type: Option<String>,
    /// `multipart/form-data`: field name → template, or a file part.
    pub multipart: Option<OrderedMap<RawPart>>,
    /// A GraphQL request sent as JSON.
    pub graphql: Option<RawGraphql>,
    /// Duration text, at most the journey timeout.
    pub timeout: Option<Scalar>,
    pub redirects: Option<Redirects>,
    #[serde(default)]
    pub expect: Vec<RawCheck>,
    /// Capture name → source, in file order (slots are assigned in that order).
    #[serde(default)]
    pub capture: OrderedMap<RawCapture>,
    /// `500ms` or `100ms..2s`.
    pub think: Option<Scalar>,
    /// `verify` thresholds for this step.
    #[serde(default)]
    pub thresholds: Vec<Scalar>,
    /// WebSocket URL template (`ws://`, `wss://`, or a path joined to the target); instead of a method key.
    pub ws: Option<Scalar>,
    /// With `ws`: messages sent after the upgrade, in order.
    pub send: Option<Vec<RawWsMessage>>,
}

/// One message a WebSocket step sends: exactly one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWsMessage {
    /// A text template.
    pub text: Option<Scalar>,
    /// Any YAML value, sent as JSON text; string leaves are templates.
    pub json: Option<serde_yaml::Value>,
}

impl RawStep {
    /// The `(key, url)` pairs of the method keys that are set.
    pub fn method_keys(&self) -> Vec<(&'static str, &Scalar)> {
        let values = [&self.get, &self.post, &self.put, &self.patch, &self.delete, &self.head, &self.options];
        METHOD_KEYS.iter().zip(values).filter_map(|(k, v)| v.as_ref().map(|v| (*k, v))).collect()
    }
}

/// An `expect` entry: `"status == 200"` or `{check: "…", soft: true}`.
#[derive(Debug)]
pub enum RawCheck {
    Text(String),
    Full(RawCheckMap),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheckMap {
    /// The expression.
    pub check: String,
    /// A failing soft check degrades the run without stopping it.
    #[serde(default)]
    pub soft: bool,
}

impl RawCheck {
    pub fn text(&self) -> &str {
        match self {
            RawCheck::Text(t) => t,
            RawCheck::Full(m) => &m.check,
        }
    }

    pub fn soft(&self) -> bool {
        matches!(self, RawCheck::Full(RawCheckMap { soft: true, .. }))
    }

    /// The YAML path suffix of the expression text (the entry itself, or its `check` key).
    pub fn text_suffix(&self) -> &'static str {
        match self {
            RawCheck::Text(_) => "",
            RawCheck::Full(_) => ".check",
        }
    }
}

/// A `capture` entry: shorthand `json.cart_id` or a map.
#[derive(Debug)]
pub enum RawCapture {
    Short(String),
    Full(RawCaptureMap),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCaptureMap {
    /// A JSON path (`token`, `items[0].sku`).
    pub json: Option<String>,
    /// A response header name.
    pub header: Option<String>,
    /// A cookie name.
    pub cookie: Option<String>,
    /// `true` captures the status code.
    pub status: Option<bool>,
    /// A regex on the body.
    pub regex: Option<String>,
    /// With `regex`: the group to take (default 1 if the regex has groups, else 0).
    pub group: Option<usize>,
    /// Redact the captured value like a secret.
    #[serde(default)]
    pub secret: bool,
}

/// A `multipart` entry: a field's template (`name: "{{ accounts.name }}"`, numbers and booleans as written)
/// or a file part.
#[derive(Debug)]
pub enum RawPart {
    Field(String),
    File(RawFilePart),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilePart {
    /// A path relative to the journey file, read at load.
    pub file: String,
    /// Default `application/octet-stream`.
    pub content_type: Option<String>,
    /// Default: the file's own name.
    pub filename: Option<String>,
}

/// `graphql:` — the query, its variables and the operation to run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGraphql {
    /// The query document: a template.
    pub query: String,
    /// Any YAML mapping; string leaves are templates (like `json:`).
    pub variables: Option<serde_yaml::Value>,
    /// Which operation of the document to run (`operationName`).
    pub operation_name: Option<String>,
}

impl<'de> Deserialize<'de> for RawPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPart;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field value, or a file part {file: …, content_type: …, filename: …}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPart, E> {
                Ok(RawPart::Field(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawPart, E> {
                Ok(RawPart::Field(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawPart, E> {
                Ok(RawPart::Field(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawPart, E> {
                Ok(RawPart::Field(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawPart, E> {
                Ok(RawPart::Field(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPart, A::Error> {
                RawFilePart::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawPart::File)
            }
        }
        d.deserialize_any(V)
    }
}

/// `redirects: 5` or `redirects: false` (no following).
#[derive(Debug, Clone, Copy)]
pub struct Redirects(pub u32);

/// A scalar kept as text: strings as written, numbers and booleans in their YAML spelling. Template fields
/// accept `page: 1`; duration fields see `30` and can say "add a unit".
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar(pub String);

/// A mapping that keeps its keys in file order (headers, query parameters and form fields are sent in
/// the order written).
#[derive(Debug)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedMap<V>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Scalar, V>()? {
                    out.push((k.0, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

impl<'de> Deserialize<'de> for Redirects {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Redirects;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of redirects to follow, or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Redirects, E> {
                if v {
                    Err(E::custom("`redirects: true` is ambiguous; give the most to follow (e.g. 10), or false"))
                } else {
                    Ok(Redirects(0))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Redirects, E> {
                u32::try_from(v).map(Redirects).map_err(|_| E::custom("too many redirects"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Redirects, E> {
                u64::try_from(v).map_err(|_| E::custom("redirects cannot be negative")).and_then(|v| self.visit_u64(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// String shorthand or a map with the full form: shared by `expect` and `capture` entries.
macro_rules! string_or_map {
    ($ty:ident, $short:ident, $full:ident, $map:ty, $what:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        Ok($ty::$short(v.to_string()))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$ty, A::Error> {
                        <$map>::deserialize(de::value::MapAccessDeserializer::new(map)).map($ty::$full)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

string_or_map!(RawCheck, Text, Full, RawCheckMap, "a check like `status == 200`, or {check: …, soft: true}");
string_or_map!(RawCapture, Short, Full, RawCaptureMap, "a capture like `json.id`, or {json: …} / {regex: …}");
