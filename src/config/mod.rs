//! Journey files: raw serde types, validation into the model with `file:line:col` diagnostics, JSON Schema.
//!
//! `load` reads files and directories, parses each file strictly (`raw`), validates it into a
//! `model::Journey` (`build`, `step`, `alerts`, which share the field checks in `fields`; templates compiled
//! by `templates` (helper calls in `template_helpers`), checks parsed by `expr`, thresholds by the leaf `crate::threshold`), then checks what
//! spans files (unique names, `depends_on`). Every problem found is reported, located at the YAML node it is
//! about (`position`), rustc-style (`diag`). Secret values never appear in messages.
//!
//! Durations, rates and sizes are parsed by the leaf `crate::units`. Files: `suggest` (did you mean),
//! `serde_err` (serde errors into diagnostics), `data` (CSV and secret files), `capture` (capture sources),
//! `scan` (small lexers shared by templates and checks), `schema` (the JSON Schema editors use).

mod alerts;
mod build;
mod capture;
mod data;
mod diag;
mod expr;
mod fields;
pub mod limits;
mod oauth;
mod position;
mod raw;
mod scan;
mod schema;
mod serde_err;
mod step;
mod suggest;
mod targets;
mod templates;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::Suite;

pub use alerts::{parse_objective, parse_quantile};
pub use diag::render;
/// The settings and web-config files locate their errors with the same positions.
pub(crate) use position::Pos;
pub use schema::{json_schema, schema_text};
pub use suggest::did_you_mean;

use build::Built;
/// The settings and web-config files report through the same diagnostics.
pub(crate) use diag::FileCtx;

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Environment overrides consulted before the process environment (tests inject values here).
    pub env: HashMap<String, String>,
    /// Missing env variables and secret files are errors (`run`, `verify`) rather than warnings (`check`).
    pub strict_env: bool,
    /// `verify --target URL`: every journey's target, in place of what its file says (whose variables are
    /// then not needed).
    pub target_override: Option<String>,
}

impl LoadOptions {
    pub fn lookup_env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned().or_else(|| std::env::var(name).ok())
    }
}

/// A problem found in a file, located and explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the whole file (it cannot be read, no journey files).
    pub line: usize,
    /// 1-based.
    pub column: usize,
    pub severity: Severity,
    pub message: String,
    /// The offending source line (already redacted).
    pub snippet: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// The result of a successful load: the suite, plus warnings that did not stop it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub suite: Suite,
    pub warnings: Vec<Diagnostic>,
    /// Files read, in order.
    pub files: Vec<PathBuf>,
}

/// Every error (and warning) found, across all files.
#[derive(Debug, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

fn file_diag(file: &Path, message: String, hint: Option<String>) -> Diagnostic {
    Diagnostic { file: file.to_path_buf(), line: 0, column: 0, severity: Severity::Error, message, snippet: None, hint }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Loads journey files and directories (a directory contributes its `*.yml` / `*.yaml` files, sorted, not
/// recursively; other files in it are ignored).
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<Loaded, Diagnostics> {
    let mut early = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Err(e) => early.push(file_diag(p, format!("cannot read: {}", io_reason(&e)), None)),
            Ok(m) if m.is_dir() => match journey_files(p) {
                Ok(found) => files.extend(found),
                Err(e) => early.push(file_diag(p, format!("cannot list directory: {}", io_reason(&e)), None)),
            },
            Ok(_) => files.push(p.clone()),
        }
    }
    let mut loaded = Vec::new();
    for f in &files {
        match limits::read_capped(f, limits::MAX_YAML_BYTES) {
            Err(limits::ReadError::Io(e)) => early.push(file_diag(f, format!("cannot read: {}", io_reason(&e)), None)),
            Err(e @ limits::ReadError::TooLarge { at, .. }) => early.push(Diagnostic {
                line: at.line,
                column: at.col,
                ..file_diag(
                    f,
                    format!("journey file {e}"),
                    Some("split it into several journey files, or move bulk test data into a CSV data source".into()),
                )
            }),
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => loaded.push(load_file(f, &text, opts)),
                Err(_) => early.push(file_diag(f, "not UTF-8 text".into(), Some("save the file as UTF-8".into()))),
            },
        }
    }
    if files.is_empty() && early.is_empty() {
        let shown = paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
        let hint = "pass journey files, or a directory that holds *.yml files".to_string();
        early.push(file_diag(&shown, "no journey files found".into(), Some(hint)));
    }
    finish(early, loaded, files, Severity::Error)
}

/// Loads a journey from text (tests, `verify` from stdin). `path` is used in messages and to resolve
/// relative CSV and secret-file paths. `depends_on` names other journeys, which are not loaded here, so
/// unknown names are warnings.
pub fn load_str(path: &Path, text: &str, opts: &LoadOptions) -> Result<Loaded, Diagnostics> {
    let one = load_file(path, text, opts);
    finish(Vec::new(), vec![one], vec![path.to_path_buf()], Severity::Warning)
}

fn journey_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"));
        if yaml && path.is_file() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn load_file(path: &Path, text: &str, opts: &LoadOptions) -> (FileCtx, Option<Built>) {
    // Limits first: the position index below parses the whole file too, recursively.
    let raw = limits::from_str::<raw::RawJourney>(text);
    if let Err(limits::YamlError::Limit(limit)) = &raw {
        let mut ctx = FileCtx::unindexed(path, text);
        ctx.push(Severity::Error, limit.at, limit.message(), limit.hint());
        return (ctx, None);
    }
    let mut ctx = FileCtx::new(path, text);
    for d in ctx.index.duplicates.clone() {
        let key = d.path.rsplit(['.', '[']).next().unwrap_or(&d.path).to_string();
        let hint = format!("the first `{key}` is on line {}", d.first.line);
        ctx.push(Severity::Error, d.second, format!("duplicate key `{key}`"), Some(hint));
    }
    match raw {
        Ok(raw) => {
            let built = build::build_journey(&mut ctx, raw, text.as_bytes(), opts);
            (ctx, Some(built))
        }
        Err(limits::YamlError::Limit(_)) => (ctx, None),
        Err(limits::YamlError::Serde(e)) => {
            let dir = path.parent().unwrap_or(Path::new(""));
            ctx.secrets.extend(serde_err::lenient_secrets(text, dir, opts));
            serde_err::report(&mut ctx, &e);
            (ctx, None)
        }
    }
}

/// Checks across files, then gathers the suite or every diagnostic.
fn finish(
    mut diags: Vec<Diagnostic>,
    mut loaded: Vec<(FileCtx, Option<Built>)>,
    files: Vec<PathBuf>,
    unknown_dependency: Severity,
) -> Result<Loaded, Diagnostics> {
    cross_file_checks(&mut loaded, unknown_dependency);
    let mut journeys = Vec::new();
    for (ctx, built) in loaded {
        let mut file_diags = ctx.finish();
        file_diags.sort_by_key(|d| (d.line, d.column));
        diags.extend(file_diags);
        if let Some(j) = built.and_then(|b| b.journey) {
            journeys.push(Arc::new(j));
        }
    }
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(Diagnostics(diags));
    }
    journeys.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Loaded { suite: Suite { journeys }, warnings: diags, files })
}

fn cross_file_checks(loaded: &mut [(FileCtx, Option<Built>)], unknown_dependency: Severity) {
    let mut first: HashMap<String, PathBuf> = HashMap::new();
    for (ctx, built) in loaded.iter_mut() {
        let Some(b) = built else { continue };
        match first.get(&b.name) {
            Some(other) => {
                let hint = format!("`{}` is already defined in {}", b.name, other.display());
                ctx.error("name", format!("duplicate journey name `{}`", b.name), Some(hint));
                b.journey = None;
            }
            None => {
                first.insert(b.name.clone(), ctx.file.clone());
            }
        }
    }
    let graph: HashMap<String, Vec<String>> =
        loaded.iter().filter_map(|(_, b)| b.as_ref()).map(|b| (b.name.clone(), b.depends_on.clone())).collect();
    let mut names: Vec<&str> = graph.keys().map(String::as_str).collect();
    names.sort_unstable();
    for (ctx, built) in loaded.iter_mut() {
        let Some(b) = built else { continue };
        for (i, dep) in b.depends_on.iter().enumerate() {
            let path = position::index_path("depends_on", i);
            if *dep == b.name {
                ctx.error(&path, "a journey cannot depend on itself", None);
            } else if !graph.contains_key(dep) {
                let mut hint = suggest::hint(dep, names.iter().copied()).map(|h| format!("{h} ")).unwrap_or_default();
                hint.push_str(&format!("loaded journeys: {}", suggest::quoted_list(names.iter().copied())));
                let at = ctx.index.value(&path);
                let msg = format!("depends_on names unknown journey `{dep}`");
                ctx.push(unknown_dependency, at, msg, Some(hint));
            } else if let Some(cycle) = cycle_through(&graph, &b.name, dep) {
                // Reported once, by the journey whose name sorts first in the cycle.
                if cycle.iter().all(|n| n.as_str() >= b.name.as_str()) {
                    let msg = format!("depends_on forms a cycle: {}", cycle.join(" → "));
                    let hint = "alerts of journeys in a cycle would suppress each other; remove one dependency";
                    ctx.error(&path, msg, Some(hint.into()));
                }
            }
        }
    }
}

/// The cycle `start → dep → … → start`, if `dep` leads back to `start`.
fn cycle_through(graph: &HashMap<String, Vec<String>>, start: &str, dep: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &HashMap<String, Vec<String>>,
        node: &str,
        target: &str,
        seen: &mut HashSet<String>,
        path: &mut Vec<String>,
    ) -> bool {
        path.push(node.to_string());
        if node == target {
            return true;
        }
        if seen.insert(node.to_string()) {
            for next in graph.get(node).into_iter().flatten() {
                if walk(graph, next, target, seen, path) {
                    return true;
                }
            }
        }
        path.pop();
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, dep, start, &mut HashSet::new(), &mut path).then_some(path)
}
