//! One Chromium process: started headless on a fresh profile directory, its DevTools URL read from stderr,
//! reaped when it exits (so a crash is noticed and no zombie is left), killed and its profile removed when
//! journeyd is done with it.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::{oneshot, watch};

use super::BrowserError;

/// How long Chromium may take to print its DevTools URL. A cold start on a loaded 2-core machine takes
/// about a second; the bound only stops a binary that never speaks (a wrapper script waiting on a TTY).
const STARTUP: Duration = Duration::from_secs(30);

/// The last stderr lines kept, quoted when Chromium dies or does not start: they say why.
const STDERR_LINES: usize = 12;

/// The flags every launch uses. `--no-sandbox` because journeyd often runs as root in a container, where
/// the sandbox cannot start; the page content is the operator's own site. The `--disable-*` flags stop
/// background traffic and work that would show up in the CPU and network the journeys measure.
const FLAGS: [&str; 17] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--mute-audio",
    "--hide-scrollbars",
    "--password-store=basic",
];

/// Chromium is started by this shell line, which keeps a watcher in its process group: a subshell blocked
/// reading a pipe whose only writer is journeyd. However journeyd ends — `exit` without running destructors,
/// SIGKILL, OOM — the kernel closes the pipe, the read returns and the watcher kills the whole group, so no
/// Chromium outlives journeyd (a `pre_exec` parent-death signal would need `unsafe`). The shell then `exec`s
/// Chromium, so the pid journeyd holds is Chromium's.
const LIFELINE: &str = "exec 3<&0 0</dev/null; (read _ <&3; kill -s KILL 0) & exec 3<&-; exec \"$@\"";

/// A running Chromium. Dropping it kills the process and removes the profile directory.
pub(crate) struct Process {
    pub pid: Option<u32>,
    /// Turned true by the reaper when the process has exited (for any reason) and its profile is removed.
    exited: watch::Receiver<bool>,
    /// Asks the reaper to kill the process (it owns the `Child`, so it can both wait and kill).
    kill: Mutex<Option<oneshot::Sender<()>>>,
    /// Recent stderr lines, shared with the task that keeps draining the pipe (a full pipe would block
    /// Chromium).
    stderr: Arc<Mutex<VecDeque<String>>>,
    profile: PathBuf,
    /// The write end of the pipe [`LIFELINE`] watches; never written, closed when journeyd exits.
    _lifeline: Option<tokio::process::ChildStdin>,
}

/// What `launch` returns: the process and the browser's DevTools WebSocket URL.
pub(crate) struct Launched {
    pub process: Process,
    pub ws_url: String,
}

pub(crate) async fn launch(executable: &Path) -> Result<Launched, BrowserError> {
    let profile = fresh_profile_dir()?;
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", LIFELINE, "sh"])
        .arg(executable)
        .args(FLAGS)
        .arg("--remote-debugging-port=0")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, so the whole tree (a wrapper script, the browser, its zygote and
        // renderers) can be killed at once.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| {
        let _ = std::fs::remove_dir_all(&profile);
        BrowserError::Unavailable(format!(
            "cannot start Chromium {}: {e}; pass --chromium PATH or set JOURNEYD_CHROMIUM to a working \
             Chromium (Debian: apt-get install chromium-headless-shell)",
            executable.display()
        ))
    })?;
    let pid = child.id();
    let lifeline = child.stdin.take();
    let stderr_pipe = child.stderr.take().expect("stderr is piped");
    let stderr = Arc::new(Mutex::new(VecDeque::new()));
    let (exited_tx, exited) = watch::channel(false);
    let (kill_tx, kill_rx) = oneshot::channel();
    let (url_tx, url_rx) = oneshot::channel();
    tokio::spawn(drain_stderr(stderr_pipe, stderr.clone(), url_tx));
    tokio::spawn(reap(child, kill_rx, exited_tx, profile.clone()));
    let process = Process { pid, exited, kill: Mutex::new(Some(kill_tx)), stderr, profile, _lifeline: lifeline };
    match tokio::time::timeout(STARTUP, url_rx).await {
        Ok(Ok(ws_url)) => Ok(Launched { process, ws_url }),
        Ok(Err(_)) => Err(BrowserError::Unavailable(format!(
            "Chromium {} exited before it printed its DevTools address: {}",
            executable.display(),
            process.stderr_tail()
        ))),
        Err(_) => Err(BrowserError::Unavailable(format!(
            "Chromium {} did not print its DevTools address within {}s: {}",
            executable.display(),
            STARTUP.as_secs(),
            process.stderr_tail()
        ))),
    }
}

impl Process {
    pub fn exited(&self) -> bool {
        *self.exited.borrow()
    }

    /// Waits until the process has exited and its profile directory is gone, or `deadline`.
    pub async fn wait_exit(&self, deadline: tokio::time::Instant) -> bool {
        let mut exited = self.exited.clone();
        let exited = tokio::time::timeout_at(deadline, exited.wait_for(|e| *e)).await.is_ok();
        exited
    }

    /// Kills the process (the reaper waits for it and removes the profile directory).
    pub fn kill(&self) {
        if let Some(tx) = self.kill.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    }

    /// The last lines Chromium wrote to stderr, joined, for error messages.
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if lines.is_empty() {
            return "(nothing on stderr)".to_string();
        }
        lines.iter().cloned().collect::<Vec<_>>().join(" | ")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        // The reaper may never run again (the runtime is shutting down): kill the group here too.
        if let Some(group) = self.pid.and_then(|pid| rustix::process::Pid::from_raw(pid as i32)) {
            if !self.exited() {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
        }
        // The reaper removes the directory after the exit, but it may never run again (the runtime is being
        // dropped: a process exiting without `Browser::shutdown`, a test that panicked). The group was just
        // sent SIGKILL, so within milliseconds nothing writes to the directory any more: remove it here,
        // retrying briefly (at most ~200 ms, only when the browser is dropped while running).
        if !self.exited() {
            for _ in 0..10 {
                if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Waits for the process to exit (reaping it, so it never lingers as a zombie), or kills it when asked; in
/// both cases every process left in its group is killed.
async fn reap(mut child: Child, kill: oneshot::Receiver<()>, exited: watch::Sender<bool>, profile: PathBuf) {
    let group = child.id().and_then(|pid| rustix::process::Pid::from_raw(pid as i32));
    let kill_group = || {
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    };
    tokio::select! {
        _ = child.wait() => kill_group(), // what is left of a tree whose leader died
        _ = kill => {
            kill_group();
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
    let _ = tokio::fs::remove_dir_all(&profile).await;
    let _ = exited.send(true);
}

/// Reads stderr line by line for the whole life of the process: the first `DevTools listening on ws://…`
/// line is sent to `launch`, and the last lines are kept for error messages.
async fn drain_stderr(pipe: ChildStderr, keep: Arc<Mutex<VecDeque<String>>>, url: oneshot::Sender<String>) {
    let mut url = Some(url);
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(ws) = line.strip_prefix("DevTools listening on ").map(str::trim) {
            if let Some(tx) = url.take() {
                let _ = tx.send(ws.to_string());
            }
            continue;
        }
        let mut keep = keep.lock().unwrap_or_else(|e| e.into_inner());
        if keep.len() == STDERR_LINES {
            keep.pop_front();
        }
        keep.push_back(line.chars().take(300).collect());
    }
}

/// A new, empty profile directory under the system temp dir: nothing is shared between launches.
fn fresh_profile_dir() -> Result<PathBuf, BrowserError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "journeyd-chromium-{}-{}-{:08x}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).map_err(|e| {
        BrowserError::Unavailable(format!("cannot create a Chromium profile directory {}: {e}", dir.display()))
    })?;
    Ok(dir)
}
