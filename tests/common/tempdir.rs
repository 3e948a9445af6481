#![allow(dead_code)]
//! A fresh directory per test that is removed when the test is done with it, so `cargo test` leaves nothing
//! behind in the system's temporary directory (tests run thousands of times on a developer's machine).

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};

/// Removed with everything in it on drop. Derefs to its path, so `dir.join(…)` and `&dir` read as before.
pub struct TempDir(PathBuf);

/// A new empty directory named after the test (plus a random part, so parallel tests and runs never share one).
pub fn tempdir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("journeyd-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

impl Deref for TempDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<OsStr> for TempDir {
    fn as_ref(&self) -> &OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A path named `name` inside its own fresh directory, removed on drop (report files, CA files).
pub struct TempFile {
    path: PathBuf,
    _dir: TempDir,
}

pub fn tempfile(name: &str) -> TempFile {
    let dir = tempdir("file");
    TempFile { path: dir.join(name), _dir: dir }
}

impl Deref for TempFile {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.path
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for TempFile {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}
