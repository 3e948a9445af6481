//! The JSON Schema (draft-07, which the YAML language server reads) of a journey file, built by hand so
//! every key carries a description written for people. `docs/journey.schema.json` is this, checked in; a
//! test fails when they differ, and another when a key of the serde types is missing here.

use serde_json::{json, Value};

const DURATION: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d))+$";
const THINK: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d))+(\.\.([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d))+)?$";
const RATE: &str = r"^[0-9]+(\.[0-9]+)?/(s|m|h)$";
const NAME: &str = r"^[a-z0-9][a-z0-9_.-]*$";
const IDENT: &str = r"^[A-Za-z_][A-Za-z0-9_]*$";

fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn reference(def: &str, description: &str) -> Value {
    // draft-07 ignores siblings of $ref, so the description goes through allOf.
    json!({ "allOf": [{ "$ref": format!("#/definitions/{def}") }], "description": description })
}

fn template_map(description: &str) -> Value {
    json!({ "type": "object", "description": description, "additionalProperties": { "$ref": "#/definitions/template" } })
}

/// The schema of one journey file.
pub fn json_schema() -> Value {
    let methods: Vec<Value> = super::raw::METHOD_KEYS.iter().map(|m| json!({ "required": [m] })).collect();
    let mut step_properties = serde_json::Map::new();
    step_properties.insert(
        "name".into(),
        json!({
            "type": "string", "pattern": NAME,
            "description": "Unique within the journey; the `step` label of metrics. a-z, 0-9, `_`, `.`, `-`."
        }),
    );
    for m in super::raw::METHOD_KEYS {
        let text = format!(
            "Send a {} request to this URL template (a path joined to `target`, or an absolute URL).",
            m.to_uppercase()
        );
        step_properties.insert(m.into(), reference("template", &text));
    }
    let rest = json!({
        "method": string("Any HTTP method (upper-cased), used with `url` instead of a method key: method: PURGE."),
        "url": reference("template", "The URL template for `method`."),
        "headers": template_map("Request headers: name → template. Added to (and overriding) `defaults.headers`."),
        "query": template_map("Query parameters appended to the URL: name → template (percent-encoded when sent)."),
        "json": { "description": "A JSON body: any YAML value; string values are templates. Sets Content-Type: application/json." },
        "form": template_map("A form body (application/x-www-form-urlencoded): field → template."),
        "body": reference("template", "A raw body template; pair with `content_type`."),
        "content_type": string("Content-Type of a raw `body`."),
        "timeout": reference("duration", "Deadline for this step (request, redirects and body); at most the journey timeout."),
        "redirects": reference("redirects", "Redirects to follow: a number, or false for none. Default from `defaults.redirects` (10)."),
        "expect": {
            "type": "array", "items": { "$ref": "#/definitions/check" },
            "description": "Checks on the response, in order; the first failing hard check fails the journey."
        },
        "capture": {
            "type": "object", "additionalProperties": { "$ref": "#/definitions/capture" },
            "propertyNames": { "pattern": IDENT },
            "description": "Values taken from the response for later steps: name → source. Use as {{ name }}."
        },
        "think": {
            "type": "string", "pattern": THINK,
            "description": "Pause after the step: a duration (500ms) or a uniform random range (100ms..2s)."
        }
    });
    if let Value::Object(rest) = rest {
        step_properties.extend(rest);
    }
    step_properties.insert("multipart".into(), multipart());
    step_properties.insert("graphql".into(), graphql());
    let mut schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "journeyd journey",
        "description": "One synthetic user journey: a named sequence of HTTP steps with checks and captures. See docs/journeys.md.",
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "steps"],
        "properties": {
            "name": { "type": "string", "pattern": NAME, "description": "Unique across all journey files; the `journey` label of metrics. a-z, 0-9, `_`, `.`, `-`." },
            "description": string("What the journey proves, for people reading alerts and the status page."),
            "tags": { "type": "array", "items": { "type": "string" }, "description": "Free-form tags for selecting journeys (`verify --tag`); never metric labels." },
            "target": reference("template", "Base URL that step paths are joined onto, e.g. \"{{ env.SHOP_URL }}\". Optional when every step uses an absolute URL."),
            "every": reference("duration", "How often the monitor starts a run. Default 60s."),
            "users": { "type": "integer", "minimum": 1, "description": "Virtual users per monitor run (closed model). Default 1." },
            "timeout": reference("duration", "Deadline for a whole run, from its intended start. Default: every, at most 30s. Must not exceed `every`."),
            "rate": reference("rate", "Open load model for verify and benchmarks: start iterations at this rate (50/s, 120/m, 10/h) whatever the site does."),
            "max_users": { "type": "integer", "minimum": 1, "description": "With `rate`: most iterations in flight at once. Default 100." },
            "stages": {
                "type": "array", "minItems": 1, "items": { "$ref": "#/definitions/stage" },
                "description": "Staged load model for verify and benchmarks: each stage holds a rate or a user count for a while. Not with `rate`."
            },
            "vars": {
                "type": "object", "additionalProperties": { "$ref": "#/definitions/template" }, "propertyNames": { "pattern": IDENT },
                "description": "Named constants, rendered at load time; may use env only. Use as {{ vars.name }}."
            },
            "data": {
                "type": "object", "additionalProperties": { "$ref": "#/definitions/data_source" }, "propertyNames": { "pattern": IDENT },
                "description": "CSV data sources: name → file. Use a column as {{ name.column }}."
            },
            "secrets": {
                "type": "object", "additionalProperties": { "$ref": "#/definitions/secret" }, "propertyNames": { "pattern": IDENT },
                "description": "Secret values from the environment or files; redacted from every output. Use as {{ secrets.name }}."
            },
            "oauth": {
                "type": "object", "additionalProperties": { "$ref": "#/definitions/oauth" }, "propertyNames": { "pattern": IDENT },
                "description": "OAuth2 client-credentials token sources: name → token endpoint. Use the token as {{ oauth.name }}; it is fetched on first use, cached until shortly before it expires, fetched again on a 401, and redacted."
            },
            "depends_on": {
                "type": "array", "items": { "type": "string", "pattern": NAME },
                "description": "Journeys this one depends on: while one of them fails, this journey's alerts are suppressed."
            },
            "defaults": { "$ref": "#/definitions/defaults" },
            "steps": { "type": "array", "minItems": 1, "items": { "$ref": "#/definitions/step" }, "description": "The HTTP steps, run in order." }
        },
        "definitions": {
            "duration": { "type": "string", "pattern": DURATION, "description": "A duration with a unit: 250ms, 30s, 2m, 1h, 1d, 1.5s, 500us, 1m30s." },
            "rate": { "type": "string", "pattern": RATE, "description": "Iterations per second, minute or hour: 50/s, 120/m, 10/h." },
            "template": {
                "type": ["string", "number", "boolean"],
                "description": "Text with {{ }} expressions: env.NAME, vars.name, secrets.name, oauth.name, <source>.<column>, a capture name, or a helper: uuid(), random_int(1, 100), timestamp(), timestamp_ms(), now_rfc3339(), urlencode(x), base64(x), totp(secrets.seed, digits=6, algorithm=\"sha1\", period=30); `a ~ b` joins values."
            },
            "redirects": {
                "description": "A number of redirects to follow, or false for none.",
                "oneOf": [{ "type": "integer", "minimum": 0 }, { "const": false }]
            },
            "stage": {
                "type": "object", "additionalProperties": false, "required": ["for"],
                "oneOf": [{ "required": ["rate"] }, { "required": ["users"] }],
                "description": "One load stage: a rate or a user count, held for a duration.",
                "properties": {
                    "rate": reference("rate", "Arrival rate during this stage."),
                    "users": { "type": "integer", "minimum": 1, "description": "Virtual users during this stage." },
                    "for": reference("duration", "How long the stage lasts.")
                }
            },
            "data_source": {
                "type": "object", "additionalProperties": false, "required": ["csv"],
                "description": "A CSV file whose header row names the columns.",
                "properties": {
                    "csv": string("Path to the CSV file, relative to the journey file."),
                    "pick": {
                        "enum": ["unique", "sequential", "random"],
                        "description": "How a virtual user gets a row: unique (leased, never shared by concurrent users; needs a row per user), sequential (round robin), random. Default unique."
                    }
                }
            },
            "secret": {
                "type": "object", "additionalProperties": false,
                "oneOf": [{ "required": ["env"] }, { "required": ["file"] }],
                "description": "Where a secret comes from: an environment variable or a file.",
                "properties": {
                    "env": string("Environment variable holding the secret."),
                    "file": string("File holding the secret (one trailing newline is dropped), relative to the journey file.")
                }
            },
            "oauth": {
                "type": "object", "additionalProperties": false,
                "required": ["token_url", "client_id", "client_secret"],
                "description": "An OAuth2 client-credentials token source (RFC 6749 §4.4). Templates may use env, vars and secrets.",
                "properties": {
                    "token_url": reference("template", "The token endpoint: an absolute URL, or a path joined to `target`."),
                    "client_id": reference("template", "The client id."),
                    "client_secret": reference("template", "The client secret: write {{ secrets.name }}."),
                    "scope": reference("template", "Space-separated scopes to ask for (optional)."),
                    "audience": reference("template", "The API the token is for, sent as `audience` (Auth0-style; optional)."),
                    "auth": {
                        "enum": ["header", "body"],
                        "description": "Client authentication: `header` (HTTP Basic, the default) or `body` (client_id and client_secret in the form)."
                    }
                }
            },
            "defaults": {
                "type": "object", "additionalProperties": false,
                "description": "Request options for every step, overridable per step.",
                "properties": {
                    "headers": template_map("Headers sent by every step: name → template."),
                    "redirects": reference("redirects", "Redirects each step follows: a number, or false. Default 10."),
                    "timeout": reference("duration", "Deadline of a step that sets none; at most the journey timeout."),
                    "tls_skip_verify": { "type": "boolean", "description": "Accept invalid TLS certificates. An explicit opt-out, shown in metrics. Default false." },
                    "tls_ca": { "type": "string", "description": "PEM file of CA certificates trusted besides the system's (a private CA), relative to the journey file. Certificates are still verified, host name included." },
                    "max_body": {
                        "type": ["string", "integer"], "pattern": r"^[0-9]+(\.[0-9]+)?\s*(B|KiB|MiB|GiB|kB|KB|MB|GB)?$",
                        "description": "Largest response body read; a larger one fails the step. Default 10MiB."
                    },
                    "redirects_to_http": { "type": "boolean", "description": "Follow redirects from https to plain http. Off by default: the step fails with reason redirect instead. Credentials are never sent to another origin either way." },
                    "connections": { "enum": ["fresh", "reuse"], "description": "Whether a virtual user's connections outlive an iteration. fresh: every iteration opens new connections (DNS, connect and TLS handshake measured, the certificate read); reuse: a user keeps its connections across iterations (warm latency). Default: fresh for `journeyd run`, reuse for `verify` and load. Connections are never shared between users or journeys." }
                }
            },
            "step": {
                "type": "object", "additionalProperties": false, "required": ["name"],
                "description": "One HTTP request: exactly one of get/post/put/patch/delete/head/options, or method + url; or one WebSocket conversation (ws).",
                "oneOf": methods.into_iter().chain([json!({ "required": ["method", "url"] })]).collect::<Vec<_>>(),
                "not": { "anyOf": body_pairs() },
                "properties": step_properties
            },
            "check": {
                "description": "A check: `<subject> <op> [<literal>]`, e.g. status == 200, json.price > 0, 'header.content-type contains \"json\"', duration < 2s. Or {check: …, soft: true}.",
                "oneOf": [
                    { "type": "string" },
                    {
                        "type": "object", "additionalProperties": false, "required": ["check"],
                        "properties": {
                            "check": string("The check expression."),
                            "soft": { "type": "boolean", "description": "A failing soft check marks the run degraded but does not stop the journey." }
                        }
                    }
                ]
            },
            "capture": {
                "description": "Where a captured value comes from: json.<path>, header.<Name>, cookie.<name> or status; or a mapping.",
                "oneOf": [
                    { "type": "string", "pattern": r"^(status|json([.\[].*)?|header\..+|cookie\..+)$" },
                    {
                        "type": "object", "additionalProperties": false,
                        "oneOf": [{ "required": ["json"] }, { "required": ["header"] }, { "required": ["cookie"] }, { "required": ["status"] }, { "required": ["regex"] }],
                        "properties": {
                            "json": string("A JSON path into the response body: token, items[0].sku."),
                            "header": string("A response header name (case-insensitive)."),
                            "cookie": string("A cookie set by the response."),
                            "status": { "const": true, "description": "Capture the status code." },
                            "regex": string("A regex on the body; the value is group 1 if the regex has groups, else the whole match."),
                            "group": { "type": "integer", "minimum": 0, "description": "With `regex`: which capture group to take." },
                            "secret": { "type": "boolean", "description": "Redact this value like a secret (session tokens)." }
                        }
                    }
                ]
            }
        }
    });
    add_alert_keys(&mut schema);
    add_threshold_keys(&mut schema);
    add_ws_keys(&mut schema);
    add_target_keys(&mut schema);
    schema
}

/// `targets:` and `canary:`: the journey run against named targets side by side, compared with the baseline
/// (docs/journeys.md, "Several targets").
fn add_target_keys(schema: &mut Value) {
    let targets = json!({
        "type": "object", "minProperties": 2, "maxProperties": 4,
        "propertyNames": { "pattern": "^[a-z0-9_-]{1,32}$" },
        "additionalProperties": { "$ref": "#/definitions/template" },
        "description": "Instead of `target`: 2–4 named base URL templates (stable: https://shop.example, canary: https://canary.shop.example). Every tick runs each; each one is compared with the baseline, and its name is the `target` label."
    });
    let canary = json!({
        "type": "object", "additionalProperties": false,
        "description": "How `targets` are compared with the baseline.",
        "properties": {
            "baseline": { "type": "string", "description": "The target the others are compared with. Default: the one named `stable`, else the first written." },
            "window": reference("duration", "How far back the comparison looks, and the period its significance level is spent over (at least 10s; default 10m).")
        }
    });
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("targets".into(), targets);
        props.insert("canary".into(), canary);
    }
    if let Some(top) = schema.as_object_mut() {
        top.insert("not".into(), json!({ "required": ["target", "targets"] }));
    }
}

/// `ws:` and `send:`: a WebSocket step instead of a request (docs/journeys.md, "WebSocket steps").
fn add_ws_keys(schema: &mut Value) {
    let Some(step) = schema.pointer_mut("/definitions/step").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(Value::Array(one_of)) = step.get_mut("oneOf") {
        one_of.push(json!({ "required": ["ws"] }));
    }
    if let Some(Value::Object(props)) = step.get_mut("properties") {
        props.insert(
            "ws".into(),
            reference(
                "template",
                "A WebSocket step on this URL template: ws://… or wss://…, or a path joined to `target` (http → ws, https → wss). Checks and captures apply to the first message that passes every hard check.",
            ),
        );
        props.insert(
            "send".into(),
            json!({
                "type": "array",
                "description": "With `ws`: messages sent after the upgrade, in order.",
                "items": {
                    "type": "object", "additionalProperties": false,
                    "description": "One text message: `text` (a template) or `json` (any YAML value, string leaves are templates).",
                    "oneOf": [{ "required": ["text"] }, { "required": ["json"] }],
                    "properties": {
                        "text": reference("template", "A text message template."),
                        "json": { "description": "Any YAML value, sent as JSON text; string values are templates." }
                    }
                }
            }),
        );
    }
}

/// `thresholds:` on the journey and on each step: `journeyd verify` thresholds (docs/verify.md).
fn add_threshold_keys(schema: &mut Value) {
    let list = |what: &str| {
        json!({
            "type": "array",
            "items": { "type": "string", "pattern": r"^\s*[a-z][a-z0-9._]*(\{[^}]*\})?\s*(<=|>=|==|!=|<|>)\s*\S.*$" },
            "description": format!("`journeyd verify` thresholds for {what}, e.g. 'p99 < 800ms', 'availability >= 99.5%', 'failures{{reason=timeout}} == 0', 'cert_expiry > 14d'. See docs/verify.md.")
        })
    };
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("thresholds".into(), list("this journey (whole-iteration response time)"));
    }
    if let Some(props) = schema.pointer_mut("/definitions/step/properties").and_then(Value::as_object_mut) {
        props.insert("thresholds".into(), list("this step (its response time)"));
    }
}

/// `alerts:` and `slo:` (added after the main literal, which is at `json!`'s recursion limit).
fn add_alert_keys(schema: &mut Value) {
    let alerts = json!({
        "type": "object", "additionalProperties": false,
        "description": "Alert rules for this journey; unset values take the settings file's defaults. See docs/alerting.md.",
        "properties": {
            "failure_threshold": { "type": "integer", "minimum": 1, "description": "Consecutive failed runs before JourneyDown fires (default from the settings file, 3)." },
            "success_threshold": { "type": "integer", "minimum": 1, "description": "Consecutive good runs before JourneyDown resolves (default from the settings file, 2)." },
            "confirm": { "type": "integer", "minimum": 0, "maximum": 10, "description": "Retry a failed monitor run at once, up to this many times, before it counts as failed (toward failure_threshold). Retries are counted in journey_run_retries_total. Default 0." },
            "latency": {
                "type": "array", "items": { "$ref": "#/definitions/latency_rule" },
                "description": "Latency budgets: a run over a budget is degraded; the quantile over the window above it raises JourneyLatency."
            },
            "cert_expiry": {
                "type": "object", "additionalProperties": false,
                "description": "Time left before a step's TLS certificate chain expires at which its alerts fire (defaults from the settings file: 21d and 7d).",
                "properties": {
                    "ticket": reference("duration", "JourneyCertExpiring (severity ticket) fires with less than this left (default 21d)."),
                    "page": reference("duration", "JourneyCertExpiringSoon (severity page) fires with less than this left (default 7d); at most `ticket`.")
                }
            }
        }
    });
    let slo = json!({
        "type": "object", "additionalProperties": false, "required": ["availability"],
        "description": "Availability objective with multi-window burn-rate alerts (page: 14.4× over 1h and 5m; ticket: 6× over 6h and 30m).",
        "properties": {
            "availability": { "type": ["string", "number"], "pattern": r"^[0-9]+(\.[0-9]+)?%?$", "description": "The objective: 99.9% or 0.999." },
            "window": reference("duration", "The compliance window the error budget is counted over (1h to 90d; default 30d).")
        }
    });
    let rule = json!({
        "type": "object", "additionalProperties": false, "required": ["budget"],
        "description": "A latency budget for one step or the whole journey.",
        "properties": {
            "step": { "type": "string", "pattern": NAME, "description": "A step of this journey; absent: the whole journey's response time." },
            "quantile": { "type": ["string", "number"], "description": "p99 (default), p95, p99.9, or a ratio like 0.99." },
            "budget": reference("duration", "The response time the quantile must stay under."),
            "window": reference("duration", "How far back the quantile looks (default 5m, at most 6h).")
        }
    });
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("alerts".into(), alerts);
        props.insert("slo".into(), slo);
    }
    if let Some(defs) = schema.get_mut("definitions").and_then(Value::as_object_mut) {
        defs.insert("latency_rule".into(), rule);
    }
}

/// Every pair of body keys, none of which may be set together.
fn body_pairs() -> Vec<Value> {
    let keys = ["json", "form", "body", "multipart", "graphql"];
    let mut out = Vec::new();
    for (i, a) in keys.iter().enumerate() {
        out.extend(keys[i + 1..].iter().map(|b| json!({ "required": [a, b] })));
    }
    out
}

/// `multipart:` — fields and file parts.
fn multipart() -> Value {
    let file = json!({
        "type": "object", "additionalProperties": false, "required": ["file"],
        "properties": {
            "file": string("A file to upload, relative to the journey file; read at load, at most 10 MiB."),
            "content_type": string("The part's Content-Type. Default application/octet-stream."),
            "filename": string("The filename sent in Content-Disposition. Default: the file's own name.")
        }
    });
    json!({
        "type": "object", "minProperties": 1,
        "additionalProperties": { "oneOf": [{ "$ref": "#/definitions/template" }, file] },
        "description": "A multipart/form-data body: field → template, or field → {file: …, content_type: …, filename: …}. A random boundary per request; sets Content-Type."
    })
}

/// `graphql:` — a query sent as a JSON POST.
fn graphql() -> Value {
    json!({
        "type": "object", "additionalProperties": false, "required": ["query"],
        "description": "A GraphQL request: POSTed as {\"query\", \"variables\", \"operationName\"} with Content-Type: application/json. Check it with graphql.errors == 0.",
        "properties": {
            "query": reference("template", "The GraphQL document: a template."),
            "variables": { "type": "object", "description": "The variables: a mapping; string values are templates, like a `json` body." },
            "operation_name": string("The operation of the document to run (operationName).")
        }
    })
}

/// The schema as pretty JSON with a trailing newline: the content of `docs/journey.schema.json`.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw;
    use serde::de::DeserializeOwned;

    /// The field names serde accepts for `T`, read from its "unknown field" error.
    fn serde_fields<T: DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
        let err = serde_yaml::from_str::<T>("zz_not_a_field: 1").unwrap_err().to_string();
        err.split('`').skip(3).step_by(2).map(str::to_string).collect()
    }

    fn schema_fields(schema: &Value, pointer: &str) -> Vec<String> {
        let mut keys: Vec<String> = schema.pointer(pointer).unwrap().as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn schema_describes_every_serde_field() {
        let schema = json_schema();
        let cases = [
            (serde_fields::<raw::RawJourney>(), "/properties"),
            (serde_fields::<raw::RawStep>(), "/definitions/step/properties"),
            (serde_fields::<raw::RawStage>(), "/definitions/stage/properties"),
            (serde_fields::<raw::RawData>(), "/definitions/data_source/properties"),
            (serde_fields::<raw::RawSecret>(), "/definitions/secret/properties"),
            (serde_fields::<crate::config::oauth::RawOAuth>(), "/definitions/oauth/properties"),
            (serde_fields::<raw::RawDefaults>(), "/definitions/defaults/properties"),
            (serde_fields::<raw::RawCheckMap>(), "/definitions/check/oneOf/1/properties"),
            (serde_fields::<raw::RawCaptureMap>(), "/definitions/capture/oneOf/1/properties"),
            (serde_fields::<raw::RawAlerts>(), "/properties/alerts/properties"),
            (serde_fields::<raw::RawSlo>(), "/properties/slo/properties"),
            (serde_fields::<raw::RawLatency>(), "/definitions/latency_rule/properties"),
            (serde_fields::<raw::RawCertExpiry>(), "/properties/alerts/properties/cert_expiry/properties"),
            (serde_fields::<raw::RawGraphql>(), "/definitions/step/properties/graphql/properties"),
            (
                serde_fields::<raw::RawFilePart>(),
                "/definitions/step/properties/multipart/additionalProperties/oneOf/1/properties",
            ),
            (serde_fields::<raw::RawWsMessage>(), "/definitions/step/properties/send/items/properties"),
            (serde_fields::<raw::RawCanary>(), "/properties/canary/properties"),
        ];
        for (mut fields, pointer) in cases {
            assert!(!fields.is_empty(), "no fields read for {pointer}");
            fields.sort();
            assert_eq!(fields, schema_fields(&schema, pointer), "{pointer}");
        }
    }

    #[test]
    fn every_property_has_a_description() {
        fn walk(v: &Value, path: &str) {
            if let Some(props) = v.get("properties").and_then(Value::as_object) {
                for (k, p) in props {
                    let described = p.get("description").is_some()
                        || p.get("$ref").and_then(Value::as_str) == Some("#/definitions/defaults");
                    assert!(described, "{path}.{k} has no description");
                    walk(p, &format!("{path}.{k}"));
                }
            }
            for key in ["definitions", "oneOf"] {
                match v.get(key) {
                    Some(Value::Object(m)) => m.iter().for_each(|(k, d)| walk(d, &format!("{path}.{k}"))),
                    Some(Value::Array(a)) => a.iter().enumerate().for_each(|(i, d)| walk(d, &format!("{path}[{i}]"))),
                    _ => {}
                }
            }
        }
        walk(&json_schema(), "");
    }
}
