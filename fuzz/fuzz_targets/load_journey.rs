//! The journey loader on arbitrary bytes: never panics; errors are located inside the file.
#![no_main]

use std::path::Path;

use journeyd::config::{self, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut opts = LoadOptions { strict_env: true, ..LoadOptions::default() };
    opts.env.insert("T".into(), "http://127.0.0.1:1".into());
    // A directory that does not exist: CSV and secret-file paths in the input resolve to nothing.
    if let Err(d) = config::load_str(Path::new("/nonexistent/fuzz/j.yml"), text, &opts) {
        assert!(!d.0.is_empty());
        let lines = text.replace("\r\n", "\n").replace('\r', "\n").split('\n').count() + 1;
        for diag in &d.0 {
            assert!(!diag.message.trim().is_empty());
            assert!(diag.line <= lines, "{diag:?}");
            let _ = diag.to_string();
        }
    }
});
