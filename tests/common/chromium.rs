//! Finding Chromium for the browser tests, or skipping them: without one they print
//! `SKIPPED: no Chromium (set JOURNEYD_CHROMIUM)` and pass, unless `JOURNEYD_REQUIRE_CHROMIUM=1` (set by
//! `.ci/run`), where a missing Chromium fails the test.

use std::path::PathBuf;

/// The Chromium to test with (`JOURNEYD_CHROMIUM`, else the usual names on `PATH`), or `None` after
/// printing why the test is skipped. Panics when none is found and `JOURNEYD_REQUIRE_CHROMIUM=1`.
pub fn chromium() -> Option<PathBuf> {
    match journeyd::browser::find_chromium(None) {
        Ok(path) => Some(path),
        Err(e) if std::env::var("JOURNEYD_REQUIRE_CHROMIUM").as_deref() == Ok("1") => {
            panic!("JOURNEYD_REQUIRE_CHROMIUM=1 but no Chromium was found: {e}")
        }
        Err(e) => {
            println!("SKIPPED: no Chromium (set JOURNEYD_CHROMIUM): {e}");
            None
        }
    }
}
