//! Journey files: raw serde types, validation into the model with `file:line:col` diagnostics, JSON Schema.
//!
//! (Being written: see the config helper's brief. The public API below is the contract.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::model::Suite;

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Environment overrides consulted before the process environment (tests inject values here).
    pub env: HashMap<String, String>,
    /// Missing env variables and secret files are errors (`run`, `verify`) rather than warnings (`check`).
    pub strict_env: bool,
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
    /// 1-based.
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

/// Loads journey files and directories (a directory contributes its `*.yml` / `*.yaml` files).
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<Loaded, Diagnostics> {
    let _ = (paths, opts);
    Ok(Loaded { suite: Suite::default(), warnings: Vec::new(), files: Vec::new() })
}

/// Loads a journey from text (tests, `verify` from stdin). `path` is used in messages and to resolve
/// relative CSV and secret-file paths.
pub fn load_str(path: &Path, text: &str, opts: &LoadOptions) -> Result<Loaded, Diagnostics> {
    let _ = (path, text, opts);
    Ok(Loaded { suite: Suite::default(), warnings: Vec::new(), files: Vec::new() })
}
