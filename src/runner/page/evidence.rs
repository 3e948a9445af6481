//! Failure screenshots on disk, bounded: the oldest files go first once there are more than `max_files` or
//! they take more than `max_bytes`, so a journey failing every 10 s for a week cannot fill the disk.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Screenshots kept by default: a day of one journey failing every 15 minutes, or a bad hour of several.
pub const DEFAULT_MAX_FILES: usize = 100;
/// A 1280x800 screenshot is 30–300 KB; 64 MiB holds the default count with room.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
/// Overrides the default directory (`<temp dir>/journeyd-evidence`).
pub const EVIDENCE_DIR_ENV: &str = "JOURNEYD_EVIDENCE_DIR";

#[derive(Clone, Debug)]
pub struct EvidenceStore {
    dir: PathBuf,
    max_files: usize,
    max_bytes: u64,
    /// Saves and prunes one at a time, so two failing runs do not race over which file is oldest.
    lock: Arc<Mutex<()>>,
}

impl EvidenceStore {
    pub fn new(dir: PathBuf, max_files: usize, max_bytes: u64) -> EvidenceStore {
        EvidenceStore { dir, max_files: max_files.max(1), max_bytes, lock: Arc::new(Mutex::new(())) }
    }

    /// `JOURNEYD_EVIDENCE_DIR`, else `journeyd-evidence` in the temp dir, with the default bounds.
    pub fn from_env() -> EvidenceStore {
        let dir = std::env::var_os(EVIDENCE_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("journeyd-evidence"));
        EvidenceStore::new(dir, DEFAULT_MAX_FILES, DEFAULT_MAX_BYTES)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a PNG for `journey`/`step` and returns its file name; `None` (logged) when the disk refuses.
    pub fn save(&self, journey: &str, step: &str, png: &[u8]) -> Option<String> {
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        // Journey and step names are `[a-z0-9_.-]`, so the name is safe as a path and a URL segment.
        let name = format!("{journey}--{step}--{ms}-{:04x}.png", rand::random::<u16>());
        let written = std::fs::create_dir_all(&self.dir).and_then(|()| std::fs::write(self.dir.join(&name), png));
        if let Err(e) = written {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not keep a failure screenshot");
            return None;
        }
        self.prune();
        Some(name)
    }

    /// The path of a kept screenshot by its file name; `None` for anything that is not one (`..`, `/`).
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        let plain = name.ends_with(".png")
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
            && !name.starts_with('.');
        plain.then(|| self.dir.join(name)).filter(|p| p.is_file())
    }

    /// Removes the oldest screenshots beyond the bounds.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().unwrap_or(UNIX_EPOCH), m.len(), e.path()))
            })
            .collect();
        files.sort();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        let mut count = files.len();
        for (_, len, path) in files {
            if count <= self.max_files && total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                count -= 1;
                total -= len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_the_bound_and_refuses_odd_names() {
        let dir = std::env::temp_dir().join(format!("journeyd-evidence-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = EvidenceStore::new(dir.clone(), 3, 1 << 20);
        let names: Vec<String> = (0..5).map(|i| store.save("j", &format!("s{i}"), b"\x89PNG").unwrap()).collect();
        let left = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(left, 3);
        assert!(store.path_of(&names[4]).is_some(), "the newest is kept");
        assert!(store.path_of("../etc/passwd").is_none());
        assert!(store.path_of("x.txt").is_none());
        let small = EvidenceStore::new(dir.clone(), 100, 10);
        small.save("j", "big", &[0u8; 8]).unwrap();
        small.save("j", "big2", &[0u8; 8]).unwrap();
        assert!(std::fs::read_dir(&dir).unwrap().count() <= 1, "the byte bound holds too");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
