"""Processes: pinned generator runs measured by the OS, background servers, /proc sampling.

Generator CPU and peak RSS come from the kernel, never from the tool: the generator is started as
`taskset -c CORE /usr/bin/time -f %M argv…` and reaped with os.wait4, whose rusage is the CPU of `time` and
of the tool it waited for (which includes any children the tool reaped itself).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
# GNU time (Debian package `time`) starts the tool: a fork of this Python process would carry Python's own
# high-water RSS into the tool's ru_maxrss, while a fork of the small `time` process carries ~2 MiB at most.
TIME = "/usr/bin/time"


@dataclass
class Run:
    """One finished generator run."""

    argv: list[str]
    rc: int
    # Wall time from spawn to reap: the tools' own elapsed figures are preferred where they report one.
    wall_s: float
    cpu_user_s: float
    cpu_sys_s: float
    # Peak resident set in KiB (ru_maxrss of the tool, via `time -f %M`).
    peak_rss_kib: int
    stdout: str
    stderr: str
    # True when the harness had to stop it: its figures are suspect and the report says so.
    timed_out: bool = False

    @property
    def cpu_s(self) -> float:
        return self.cpu_user_s + self.cpu_sys_s


def free_port() -> int:
    """A port nobody listens on right now (the target binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(core: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *argv]


def run_measured(
    argv: list[str],
    *,
    core: int,
    timeout_s: float,
    workdir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    label: str = "run",
) -> Run:
    """Runs a generator pinned to `core` and returns the OS's account of it.

    CPU is wait4's utime+stime of `time` and the tool it waited for (time's own share is a few ms);
    peak RSS is the tool's ru_maxrss as `time -f %M` reports it.

    Output goes to files in `workdir` (some tools print a lot). Past `timeout_s` the process group gets
    SIGINT (most tools then print their summary), and SIGKILL 10 s later.
    """
    out_path = workdir / f"{label}.stdout"
    err_path = workdir / f"{label}.stderr"
    rss_path = workdir / f"{label}.maxrss"
    full_env = dict(os.environ)
    full_env.update(env or {})
    timed_out = threading.Event()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            pinned(core, [TIME, "-q", "-f", "%M", "-o", str(rss_path), *argv]),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )

        killer = threading.Timer(10.0, _signal_group, (proc.pid, signal.SIGKILL))
        killer.daemon = True

        def stop() -> None:
            timed_out.set()
            _signal_group(proc.pid, signal.SIGINT)
            killer.start()

        timer = threading.Timer(timeout_s, stop)
        timer.daemon = True
        timer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        timer.cancel()
        killer.cancel()
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        argv=argv,
        rc=proc.returncode,
        wall_s=wall,
        cpu_user_s=ru.ru_utime,
        cpu_sys_s=ru.ru_stime,
        peak_rss_kib=_read_maxrss(rss_path, ru.ru_maxrss),
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        timed_out=timed_out.is_set(),
    )


def _read_maxrss(path: Path, fallback: int) -> int:
    try:
        return int(path.read_text().split()[-1])
    except (FileNotFoundError, IndexError, ValueError):
        return fallback


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def proc_ticks(pids: list[int]) -> int:
    """utime+stime of the given processes, in clock ticks (dead ones count as 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        # After the command name: state is field 3, utime 14, stime 15 (1-based, man 5 proc).
        total += int(fields[11]) + int(fields[12])
    return total


def rss_kib(pid: int) -> int | None:
    """Current resident set (VmRSS) of a process, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def children(pid: int) -> list[int]:
    """Direct children of `pid` (nginx's worker under its master)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


@dataclass
class Server:
    """A target (or monitor) running in the background, pinned, stopped by PID."""

    name: str
    proc: subprocess.Popen
    url: str
    log_path: Path
    # Every PID whose CPU counts as the server's (nginx: master and worker).
    pids: list[int] = field(default_factory=list)
    # The same content over TLS (nginx started with TLS files), else None.
    https_url: str | None = None

    def cpu_ticks(self) -> int:
        return proc_ticks(self.pids or [self.proc.pid])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def spawn_server(
    name: str,
    argv: list[str],
    *,
    core: int,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    own_session: bool = True,
) -> subprocess.Popen:
    """Starts `argv` pinned to `core` in its own process group (stopped as a group). `own_session=False`
    keeps it in the harness's session: with the kernel's autogroup scheduling (Debian's default) a new
    session is a new scheduling group, which on a busy core gets one share for the whole process tree —
    a browser with a dozen processes then runs at a fraction of the speed of a single process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    log = open(log_path, "wb")
    try:
        return subprocess.Popen(
            pinned(core, argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            start_new_session=own_session,
            process_group=None if own_session else 0,
        )
    finally:
        log.close()


def wait_http(url: str, proc: subprocess.Popen, timeout_s: float = 30.0, context=None) -> bool:
    """Polls `url` until it answers any HTTP status (readiness), the process dies, or time runs out.
    `context`: an ssl.SSLContext for an https URL (one that trusts the bench CA)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1.0, context=context):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    return False


def wait_line(path: Path, prefix: str, proc: subprocess.Popen, timeout_s: float = 30.0) -> str | None:
    """Waits for a line starting with `prefix` in a log file; returns the rest of that line."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


class CpuWindow:
    """CPU use of a server across one generator run, as % of one core."""

    def __init__(self, server: Server | None):
        self.server = server
        self.t0 = time.monotonic()
        self.ticks0 = server.cpu_ticks() if server else 0

    def percent(self) -> float | None:
        if not self.server:
            return None
        wall = time.monotonic() - self.t0
        if wall <= 0:
            return None
        return 100.0 * (self.server.cpu_ticks() - self.ticks0) / CLK_TCK / wall


def cpu_idle(seconds: float = 1.0) -> dict[str, float]:
    """Idle % of each core over `seconds` (from /proc/stat): other work on the machine skews everything."""

    def snap() -> dict[str, list[int]]:
        rows = {}
        for line in Path("/proc/stat").read_text().splitlines():
            name, *vals = line.split()
            if name.startswith("cpu") and name != "cpu":
                rows[name] = [int(v) for v in vals]
        return rows

    a = snap()
    time.sleep(seconds)
    b = snap()
    out = {}
    for name in a:
        delta = [y - x for x, y in zip(a[name], b[name])]
        total = sum(delta[:8])  # user nice system idle iowait irq softirq steal; guest is inside user
        out[name] = 100.0 * (delta[3] + delta[4]) / total if total else 100.0
    return out
