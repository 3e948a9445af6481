#![allow(dead_code)]
//! Fresh directories for tests, under one root per test binary (`$TMPDIR/journeyd-tests/<binary>/`), named
//! `<pid>-<name>-<random>`. The first call in a process removes the directories of earlier processes that
//! are no longer running, so `cargo test` leaves at most its last run behind instead of piling up entries
//! in /tmp, and a test can hand a path to a daemon that outlives the function that made it.

use std::path::{Path, PathBuf};
use std::sync::Once;

/// A new empty directory named after the test.
pub fn tempdir(name: &str) -> PathBuf {
    static SWEEP: Once = Once::new();
    let root = root();
    SWEEP.call_once(|| sweep(&root));
    let dir = root.join(format!("{}-{name}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path named `name` in a new directory of its own (report files, CA files).
pub fn tempfile(name: &str) -> PathBuf {
    tempdir("file").join(name)
}

fn root() -> PathBuf {
    std::env::temp_dir().join("journeyd-tests").join(env!("CARGO_CRATE_NAME"))
}

/// Removes the directories of processes that have exited (Linux: no `/proc/<pid>`; elsewhere nothing is
/// removed, as liveness cannot be read).
fn sweep(root: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.split('-').next()).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
