//! Golden files for error output: each case (a file or directory in one folder) is paired with `NAME.err`,
//! the exact text journeyd prints for it. `BLESS=1` rewrites the goldens; a golden without a case is stale.
//! Shared by `tests/config_errors.rs` (journey files) and `tests/settings_errors.rs` (settings, web config).

use std::path::{Path, PathBuf};

/// The cases in `dir`: files ending in `.yml`, and directories when `dirs` (loaded as one suite), sorted.
pub fn cases(dir: &str, dirs: bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| (dirs && p.is_dir()) || p.extension().is_some_and(|e| e == "yml"))
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

/// Compares (or with `BLESS=1` writes) the golden of every case in `dir`, `render` giving the text journeyd
/// prints for one; fails with a diff per differing case, and on goldens that have no case. `test` names the
/// test target for the BLESS hint.
pub fn check(dir: &str, dirs: bool, min_cases: usize, test: &str, render: impl Fn(&Path) -> String) {
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let cases = cases(dir, dirs);
    assert!(cases.len() >= min_cases, "expected at least {min_cases} cases in {dir}, found {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let actual = render(case);
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
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "err") && !cases.iter().any(|c| golden_path(c) == p) {
            failures.push(format!("{} has no matching case", p.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\n{} case(s) differ. If the new output is right: BLESS=1 cargo test --test {test}, then review the .err files",
        failures.join("\n"),
        failures.len()
    );
}
