//! The table of invalid journey files: each `tests/data/invalid/NAME.yml` (or directory `NAME/`, loaded as
//! one suite) is paired with `NAME.err`, the exact text `journeyd check` prints for it.
//!
//! After changing a message on purpose: `BLESS=1 cargo test --test config_errors`, then read the `.err`
//! diffs by eye before committing them.

use std::collections::HashMap;
use std::path::PathBuf;

use journeyd::config::{self, LoadOptions};

mod golden;

const DIR: &str = "tests/data/invalid";

fn options() -> LoadOptions {
    let env = HashMap::from([
        ("SHOP_URL".to_string(), "http://127.0.0.1:9".to_string()),
        ("SHOP_PASSWORD".to_string(), "correct-horse-battery".to_string()),
    ]);
    LoadOptions { env, strict_env: true, ..LoadOptions::default() }
}

fn cases() -> Vec<PathBuf> {
    golden::cases(DIR, true)
}

#[test]
fn invalid_files_print_the_expected_diagnostics() {
    golden::check(DIR, true, 20, "config_errors", |case| match config::load(&[case.to_path_buf()], &options()) {
        Ok(_) => "(loaded without errors)\n".to_string(),
        Err(diags) => config::render(&diags.0),
    });
}

#[test]
fn every_case_fails_to_load() {
    for case in &cases() {
        assert!(config::load(&[case.to_path_buf()], &options()).is_err(), "{} loaded", case.display());
    }
}
