//! The table of invalid journey files: each `tests/data/invalid/NAME.yml` (or directory `NAME/`, loaded as
//! one suite) is paired with `NAME.err`, the exact text `journeyd check` prints for it.
//!
//! After changing a message on purpose: `BLESS=1 cargo test --test config_errors`, then read the `.err`
//! diffs by eye before committing them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use journeyd::config::{self, LoadOptions};

const DIR: &str = "tests/data/invalid";

fn options() -> LoadOptions {
    let env = HashMap::from([
        ("SHOP_URL".to_string(), "http://127.0.0.1:9".to_string()),
        ("SHOP_PASSWORD".to_string(), "correct-horse-battery".to_string()),
    ]);
    LoadOptions { env, strict_env: true, ..LoadOptions::default() }
}

fn cases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(DIR)
        .expect("tests/data/invalid exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "yml"))
        .collect();
    out.sort();
    out
}

fn golden_path(case: &Path) -> PathBuf {
    let mut name = case.file_stem().unwrap().to_os_string();
    name.push(".err");
    case.with_file_name(name)
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
fn invalid_files_print_the_expected_diagnostics() {
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let cases = cases();
    assert!(cases.len() >= 20, "expected at least 20 cases in {DIR}, found {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let actual = match config::load(std::slice::from_ref(case), &options()) {
            Ok(_) => "(loaded without errors)\n".to_string(),
            Err(diags) => config::render(&diags.0),
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
            failures.push(format!("{} has no matching .yml file or directory", p.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\n{} case(s) differ. If the new output is right: BLESS=1 cargo test --test config_errors, then review the .err files",
        failures.join("\n"),
        failures.len()
    );
}

#[test]
fn every_case_fails_to_load() {
    for case in &cases() {
        assert!(config::load(std::slice::from_ref(case), &options()).is_err(), "{} loaded", case.display());
    }
}
