//! Property tests of the journey loader and the check-expression parser: arbitrary YAML-ish input never
//! panics, and is either a suite or located diagnostics (a message, a line inside the file).
//!
//! CI runs proptest's default case count; a long local run is `PROPTEST_CASES=100000 cargo test --release
//! --test proptest_loader` (docs/reliability.md records the last one).

use std::path::Path;

use journeyd::config::{self, Diagnostics, LoadOptions};
use proptest::prelude::*;

/// Valid journeys to mutate: most mutations land near something the loader understands.
const SEEDS: &[&str] = &[
    "name: a\ntarget: http://127.0.0.1:1\nevery: 30s\ntimeout: 10s\nsteps:\n  - name: one\n    get: /x\n    expect: [ status == 200, json.ok == true ]\n",
    "name: b\ntarget: \"{{ env.T }}\"\nusers: 2\nsecrets:\n  pw: { env: PW }\nsteps:\n  - name: login\n    post: /login\n    json: { user: u, pw: \"{{ secrets.pw }}\" }\n    capture:\n      token: { json: token, secret: true }\n  - name: me\n    get: /me\n    headers: { Authorization: \"Bearer {{ token }}\" }\n    expect: [ 'header.content-type contains \"json\"', body matches \"^\\\\{\", duration < 2s ]\n    think: 100ms..200ms\n",
    "name: c\nrate: 5/s\nmax_users: 3\ndefaults: { timeout: 1s, max_body: 1MiB, redirects: 2, tls_skip_verify: false, headers: { X-A: b } }\nsteps:\n  - name: s\n    method: PURGE\n    url: https://x.test/a?b=c\n    body: \"text\"\n    redirects: false\n    expect: [ status in [200, 204], status not in [500], json.items length >= 1, cookie.sid exists ]\n",
    "name: d\nstages:\n  - { rate: 1/s, for: 10s }\n  - { users: 2, for: 5s }\nvars:\n  base: \"{{ env.B }}\"\ndepends_on: [a]\nsteps:\n  - name: s\n    get: \"{{ vars.base }}/p\"\n    query: { q: \"{{ vars.base }}\" }\n    form: { a: b }\n    expect: [ 2xx, json.a[0].b != null ]\n",
];

/// Fragments that stress YAML structure, templates and check syntax.
const TOKENS: &[&str] = &[
    ":",
    " ",
    "\n",
    "\n  ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "{{",
    "}}",
    "{{ ",
    " }}",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "\t",
    "é",
    "\u{0}",
    "\u{feff}",
    "0",
    "-1",
    "1e999",
    "99999999999999999999",
    "~",
    "null",
    "steps",
    "name",
    "expect",
    "capture",
    "status == ",
    "json.",
    "json.a[",
    "[99999999999]",
    "matches \"(\"",
    "matches \"",
    "length",
    " in [",
    "exists",
    "not ",
    "env.",
    "secrets.",
    "data.",
    "10ms",
    "0s",
    "-5s",
    "1/s",
    "0/s",
    "..",
    "think: ",
    "timeout: ",
    "every: ",
    "users: 0",
    "<<: *a",
    "? ",
    "|\n",
    ">-\n",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    DuplicateLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), proptest::sample::select(TOKENS)).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), 1usize..8).prop_map(|(at, n)| Edit::Delete(at, n)),
        any::<usize>().prop_map(Edit::DuplicateLine),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut s = text.to_string();
    for e in edits {
        let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
        match *e {
            Edit::Insert(at, t) => s.insert_str(bounds[at % bounds.len()], t),
            Edit::Delete(at, n) => {
                let i = at % bounds.len();
                let j = (i + n).min(bounds.len() - 1);
                s.replace_range(bounds[i]..bounds[j], "");
            }
            Edit::DuplicateLine(at) => {
                let lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let k = at % lines.len();
                    let mut out: Vec<&str> = lines[..=k].to_vec();
                    out.extend_from_slice(&lines[k..]);
                    s = out.join("\n");
                }
            }
        }
    }
    s
}

fn options() -> LoadOptions {
    let mut opts = LoadOptions { strict_env: true, ..LoadOptions::default() };
    for (k, v) in [("T", "http://127.0.0.1:1"), ("PW", "hunter22"), ("B", "http://x.test")] {
        opts.env.insert(k.into(), v.into());
    }
    opts
}

/// Ok, or diagnostics that each say something and point inside the file.
fn assert_located(text: &str, result: Result<config::Loaded, Diagnostics>) -> Result<(), TestCaseError> {
    if let Err(d) = result {
        prop_assert!(!d.0.is_empty(), "an error with no diagnostics");
        // YAML breaks lines at \n, \r\n and a lone \r; one more for "just past the end".
        let lines = text.replace("\r\n", "\n").replace('\r', "\n").split('\n').count() + 1;
        for diag in &d.0 {
            prop_assert!(!diag.message.trim().is_empty(), "empty message: {diag:?}");
            prop_assert!(diag.line <= lines, "line {} outside a {lines}-line file: {diag:?}", diag.line);
            // Rendering must not panic either (it slices the source line at the column).
            let _ = diag.to_string();
        }
    }
    Ok(())
}

fn load(text: &str) -> Result<config::Loaded, Diagnostics> {
    // A directory that has no data files: CSV and secret-file paths in mutated input resolve to nothing.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("proptest-nowhere").join("j.yml");
    config::load_str(&path, text, &options())
}

proptest! {
    #[test]
    fn mutated_journeys_load_or_fail_with_located_diagnostics(
        seed in proptest::sample::select(SEEDS),
        edits in proptest::collection::vec(edit(), 0..12),
    ) {
        let text = apply(seed, &edits);
        let result = load(&text);
        assert_located(&text, result)?;
    }

    #[test]
    fn arbitrary_text_never_panics_the_loader(text in "(?s).{0,400}") {
        let result = load(&text);
        assert_located(&text, result)?;
    }

    #[test]
    fn check_expressions_parse_or_fail_with_a_located_diagnostic(
        parts in proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(TOKENS).prop_map(str::to_string),
                "[ -~]{0,6}",
                "[\\PC]{0,3}",
            ],
            0..8,
        ),
    ) {
        let expr: String = parts.concat().replace(['\n', '\r', '\t'], " ");
        let quoted = expr.replace('\'', "''");
        let text = format!(
            "name: e\ntarget: http://127.0.0.1:1\nsteps:\n  - name: s\n    get: /\n    capture: {{ tok: json.t }}\n    expect:\n      - '{quoted}'\n"
        );
        let result = load(&text);
        if let Err(d) = &result {
            // Errors about the expression point at its line.
            for diag in d.0.iter().filter(|d| d.severity == config::Severity::Error) {
                prop_assert!(diag.line == 8 || diag.line == 0, "expression error not on its line: {diag:?}\n{text}");
            }
        }
        assert_located(&text, result)?;
    }
}
