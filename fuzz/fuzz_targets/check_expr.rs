//! The check-expression parser (reached through `expect:`) on arbitrary text: never panics; errors point
//! at the expression's line.
#![no_main]

use std::path::Path;

use journeyd::config::{self, LoadOptions, Severity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(expr) = std::str::from_utf8(data) else { return };
    let expr = expr.replace(['\n', '\r'], " ").replace('\'', "''");
    let text = format!(
        "name: e\ntarget: http://127.0.0.1:1\nsteps:\n  - name: s\n    get: /\n    capture: {{ tok: json.t }}\n    expect:\n      - '{expr}'\n"
    );
    if let Err(d) = config::load_str(Path::new("/nonexistent/fuzz/e.yml"), &text, &LoadOptions::default()) {
        for diag in d.0.iter().filter(|d| d.severity == Severity::Error) {
            assert!(diag.line == 8 || diag.line == 0, "{diag:?}\n{text}");
            let _ = diag.to_string();
        }
    }
});
