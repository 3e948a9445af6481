//! Finding the Chromium binary: `--chromium PATH`, then `JOURNEYD_CHROMIUM`, then the usual names on `PATH`.

use std::path::{Path, PathBuf};

use super::BrowserError;

/// The environment variable naming the Chromium binary when `--chromium` is not given.
pub const CHROMIUM_ENV: &str = "JOURNEYD_CHROMIUM";

/// Names tried on `PATH`, in order: Debian's `chromium` and the smaller `chromium-headless-shell`, then
/// Google's and Ubuntu's names.
const NAMES: [&str; 4] = ["chromium", "chromium-headless-shell", "google-chrome", "chromium-browser"];

/// The Chromium to run: `explicit` (from `--chromium`) if given, else `JOURNEYD_CHROMIUM`, else the first of
/// the usual names found on `PATH`. An explicit path or the variable must name an executable file; they are
/// never silently replaced by something on `PATH`.
pub fn find_chromium(explicit: Option<&Path>) -> Result<PathBuf, BrowserError> {
    if let Some(path) = explicit {
        return check(path, "--chromium");
    }
    if let Some(value) = std::env::var_os(CHROMIUM_ENV).filter(|v| !v.is_empty()) {
        return check(Path::new(&value), CHROMIUM_ENV);
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    for name in NAMES {
        for dir in std::env::split_paths(&path_var) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(BrowserError::Unavailable(format!(
        "no Chromium found: none of {} is on PATH; pass --chromium PATH, set {CHROMIUM_ENV}=PATH, \
         or install one (Debian: apt-get install chromium)",
        NAMES.join(", ")
    )))
}

fn check(path: &Path, from: &str) -> Result<PathBuf, BrowserError> {
    if is_executable(path) {
        return Ok(path.to_path_buf());
    }
    let what = if path.is_file() { "is not executable" } else { "does not exist" };
    Err(BrowserError::Unavailable(format!(
        "the Chromium given by {from} ({}) {what}; pass --chromium PATH or set {CHROMIUM_ENV} to a Chromium \
         binary, or install one (Debian: apt-get install chromium)",
        path.display()
    )))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}
