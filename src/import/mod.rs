//! `journeyd import`: a journey file from a browser's HAR recording or from curl command lines.
//!
//! Both readers turn their input into [`Exchange`]s (a request, and the recorded response when there is
//! one); the rest is shared and runs in this order, each stage in its own file:
//!
//! 1. `rules` — leave out static assets, analytics and other origins' non-API requests; pick the main
//!    origin; drop volatile headers.
//! 2. `draft` — one step per kept request: relative URL, `json:`/`form:`/`body:`, secret-looking fields
//!    marked as pending secrets.
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
