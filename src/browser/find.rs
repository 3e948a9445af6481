//! Finding the Chromium binary: `--chromium PATH`, then `JOURNEYD_CHROMIUM`, then the usual names on `PATH`.

use std::path::{Path, PathBuf};

use super::BrowserError;

/// The environment variable naming the Chromium binary when `--chromium` is not given.
pub const CHROMIUM_ENV: &str = "JOURNEYD_CHROMIUM";

/// Names tried on `PATH`, in order: Debian's `chromium-headless-shell` first, then the full `chromium`, then
/// Google's and Ubuntu's names. The headless shell is the same engine without the desktop browser around
/// it; watching 10 checkout journeys every 30 s it took under a third of the CPU and under half the memory
/// of the full browser in `--headless` mode (bench/RESULTS.md §10), so it wins when both are installed.
const NAMES: [&str; 4] = ["chromium-headless-shell", "chromium", "google-chrome", "chromium-browser"];

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
    if let Some(found) = on_path(&std::env::var_os("PATH").unwrap_or_default()) {
        return Ok(found);
    }
    Err(BrowserError::Unavailable(format!(
        "no Chromium found: none of {} is on PATH; pass --chromium PATH, set {CHROMIUM_ENV}=PATH, \
         or install one (Debian: apt-get install chromium-headless-shell)",
        NAMES.join(", ")
    )))
}

/// The first of [`NAMES`] (in their order, whatever the order of the directories) that is an executable
/// file in one of the directories of `path_var`.
fn on_path(path_var: &std::ffi::OsStr) -> Option<PathBuf> {
    NAMES.iter().find_map(|name| {
        std::env::split_paths(path_var).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
    })
}

fn check(path: &Path, from: &str) -> Result<PathBuf, BrowserError> {
    if is_executable(path) {
        return Ok(path.to_path_buf());
    }
    let what = if path.is_file() { "is not executable" } else { "does not exist" };
    Err(BrowserError::Unavailable(format!(
        "the Chromium given by {from} ({}) {what}; pass --chromium PATH or set {CHROMIUM_ENV} to a Chromium \
         binary, or install one (Debian: apt-get install chromium-headless-shell)",
        path.display()
    )))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_headless_shell_wins_over_the_full_browser_wherever_it_is_on_path() {
        let root = std::env::temp_dir().join(format!("journeyd-find-test-{}", std::process::id()));
        let (first, second) = (root.join("a"), root.join("b"));
        for dir in [&first, &second] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let install = |path: PathBuf, mode: u32| {
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        install(first.join("chromium"), 0o755);
        let path_var = std::env::join_paths([&first, &second]).unwrap();
        assert_eq!(on_path(&path_var), Some(first.join("chromium")));
        install(second.join("chromium-headless-shell"), 0o644);
        assert_eq!(on_path(&path_var), Some(first.join("chromium")), "a file that is not executable is skipped");
        install(second.join("chromium-headless-shell"), 0o755);
        assert_eq!(on_path(&path_var), Some(second.join("chromium-headless-shell")));
        assert_eq!(on_path(&std::env::join_paths([root.join("none")]).unwrap()), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
