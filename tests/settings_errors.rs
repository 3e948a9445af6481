//! The table of invalid settings and web-config files: each `tests/data/settings_errors/settings-NAME.yml`
//! (read as `--settings`) or `web-NAME.yml` (read as `--web-config`) is paired with `NAME.err`, the exact
//! text journeyd prints for it (blackbox_exporter's `testdata/invalid-*.yml` habit; the approach of
//! `tests/config_errors.rs`).
//!
//! After changing a message on purpose: `BLESS=1 cargo test --test settings_errors`, then read the `.err`
//! diffs by eye before committing them.

use std::path::Path;

use journeyd::settings::Settings;
use journeyd::webconfig::WebConfig;

mod golden;

const DIR: &str = "tests/data/settings_errors";

/// What journeyd prints for one file: the error of the loader its name prefix selects.
fn load(case: &Path) -> Result<(), String> {
    let name = case.file_name().unwrap().to_string_lossy();
    if name.starts_with("settings-") {
        Settings::load(case).map(drop).map_err(|e| e.to_string())
    } else if name.starts_with("web-") {
        WebConfig::load(case).map(drop).map_err(|e| e.to_string())
    } else {
        panic!("{}: name it settings-*.yml or web-*.yml", case.display())
    }
}

#[test]
fn invalid_files_print_the_expected_errors() {
    golden::check(DIR, false, 12, "settings_errors", |case| match load(case) {
        Ok(()) => "(loaded without errors)\n".to_string(),
        Err(e) => format!("{e}\n"),
    });
}

#[test]
fn every_case_fails_to_load() {
    for case in &golden::cases(DIR, false) {
        assert!(load(case).is_err(), "{} loaded", case.display());
    }
}
