//! The table of invalid settings and web-config files: each `tests/data/settings_errors/settings-NAME.yml`
//! (read as `--settings`) or `web-NAME.yml` (read as `--web-config`) is paired with `NAME.err`, the exact
//! text journeyd prints for it (blackbox_exporter's `testdata/invalid-*.yml` habit; the approach of
//! `tests/config_errors.rs`).
//!
//! After changing a message on purpose: `BLESS=1 cargo test --test settings_errors`, then read the `.err`
//! diffs by eye before committing them.

use std::path::{Path, PathBuf};

use journeyd::settings::Settings;
use journeyd::webconfig::WebConfig;

const DIR: &str = "tests/data/settings_errors";

fn cases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(DIR)
        .expect("tests/data/settings_errors exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    out.sort();
    out
}

fn golden_path(case: &Path) -> PathBuf {
    let mut name = case.file_stem().unwrap().to_os_string();
    name.push(".err");
    case.with_file_name(name)
}

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

/// The expected and actual lines side by side, marking where they differ.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => out.push_str(&format!("  {x}\n")),
            (x, y) => {
                if let Some(x) = x {
                    out.push_str(&format!("- {x}\n"));
                }
                if let Some(y) = y {
                    out.push_str(&format!("+ {y}\n"));
                }
            }
        }
    }
    out
}

#[test]
fn invalid_files_print_the_expected_errors() {
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let cases = cases();
    assert!(cases.len() >= 12, "expected at least 12 cases in {DIR}, found {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let actual = match load(case) {
            Ok(()) => "(loaded without errors)\n".to_string(),
            Err(e) => format!("{e}\n"),
        };
        let golden = golden_path(case);
        if bless {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!("{}:\n{}", golden.display(), diff(&expected, &actual))),
            Err(_) => failures.push(format!("{} is missing; it would be:\n{actual}", golden.display())),
        }
    }
    // A golden without a case is stale.
    for entry in std::fs::read_dir(DIR).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "err") && !cases.iter().any(|c| golden_path(c) == p) {
            failures.push(format!("{} has no matching .yml file", p.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\n{} case(s) differ. If the new output is right: BLESS=1 cargo test --test settings_errors, then review the .err files",
        failures.join("\n"),
        failures.len()
    );
}

#[test]
fn every_case_fails_to_load() {
    for case in &cases() {
        assert!(load(case).is_err(), "{} loaded", case.display());
    }
}
