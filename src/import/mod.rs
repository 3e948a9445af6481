//! `journeyd import`: a journey file from a browser's HAR recording or from curl command lines.
//!
//! Both readers turn their input into [`Exchange`]s (a request, and the recorded response when there is
//! one); the rest is shared and runs in this order, each stage in its own file:
//!
//! 1. `draft::select`, by the `rules` — leave out static assets, analytics and other origins' non-API
//!    requests; pick the main origin; merge redirect hops.
//! 2. `draft` — one step per kept request: relative URL, volatile headers dropped, `json:`/`form:`/`body:`,
//!    secret-looking fields marked as pending secrets.
//! 3. `correlate` — a distinctive value an earlier response returned and a later request sends becomes a
//!    `capture:` and a `{{ name }}` reference.
//! 4. `secrets` — what is still a credential (pending fields, `Authorization` values) becomes a
//!    `secrets:` entry read from `JOURNEY_*`; every other copy of its value is replaced too.
//! 5. `emit` — the YAML text, which `journeyd check` accepts.
//!
//! Nothing here does I/O: `cli::import` reads the input, prints the notes and writes the file.

mod correlate;
mod curl;
mod draft;
mod emit;
mod har;
mod ordered;
mod rules;
mod secrets;
mod words;

use url::Url;

pub use rules::{Dropped, ANALYTICS_HOSTS};

/// One recorded request, with its response when the recording has one (HAR does, curl does not).
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Upper-case method.
    pub method: String,
    pub url: Url,
    /// As recorded, volatile ones included: the rules decide.
    pub headers: Vec<(String, String)>,
    pub body: Option<RequestBody>,
    pub response: Option<Recorded>,
}

#[derive(Debug, Clone)]
pub struct RequestBody {
    /// The request's MIME type (HAR `postData.mimeType` or its `Content-Type`), possibly empty.
    pub mime: String,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub status: u16,
    pub mime: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The body as text when the recording kept it (base64 already decoded).
    pub body: Option<String>,
}

/// What the caller chose.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The journey's name; derived from the input when unset.
    pub name: Option<String>,
    /// Shown in the generated file's first comment: `journeyd import har checkout.har`.
    pub command: String,
}

/// A generated journey and what the person running the import must know.
#[derive(Debug, Clone)]
pub struct Imported {
    pub yaml: String,
    /// Environment variables the journey reads its secrets from, with what each one holds.
    pub env: Vec<(String, String)>,
    /// Things the import changed or could not carry over (ignored curl options, dropped cookies).
    pub warnings: Vec<String>,
    pub steps: usize,
    /// Requests left out, by reason.
    pub dropped: Vec<(Dropped, usize)>,
}

/// Why an input could not be imported. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}:{line}:{column}: not a HAR file: {message}")]
    NotJson { file: String, line: usize, column: usize, message: String },
    #[error(
        "{file}: not a HAR file: no `log.entries` (export it from the browser's Network tab with \"Save all as HAR\")"
    )]
    NoEntries { file: String },
    #[error("{file}: entry {index}: {message}")]
    Entry { file: String, index: usize, message: String },
    #[error("curl command {command}: {message}")]
    Curl { command: usize, message: String },
    #[error("curl commands: {0}")]
    Shell(#[from] words::SplitError),
    #[error("a recorded credential appears in a field or header name; refusing to write it into the journey")]
    WouldLeak,
    #[error("nothing to import: {0}")]
    Empty(String),
    #[error("invalid journey name `{0}`: use a-z, 0-9, `_`, `.` and `-`, starting with a letter or digit")]
    BadName(String),
}

/// A HAR 1.2 file's text → a journey. `file` names it in errors and derives the default name.
pub fn from_har(file: &str, text: &str, opts: &Options) -> Result<Imported, ImportError> {
    let exchanges = har::parse(file, text)?;
    let stem = std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or("imported");
    build(exchanges, opts, stem, Vec::new(), false)
}

/// One or more curl command lines (as "Copy as cURL" gives them) → a journey.
pub fn from_curl(text: &str, opts: &Options) -> Result<Imported, ImportError> {
    let parsed = curl::parse(text)?;
    build(parsed.exchanges, opts, "curl-import", parsed.warnings, parsed.insecure)
}

fn build(
    exchanges: Vec<Exchange>,
    opts: &Options,
    default_name: &str,
    mut warnings: Vec<String>,
    insecure: bool,
) -> Result<Imported, ImportError> {
    let name = match &opts.name {
        Some(n) if valid_name(n) => n.clone(),
        Some(n) => return Err(ImportError::BadName(n.clone())),
        None => Some(rules::slug(default_name, '-')).filter(|s| valid_name(s)).unwrap_or_else(|| "imported".into()),
    };
    let total = exchanges.len();
    let selection = draft::select(exchanges);
    let dropped = selection.dropped.clone();
    let Some(origin) = selection.origin.clone() else {
        let why = if total == 0 {
            "the recording has no requests".to_string()
        } else {
            let parts: Vec<String> = dropped.iter().map(|(d, n)| format!("{n} {}", d.describe())).collect();
            format!("all {total} requests were left out ({})", parts.join(", "))
        };
        return Err(ImportError::Empty(why));
    };
    let mut drafts = draft::drafts(&selection, &origin, &mut warnings);
    correlate::correlate(&selection.kept, &mut drafts);
    let registry = secrets::extract(&mut drafts);
    draft::name_steps(&mut drafts);
    let journey = emit::Journey { name: &name, command: &opts.command, target: &origin, insecure };
    let yaml = emit::journey(&journey, &drafts, &registry);
    if registry.leaks(&yaml) {
        // Every copy in a value is replaced; one in a field or header *name* is not: refuse to write it.
        return Err(ImportError::WouldLeak);
    }
    Ok(Imported { yaml, env: registry.notes(), warnings, steps: drafts.len(), dropped })
}

/// The journey and step name rule of docs/journeys.md.
fn valid_name(n: &str) -> bool {
    n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;

    fn entry(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &str)>,
        status: u16,
        resp: (&str, &str),
    ) -> serde_json::Value {
        let headers: Vec<_> = headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect();
        let mut request = json!({"method": method, "url": url, "headers": headers});
        if let Some((mime, text)) = body {
            request["postData"] = json!({"mimeType": mime, "text": text});
        }
        let location: Vec<_> =
            (status / 100 == 3).then(|| json!({"name": "Location", "value": resp.1})).into_iter().collect();
        let content = json!({"mimeType": resp.0, "text": resp.1});
        json!({"request": request, "response": {"status": status, "headers": location, "content": content}})
    }

    /// Every rule on one recording, and the result loads with the real loader.
    #[test]
    fn one_recording_through_every_rule() {
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("svc:pay-s3cret"));
        let orders = r#"{"orders": [{"id": 480213, "email": "ada@shop.test"}], "next": "cursor-abcdef"}"#;
        let entries = vec![
            entry("GET", "https://shop.test/", &[], None, 200, ("text/html", "<html>")),
            entry(
                "OPTIONS",
                "https://api.shop.test/v1/s",
                &[("Access-Control-Request-Method", "POST")],
                None,
                204,
                ("", ""),
            ),
            entry(
                "POST",
                "https://shop.test/login",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                Some(("application/x-www-form-urlencoded", "email=ada%40shop.test&password=hunter2%21&csrf=a%7B%7Bb")),
                303,
                ("text/html", "/account"),
            ),
            entry("GET", "https://shop.test/account", &[], None, 200, ("text/html", "<html>")),
            entry(
                "GET",
                "https://shop.test/api/orders?api_key=k%2Fsecret%2B1",
                &[],
                None,
                200,
                ("application/json", orders),
            ),
            entry(
                "GET",
                "https://shop.test/api/orders/480213?after=cursor-abcdef",
                &[],
                None,
                200,
                ("application/json", "{}"),
            ),
            entry("GET", "https://blocked.tracker.test/pixel", &[], None, 0, ("", "")),
            entry(
                "POST",
                "https://payments.test/v1/charge",
                &[("Authorization", &basic)],
                Some(("application/json", r#"{"amount": 1200, "order": 480213, "ref": "480213"}"#)),
                201,
                ("application/json", "{}"),
            ),
            entry("GET", "https://me:pa55word@shop.test/api/me", &[], None, 200, ("application/json", "{}")),
        ];
        let har = json!({"log": {"entries": entries}}).to_string();
        let opts = Options { name: Some("shop".into()), command: "journeyd import har shop.har".into() };
        let imported = from_har("shop.har", &har, &opts).unwrap();
        let yaml = &imported.yaml;
        for leaked in
            ["hunter2", "k/secret+1", "k%2Fsecret", "pa55word", "pay-s3cret", &basic[6..], "cursor-abcdef", "480213\""]
        {
            assert!(!yaml.contains(leaked), "`{leaked}` in:\n{yaml}");
        }
        for expected in [
            "target: \"https://shop.test\"\n",
            "  - name: get-root\n    get: /\n",
            "  - name: post-login\n    post: /login\n    form:\n      email: ada@shop.test\n      \
             password: \"{{ secrets.password }}\"\n      csrf: \"a{{ \\\"{{\\\" }}b\"\n    expect: [ status == 200 ]\n",
            "    get: \"/api/orders?api_key={{ urlencode(secrets.api_key) }}\"\n",
            "      next: { json: next }\n      id: { json: \"orders[0].id\" }\n",
            "  - name: get-api-orders-id\n    get: \"/api/orders/{{ id }}?after={{ next }}\"\n",
            "    post: \"https://payments.test/v1/charge\"\n    headers:\n      \
             Authorization: \"Basic {{ secrets.basic_auth }}\"\n",
            "      order: 480213\n      ref: \"{{ id }}\"\n",
            "      Authorization: \"Basic {{ secrets.basic_auth_2 }}\"\n",
        ] {
            assert!(yaml.contains(expected), "no {expected:?} in:\n{yaml}");
        }
        assert!(!yaml.contains("/account") && !yaml.contains("tracker") && !yaml.contains("api.shop.test"), "{yaml}");
        let vars: Vec<&str> = imported.env.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(vars, ["JOURNEY_PASSWORD", "JOURNEY_API_KEY", "JOURNEY_BASIC_AUTH", "JOURNEY_BASIC_AUTH_2"]);
        let dropped: Vec<_> = imported.dropped.iter().map(|(d, n)| (*d, *n)).collect();
        assert_eq!(dropped, [(Dropped::Preflight, 1), (Dropped::Redirect, 1), (Dropped::NoResponse, 1)]);

        let mut load = crate::config::LoadOptions { strict_env: true, ..Default::default() };
        for v in vars {
            load.env.insert(v.to_string(), "x-value".into());
        }
        let loaded = crate::config::load_str(std::path::Path::new("shop.yml"), yaml, &load);
        let steps = loaded
            .map(|l| l.suite.journeys[0].steps.len())
            .map_err(|d| d.0.iter().map(|d| d.to_string()).collect::<Vec<_>>());
        assert_eq!(steps, Ok(6), "{yaml}");
    }

    #[test]
    fn duplicates_are_merged_and_unfollowed_redirects_stop() {
        let form = ("application/x-www-form-urlencoded", "item=1&item=2");
        let headers = [("Accept", "text/html"), ("accept", "application/json")];
        let entries = vec![
            entry("POST", "https://a.test/cart", &headers, Some(form), 200, ("application/json", "{}")),
            entry("GET", "https://a.test/sso", &[], None, 302, ("text/html", "https://idp.test/login")),
        ];
        let har = json!({"log": {"entries": entries}}).to_string();
        let yaml = from_har("a.har", &har, &Options::default()).unwrap().yaml;
        let expected = "    headers:\n      Accept: \"text/html, application/json\"\n    \
                        body: item=1&item=2\n    content_type: application/x-www-form-urlencoded\n";
        assert!(yaml.contains(expected), "{yaml}");
        assert!(yaml.contains("    get: /sso\n    redirects: false\n    expect: [ status == 302 ]\n"), "{yaml}");
        let loaded = crate::config::load_str(std::path::Path::new("a.yml"), &yaml, &Default::default());
        assert!(loaded.is_ok(), "{yaml}");
    }

    #[test]
    fn location_and_token_headers_are_captured() {
        let created = json!({"request": {"method": "POST", "url": "https://a.test/api/orders"},
            "response": {"status": 201, "headers": [{"name": "Location", "value": "/api/orders/ORD-123456"},
                {"name": "X-CSRF-Token", "value": "csrf-9f8e7d6c"}, {"name": "Date", "value": "Sun, 06 Dec 2026"}],
                "content": {"mimeType": "application/json", "text": "{}"}}});
        let csrf = [("X-CSRF-Token", "csrf-9f8e7d6c"), ("X-Note", "Sun, 06 Dec 2026")];
        let next = entry("GET", "https://a.test/api/orders/ORD-123456", &csrf, None, 200, ("application/json", "{}"));
        let har = json!({"log": {"entries": [created, next]}}).to_string();
        let yaml = from_har("a.har", &har, &Options::default()).unwrap().yaml;
        let expected = "    capture:\n      location: { header: Location }\n      \
                        x_csrf_token: { header: X-CSRF-Token, secret: true }\n";
        assert!(yaml.contains(expected), "{yaml}");
        assert!(
            yaml.contains("    get: \"{{ location }}\"\n    headers:\n      X-CSRF-Token: \"{{ x_csrf_token }}\"\n")
        );
        assert!(yaml.contains("X-Note: \"Sun, 06 Dec 2026\""), "the Date header is not a candidate: {yaml}");
        assert!(crate::config::load_str(std::path::Path::new("a.yml"), &yaml, &Default::default()).is_ok(), "{yaml}");
    }

    #[test]
    fn an_echoed_value_keeps_its_first_source_and_user_input_is_never_captured() {
        let json = "application/json";
        let entries = vec![
            entry(
                "POST",
                "https://a.test/api/s",
                &[],
                Some((json, r#"{"user": "ada-lovelace"}"#)),
                200,
                (json, r#"{"user": "ada-lovelace", "sid": "sess-000111"}"#),
            ),
            entry("GET", "https://a.test/api/x?sid=sess-000111", &[], None, 200, (json, r#"{"sid": "sess-000111"}"#)),
            entry("GET", "https://a.test/api/y/ada-lovelace?sid=sess-000111", &[], None, 200, (json, "{}")),
        ];
        let har = json!({"log": {"entries": entries}}).to_string();
        let yaml = from_har("a.har", &har, &Options::default()).unwrap().yaml;
        assert_eq!(yaml.matches("sid: { json: sid }").count(), 1, "{yaml}");
        let login = "    post: /api/s\n    json:\n      user: ada-lovelace\n    expect: [ status == 200 ]\n    \
                     capture:\n      sid: { json: sid }\n";
        assert!(yaml.contains(login), "{yaml}");
        assert!(yaml.contains("    get: \"/api/y/ada-lovelace?sid={{ sid }}\"\n"), "{yaml}");
    }

    #[test]
    fn names_are_checked_and_derived() {
        let har =
            json!({"log": {"entries": [entry("GET", "https://a.test/x", &[], None, 200, ("application/json", "{}"))]}})
                .to_string();
        let named = |name: Option<&str>, file: &str| {
            from_har(file, &har, &Options { name: name.map(String::from), command: String::new() }).map(|i| i.yaml)
        };
        assert!(named(None, "dir/My Checkout.har").unwrap().contains("\nname: my-checkout\n"));
        assert!(named(None, "____.har").unwrap().contains("\nname: imported\n"));
        assert!(matches!(named(Some("Bad"), "a.har"), Err(ImportError::BadName(_))));
    }
}
