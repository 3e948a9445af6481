//! Validation of one parsed journey file into a `model::Journey`, reporting every problem it finds.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::data::{read_csv, read_secret_file};
use super::diag::FileCtx;
use super::fields::{check_ident, check_name, check_thresholds, duration, header, report};
use super::position::{index_path, key_path};
use super::raw::{RawDefaults, RawJourney, RawPick, RawStage};
use super::step::{build_steps, Scope};
use super::templates::{self, DataNames, Env, Names};
use super::LoadOptions;
use crate::model::{
    DataSource, Journey, LoadModel, Pick, RequestDefaults, Secret, Stage, StageTarget, TlsCa, DEFAULT_MAX_BODY_BYTES,
};
use crate::template::{Part, Template};
use crate::units::{format_duration, parse_bytes, parse_rate};

const DEFAULT_EVERY: Duration = Duration::from_secs(60);
const MAX_DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_USERS: u32 = 100;

/// One file's result: the journey when it is valid, and what other files are checked against.
pub struct Built {
    pub journey: Option<Journey>,
    pub name: String,
    pub depends_on: Vec<String>,
}

pub(super) fn template(ctx: &mut FileCtx, path: &str, text: &str, names: &Names, env: &mut Env) -> Option<Template> {
    let mut problems = Vec::new();
    let t = templates::compile(text, names, env, &mut problems);
    report(ctx, path, text, problems);
    t
}

/// When and how hard a journey runs, read before anything that depends on it (rows for `pick: unique`,
/// the step timeouts).
struct Timing {
    /// `None` when `every` did not parse (reported): no journey is built, but checking goes on.
    every: Option<Duration>,
    users: u32,
    /// `None` when `timeout` did not parse (reported), or `every` did not and gave it no default.
    timeout: Option<Duration>,
    load: LoadModel,
}

pub fn build_journey(ctx: &mut FileCtx, raw: RawJourney, bytes: &[u8], opts: &LoadOptions) -> Built {
    let dir = ctx.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut env = Env::new(opts);
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);

    check_name(ctx, "name", &raw.name, "journey");
    for (i, dep) in raw.depends_on.iter().enumerate() {
        check_name(ctx, &index_path("depends_on", i), dep, "journey");
    }
    let timing = timing(ctx, &raw);
    let vars = vars(ctx, &raw, &mut env);
    let secrets = secrets(ctx, &raw, &dir, opts, &mut hasher);
    let (data, broken_data) = data_sources(ctx, &raw, &dir, &timing, &mut hasher);
    let mut scope = Scope {
        vars: vars.clone(),
        secret_names: secrets.iter().map(|s| s.name.clone()).collect(),
        oauth_names: Vec::new(),
        data: data_names(&raw, &data),
        broken_data,
        timeout: timing.timeout.unwrap_or(Duration::MAX),
        has_target: raw.target.is_some() || raw.targets.is_some() || opts.target_override.is_some(),
        dir: dir.clone(),
    };
    // The target and the token sources come before `oauth` names exist: a token URL joined onto a target
    // that needs a token could never be fetched.
    let target = target(ctx, &raw, opts, &Names { no_oauth: true, ..scope.names() }, &mut env);
    let targets = super::targets::build_targets(ctx, &raw, opts, &Names { no_oauth: true, ..scope.names() }, &mut env);
    // The baseline's URL is the journey's target: what every view of the journey (and `verify`) runs.
    let target = target.or_else(|| targets.as_ref().map(|t| t.named[0].1.clone()));
    let oauth = {
        let names = Names { data: &[], broken_data: &[], no_oauth: true, ..scope.names() };
        super::oauth::build_oauth(ctx, &raw.oauth, &names, &mut env, scope.has_target)
    };
    scope.oauth_names = raw.oauth.0.iter().map(|(name, _)| name.clone()).collect();
    let defaults = request_defaults(ctx, raw.defaults.as_ref(), &scope.names(), &mut env, timing.timeout, &dir);
    if let Some(ca) = &defaults.tls_ca {
        ca.pem.hash(&mut hasher);
    }
    let step_names: Vec<String> = raw.steps.iter().map(|s| s.name.clone()).collect();
    let alerts = super::alerts::build_alerts(ctx, raw.alerts.as_ref(), raw.slo.as_ref(), &step_names);
    let (thresholds, _) = check_thresholds(ctx, "thresholds", &raw.thresholds);
    let steps = build_steps(ctx, raw.steps, &scope, &defaults, &mut env);
    // A changed upload file is a changed journey, like a changed CSV file.
    for step in &steps.steps {
        if let Some(crate::model::Body::Multipart(parts)) = &step.body {
            for part in parts {
                if let crate::model::PartValue::File(f) = &part.value {
                    f.bytes.hash(&mut hasher);
                }
            }
        }
    }

    for (name, value) in &env.used {
        (name, value).hash(&mut hasher);
    }
    let journey = match (timing.every, timing.timeout) {
        (Some(every), Some(timeout)) if !ctx.has_errors() => Some(Journey {
            name: raw.name.clone(),
            description: raw.description.unwrap_or_default(),
            tags: raw.tags,
            source: ctx.file.clone(),
            fingerprint: hasher.finish(),
            target,
            targets,
            every,
            users: timing.users,
            load: timing.load,
            timeout,
            defaults,
            vars,
            data,
            secrets,
            oauth,
            steps: steps.steps,
            capture_slots: steps.capture_slots,
            secret_captures: steps.secret_captures,
            depends_on: raw.depends_on.clone(),
            alerts,
            thresholds,
        }),
        _ => None,
    };
    Built { journey, name: raw.name, depends_on: raw.depends_on }
}

/// `every`, `users`, `timeout` (at most `every`) and the load model.
fn timing(ctx: &mut FileCtx, raw: &RawJourney) -> Timing {
    let every = raw.every.as_ref().map_or(Some(DEFAULT_EVERY), |e| duration(ctx, "every", &e.0));
    let users = raw.users.unwrap_or(1);
    if users == 0 {
        ctx.error("users", "users must be at least 1", None);
    }
    let timeout = match &raw.timeout {
        Some(t) => duration(ctx, "timeout", &t.0),
        None => every.map(|e| e.min(MAX_DEFAULT_TIMEOUT)),
    };
    if let (Some(t), Some(e)) = (timeout, every) {
        if t > e {
            let msg = format!(
                "timeout {} is longer than every {}: a run could overlap the next one",
                format_duration(t),
                format_duration(e)
            );
            ctx.error("timeout", msg, Some("lower `timeout` or raise `every`".into()));
        }
    }
    let load = load_model(ctx, raw, users);
    Timing { every, users, timeout, load }
}

/// `vars`, which may only use `env`: each one's text, fixed at load.
fn vars(ctx: &mut FileCtx, raw: &RawJourney, env: &mut Env) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    let env_only = Names { env_only: true, ..Names::default() };
    for (k, v) in &raw.vars.0 {
        let path = key_path("vars", k);
        if !check_ident(ctx, &path, k, "var") {
            continue;
        }
        // A var whose template failed is still defined (empty), so its uses do not report it again.
        let text: String = template(ctx, &path, &v.0, &env_only, env)
            .map(|t| {
                t.parts.iter().filter_map(|p| if let Part::Lit(s) = p { Some(s.as_str()) } else { None }).collect()
            })
            .unwrap_or_default();
        vars.push((k.clone(), text));
    }
    vars
}

/// `secrets`, read from the environment or files; each value is registered for redaction and hashed into
/// the fingerprint (so a changed secret reloads the journey).
fn secrets(
    ctx: &mut FileCtx,
    raw: &RawJourney,
    dir: &Path,
    opts: &LoadOptions,
    hasher: &mut DefaultHasher,
) -> Vec<Secret> {
    let mut secrets = Vec::new();
    for (name, s) in &raw.secrets.0 {
        let path = key_path("secrets", name);
        if !check_ident(ctx, &path, name, "secret") {
            continue;
        }
        let value = secret_value(ctx, &path, name, s, dir, opts);
        value.hash(hasher);
        if !value.is_empty() {
            ctx.secrets.push(value.clone());
            if value.len() < crate::redact::MIN_SECRET_LEN {
                let msg = format!(
                    "secret `{name}` is shorter than {} characters, so it is not redacted",
                    crate::redact::MIN_SECRET_LEN
                );
                ctx.warn(&path, msg, None);
            }
        }
        secrets.push(Secret { name: name.clone(), value });
    }
    secrets
}

/// `data` sources, read from their CSV files (hashed into the fingerprint). Also returns the names of those
/// whose file could not be read (reported), so their columns are not reported again where they are used.
fn data_sources(
    ctx: &mut FileCtx,
    raw: &RawJourney,
    dir: &Path,
    timing: &Timing,
    hasher: &mut DefaultHasher,
) -> (Vec<DataSource>, Vec<String>) {
    let mut data = Vec::new();
    let mut broken_data = Vec::new();
    for (name, d) in &raw.data.0 {
        let path = key_path("data", name);
        if !check_ident(ctx, &path, name, "data source") {
            continue;
        }
        let csv_path = key_path(&path, "csv");
        match read_csv(&dir.join(&d.csv), &d.csv) {
            Ok(csv) => {
                csv.bytes.hash(hasher);
                let pick = match d.pick.unwrap_or(RawPick::Unique) {
                    RawPick::Unique => Pick::Unique,
                    RawPick::Sequential => Pick::Sequential,
                    RawPick::Random => Pick::Random,
                };
                if pick == Pick::Unique {
                    check_unique_rows(ctx, &csv_path, name, csv.rows.len(), &d.csv, timing);
                }
                data.push(DataSource { name: name.clone(), columns: csv.columns, rows: Arc::new(csv.rows), pick });
            }
            Err((msg, hint)) => {
                ctx.error(&csv_path, msg, hint);
                broken_data.push(name.clone());
            }
        }
    }
    (data, broken_data)
}

/// `pick: unique` leases a row to each user in flight: the file (`csv`, with `rows`) must have enough.
fn check_unique_rows(ctx: &mut FileCtx, csv_path: &str, name: &str, rows: usize, csv: &str, timing: &Timing) {
    let (need, why) = rows_needed(timing.users, &timing.load);
    if rows < need as usize {
        let msg = format!("data source `{name}` has {rows} rows, but `pick: unique` needs at least {need} ({why})");
        let hint = format!(
            "each concurrent user leases its own row: add rows to {csv}, lower the user count, or use pick: sequential"
        );
        ctx.error(csv_path, msg, Some(hint));
    }
}

/// The data sources as templates see them, with their CSV paths as written.
fn data_names(raw: &RawJourney, data: &[DataSource]) -> Vec<DataNames> {
    data.iter()
        .map(|d| {
            let csv = raw.data.0.iter().find(|(n, _)| *n == d.name).map_or_else(String::new, |(_, r)| r.csv.clone());
            DataNames { name: d.name.clone(), csv, columns: d.columns.clone() }
        })
        .collect()
}

/// The written `target` (an http(s) URL when it is fixed), or the `verify --target` that replaces it.
fn target(ctx: &mut FileCtx, raw: &RawJourney, opts: &LoadOptions, names: &Names, env: &mut Env) -> Option<Template> {
    // `verify --target` replaces the written target, so its variables are never looked up: a variable used
    // only there need not be set.
    let written = raw.target.as_ref().filter(|_| opts.target_override.is_none());
    let target = written.and_then(|t| template(ctx, "target", &t.0, names, env)).map(|t| target_url(ctx, "target", t));
    target.or_else(|| opts.target_override.as_deref().map(|t| Template::literal(t.trim_end_matches('/'))))
}

/// A target template, checked to be an http(s) URL when it is fixed (`path`: `target`, `targets.canary`).
pub(super) fn target_url(ctx: &mut FileCtx, path: &str, compiled: Template) -> Template {
    if compiled.is_literal() {
        let text = compiled.render(&crate::template::Scope { secrets: &[], rows: &[], captures: &[], tokens: &[] });
        if !text.is_empty() && !text.starts_with("http://") && !text.starts_with("https://") {
            let msg = format!("target `{text}` is not an http:// or https:// URL");
            ctx.error(path, msg, Some("write it like https://shop.example.com".into()));
        }
    }
    compiled
}

fn secret_value(
    ctx: &mut FileCtx,
    path: &str,
    name: &str,
    s: &super::raw::RawSecret,
    dir: &Path,
    opts: &LoadOptions,
) -> String {
    let missing = |ctx: &mut FileCtx, at: &str, msg: String, hint: String| {
        if opts.strict_env {
            ctx.error(at, msg, Some(hint));
        } else {
            ctx.warn(at, format!("{msg}; using an empty value"), Some(hint));
        }
    };
    match (&s.env, &s.file) {
        (Some(var), None) => opts.lookup_env(var).unwrap_or_else(|| {
            let msg = format!("secret `{name}`: environment variable `{var}` is not set");
            missing(ctx, &key_path(path, "env"), msg, format!("set {var} in the environment journeyd runs in"));
            String::new()
        }),
        (None, Some(file)) => read_secret_file(&dir.join(file)).unwrap_or_else(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound { "not found".to_string() } else { e.to_string() };
            let msg = format!("secret `{name}`: file `{file}` {why}");
            missing(ctx, &key_path(path, "file"), msg, "secret file paths are relative to the journey file".into());
            String::new()
        }),
        (Some(_), Some(_)) => {
            ctx.error_key(&key_path(path, "file"), "a secret comes from `env` or `file`, not both", None);
            String::new()
        }
        (None, None) => {
            let hint = format!("write {name}: {{ env: VAR }} or {name}: {{ file: path }}");
            ctx.error(path, format!("secret `{name}` needs `env` or `file`"), Some(hint));
            String::new()
        }
    }
}

fn load_model(ctx: &mut FileCtx, raw: &RawJourney, users: u32) -> LoadModel {
    if raw.max_users.is_some() && raw.rate.is_none() {
        let hint = "max_users caps concurrent users for an arrival rate: add `rate: 10/s`, or remove it";
        ctx.error_key("max_users", "`max_users` only applies with `rate`", Some(hint.into()));
    }
    match (&raw.rate, &raw.stages) {
        (Some(_), Some(_)) => {
            ctx.error_key(
                "stages",
                "`rate` and `stages` cannot be used together",
                Some("a journey has one load model".into()),
            );
            LoadModel::Closed { users }
        }
        (Some(rate), None) => {
            let max_users = raw.max_users.unwrap_or(DEFAULT_MAX_USERS);
            if max_users == 0 {
                ctx.error("max_users", "max_users must be at least 1", None);
            }
            match parse_rate(&rate.0) {
                Ok(r) => LoadModel::Open { rate_per_sec: r, max_users },
                Err(e) => {
                    ctx.error("rate", e, None);
                    LoadModel::Closed { users }
                }
            }
        }
        (None, Some(stages)) => {
            if stages.is_empty() {
                ctx.error("stages", "`stages` is empty", Some("add a stage: - { rate: 10/s, for: 1m }".into()));
            }
            let built =
                stages.iter().enumerate().filter_map(|(i, s)| stage(ctx, &index_path("stages", i), s)).collect();
            LoadModel::Stages(built)
        }
        (None, None) => LoadModel::Closed { users },
    }
}

fn stage(ctx: &mut FileCtx, path: &str, s: &RawStage) -> Option<Stage> {
    let d = duration(ctx, &key_path(path, "for"), &s.duration.0);
    let target = match (&s.rate, s.users) {
        (Some(rate), None) => match parse_rate(&rate.0) {
            Ok(r) => StageTarget::Rate(r),
            Err(e) => {
                ctx.error(&key_path(path, "rate"), e, None);
                return None;
            }
        },
        (None, Some(0)) => {
            ctx.error(&key_path(path, "users"), "users must be at least 1", None);
            return None;
        }
        (None, Some(u)) => StageTarget::Users(u),
        (Some(_), Some(_)) => {
            ctx.error_key(&key_path(path, "users"), "a stage sets `rate` or `users`, not both", None);
            return None;
        }
        (None, None) => {
            ctx.error(path, "a stage needs `rate` or `users`", Some("- { rate: 10/s, for: 30s }".into()));
            return None;
        }
    };
    Some(Stage { target, duration: d? })
}

/// How many rows `pick: unique` needs: one per user that can be in flight at once.
fn rows_needed(users: u32, load: &LoadModel) -> (u32, String) {
    let mut need = (users, format!("users: {users}"));
    match load {
        LoadModel::Closed { .. } => {}
        LoadModel::Open { max_users, .. } => {
            if *max_users > need.0 {
                need = (*max_users, format!("max_users: {max_users}"));
            }
        }
        LoadModel::Stages(stages) => {
            for s in stages {
                if let StageTarget::Users(u) = s.target {
                    if u > need.0 {
                        need = (u, format!("a stage with {u} users"));
                    }
                }
            }
        }
    }
    need
}

fn request_defaults(
    ctx: &mut FileCtx,
    raw: Option<&RawDefaults>,
    names: &Names,
    env: &mut Env,
    journey_timeout: Option<Duration>,
    dir: &Path,
) -> RequestDefaults {
    let mut out = RequestDefaults::default();
    let Some(raw) = raw else { return out };
    for (k, v) in &raw.headers.0 {
        let path = key_path("defaults.headers", k);
        let value = template(ctx, &path, &v.0, names, env);
        out.headers.extend(header(ctx, &path, k, value));
    }
    if let Some(r) = raw.redirects {
        out.max_redirects = r.0;
    }
    if let Some(t) = &raw.timeout {
        out.step_timeout = duration(ctx, "defaults.timeout", &t.0);
        if let (Some(d), Some(j)) = (out.step_timeout, journey_timeout) {
            if d > j {
                let msg = format!(
                    "default step timeout {} is longer than the journey timeout {}",
                    format_duration(d),
                    format_duration(j)
                );
                ctx.error("defaults.timeout", msg, Some("lower it, or raise the journey's `timeout`".into()));
            }
        }
    }
    out.tls_skip_verify = raw.tls_skip_verify.unwrap_or(false);
    out.redirects_to_http = raw.redirects_to_http.unwrap_or(false);
    out.connections = raw.connections.map(|c| match c {
        super::raw::RawConnections::Fresh => crate::model::ConnectionPolicy::Fresh,
        super::raw::RawConnections::Reuse => crate::model::ConnectionPolicy::Reuse,
    });
    if let Some(file) = &raw.tls_ca {
        out.tls_ca = tls_ca(ctx, dir, file);
    }
    out.max_body_bytes = match &raw.max_body {
        None => DEFAULT_MAX_BODY_BYTES,
        Some(s) => match parse_bytes(&s.0).map(usize::try_from) {
            Ok(Ok(n)) if n > 0 => n,
            Ok(_) => {
                ctx.error("defaults.max_body", "max_body must be more than 0 bytes", None);
                DEFAULT_MAX_BODY_BYTES
            }
            Err(e) => {
                ctx.error("defaults.max_body", e, None);
                DEFAULT_MAX_BODY_BYTES
            }
        },
    };
    out
}

/// `defaults.tls_ca`: a PEM bundle of CA certificates, read and tried here as the runner will use it, so
/// preparing the journey to run cannot fail on it. Reports and returns `None` when it is not usable.
fn tls_ca(ctx: &mut FileCtx, dir: &Path, file: &str) -> Option<Arc<TlsCa>> {
    let path = dir.join(file);
    let pem = match super::limits::read_capped(&path, super::limits::MAX_PEM_BYTES) {
        Ok(pem) => pem,
        Err(e) => {
            let hint = "the path is relative to the journey file";
            ctx.error("defaults.tls_ca", format!("cannot read {file}: {e}"), Some(hint.into()));
            return None;
        }
    };
    let problem = match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if certs.is_empty() => "no PEM certificate in it",
        Ok(certs) if ca_client(&certs).is_ok() => return Some(Arc::new(TlsCa { path, pem })),
        _ => "a certificate in it is malformed or cut short",
    };
    let hint = "give a PEM file with the CA certificate(s), each whole from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----";
    ctx.error("defaults.tls_ca", format!("{file}: {problem}"), Some(hint.into()));
    None
}

/// A client that trusts `certs` (and nothing else): fails when a certificate in the bundle is malformed.
fn ca_client(certs: &[reqwest::Certificate]) -> reqwest::Result<reqwest::Client> {
    certs
        .iter()
        .fold(reqwest::Client::builder().tls_built_in_root_certs(false), |b, c| b.add_root_certificate(c.clone()))
        .build()
}
