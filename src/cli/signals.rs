//! Signals: SIGHUP asks the daemon to reload; SIGTERM/SIGINT start a shutdown, and a second one ends the
//! process at once. Only the command line handles signals, so the library can run in tests unchanged.

use crate::daemon::Reloader;

/// Reloads through `reloader` on every SIGHUP (Unix; elsewhere nothing). A rejected reload is already
/// logged by the daemon, and the running configuration keeps going, so the result needs no handling here.
pub fn reload_on_hangup(reloader: Reloader) {
    #[cfg(unix)]
    {
        if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            tokio::spawn(async move {
                while sig.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading configuration");
                    if let Err(crate::daemon::ReloadError::ShuttingDown) = reloader.reload().await {
                        break;
                    }
                }
            });
        }
    }
    #[cfg(not(unix))]
    drop(reloader);
}

/// Exit code of a shutdown cut short by a second SIGTERM/SIGINT: 128 + the signal's number, what a shell
/// reports for a process the signal killed (130 for Ctrl-C, 143 for SIGTERM), so it is never taken for a
/// clean stop (0) or a failed check (1). In-flight runs and pending alert notifications are lost.
pub fn forced_exit_code(signal: i32) -> i32 {
    128 + signal
}

/// Resolves on SIGTERM or SIGINT. From then on, a second SIGTERM or SIGINT ends the process at once, for
/// the person who pressed Ctrl-C and does not want to wait out the grace period.
pub async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                }
                // The handlers stay installed, so a second signal arriving before this task runs is kept.
                tokio::spawn(async move {
                    let (name, number) = tokio::select! {
                        _ = term.recv() => ("SIGTERM", 15),
                        _ = int.recv() => ("SIGINT", 2),
                    };
                    let code = forced_exit_code(number);
                    tracing::warn!(signal = name, exit_code = code, "second signal during shutdown: exiting now");
                    std::process::exit(code);
                });
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
