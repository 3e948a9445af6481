"""browser-monitor: the footprint of `journeyd run` watching 10 browser journeys every 30 s.

Issue 13's last target: 10 browser journeys every 30 s cost < 25% of one core and < 600 MB of memory in
total, journeyd and its Chromium together. The journeys are 10 copies of `journeys/browser-checkout.yml`
(`every: 30s`, each its own name, so the monitor spreads their phases over the interval), against the demo
shop on the target core; `journeyd run` is pinned to the generator core and runs in its own cgroup, so
its CPU is that of the whole tree, Chromium's renderers and exited processes included (see
scenarios_browser's module doc).

The first tick is a warm-up (Chromium starts, every journey loads its page once): the window starts once
every journey has finished a run, and lasts s.browser_monitor_seconds. Over the window: the cgroup's
CPU-seconds ÷ wall seconds, the same per kind of process (journeyd, Chromium's browser process, renderers,
the GPU and utility processes) from /proc, and the tree's PSS sampled every second (mean and peak).

Per kind: a process's own utime+stime, plus, for a parent, the CPU of the children it reaped (cutime,
cstime: Chromium's zygote reaps the renderers of closed contexts). Taken at the window's two ends, the
difference per kind is exact for processes reaped by a live parent; what is left of the cgroup's figure
(a process reaped by one that exited meanwhile) is shown as unattributed.
"""

from __future__ import annotations

import os
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import journeyd
from .procs import CLK_TCK, Server, free_port, spawn_server, wait_http
from .scenarios import Settings
from .scenarios_browser import BROWSER_JOURNEY, Cgroup, find_chromium
from .targets import TargetError, start_shop

JOURNEYS = 10
EVERY = "30s"
# The kinds of process in the tree, in the order the report lists them.
KINDS = ("journeyd", "browser", "renderer", "gpu", "network", "storage", "utility", "other")


def seconds(s: Settings) -> float:
    return 40 if s.quick else 240


@dataclass
class MonitorFootprint:
    journeys: int
    every: str
    chromium: str
    window_s: float = 0.0
    cpu_s: float = 0.0
    # CPU-seconds over the window per kind (KINDS, plus "unattributed").
    by_kind: dict[str, float] = field(default_factory=dict)
    pss_mean_kib: float | None = None
    pss_peak_kib: int | None = None
    runs: float | None = None
    failed: float | None = None
    status: str = "ok"

    @property
    def cpu_pct(self) -> float:
        return 100.0 * self.cpu_s / self.window_s if self.window_s else 0.0


def kind_of(cmdline: str, exe_name: str) -> str:
    """Which kind of process a command line is: Chromium marks its children with `--type=` (utilities with
    their service), the browser process has none. `cmdline` is /proc/PID/cmdline with NULs as spaces
    (Chromium rewrites its children's into one string)."""
    if exe_name == "journeyd":
        return "journeyd"
    if "crashpad" in exe_name:
        return "other"  # the crash reporter full Chromium starts beside itself
    if "--type=" not in cmdline:
        return "browser" if "chrom" in exe_name or "headless" in exe_name else "other"
    typ = cmdline.split("--type=", 1)[1].split(maxsplit=1)[0]
    if typ in ("renderer", "zygote"):
        return "renderer"  # the zygote only forks renderers; what it reaped is theirs
    if typ == "gpu-process":
        return "gpu"
    if typ == "utility":
        if "NetworkService" in cmdline:
            return "network"
        if "StorageService" in cmdline:
            return "storage"
        return "utility"
    return "other"


def parse_stat(text: str) -> tuple[int, int]:
    """(own, reaped children's) utime+stime in clock ticks from a /proc/PID/stat line."""
    fields = text.rsplit(")", 1)[1].split()
    # After the command: state ppid … utime(14) stime(15) cutime(16) cstime(17), 1-based in proc(5).
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def cpu_by_kind(pids: list[int]) -> dict[str, float]:
    """CPU-seconds so far per kind of the live processes `pids`, their reaped children included."""
    out = dict.fromkeys(KINDS, 0.0)
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            own, reaped = parse_stat(Path(f"/proc/{pid}/stat").read_text())
            exe = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        kind = kind_of(raw, exe)
        out[kind] += (own + reaped) / CLK_TCK
    return out


def runs_and_failures(exposition: str) -> tuple[float, float]:
    """Runs (any outcome) and failed runs, summed over journeys, from journeyd's /metrics text."""
    by = journeyd.runs_by_outcome(exposition)
    return sum(by.values()), by.get("failure", 0.0)


def write_journeys(dest: Path, count: int = JOURNEYS, every: str = EVERY) -> None:
    """`count` copies of the browser checkout, each its own name, every `every`, with its accounts file."""
    dest.mkdir(parents=True, exist_ok=True)
    text = BROWSER_JOURNEY.read_text()
    (dest / "accounts.csv").write_text((BROWSER_JOURNEY.parent / "accounts.csv").read_text())
    for i in range(1, count + 1):
        lines = []
        for line in text.splitlines():
            if line.startswith("name: "):
                line = f"name: browser-monitor-{i:02d}"
            elif line.startswith("every: "):
                line = f"every: {every}"
            lines.append(line)
        (dest / f"browser-monitor-{i:02d}.yml").write_text("\n".join(lines) + "\n")


def browser_monitor(s: Settings, caps: journeyd.Capabilities) -> tuple[MonitorFootprint | None, list[str]]:
    chromium = find_chromium()
    if chromium is None:
        return None, ["skipped: browser-monitor — no Chromium (set JOURNEYD_CHROMIUM, or apt-get install -y "
                      "chromium)"]
    for what in ("run", "shop"):
        if not getattr(caps, what):
            return None, ["skipped: browser-monitor — " + caps.missing(what)]
    group = Cgroup(f"journeyd-bench-browser-monitor-{os.getpid()}", interval_s=1.0)
    if not group.ok:
        return None, ["skipped: browser-monitor — no writable cgroup (cpuacct or v2) to hold Chromium's tree"]
    jdir = s.workdir / "browser-monitor-journeys"
    write_journeys(jdir)
    try:
        shop = start_shop(s.workdir, s.target_core, s.password, label="shop-browser-monitor")
    except TargetError as e:
        group.close()
        return None, [f"skipped: browser-monitor — {e}"]
    res = MonitorFootprint(JOURNEYS, EVERY, chromium)
    s.say(f"browser monitor: {JOURNEYS} browser journeys every {EVERY}, {seconds(s):g}s after the first tick, "
          f"Chromium {chromium}")
    try:
        _run(s, shop, group, jdir, res)
    finally:
        shop.stop()
    s.say(f"  browser-monitor: {res.status}; {res.cpu_pct:.1f}% of one core, PSS mean "
          f"{(res.pss_mean_kib or 0) / 1024:.0f} MiB, peak {(res.pss_peak_kib or 0) / 1024:.0f} MiB, "
          f"{res.runs or 0:.0f} runs ({res.failed or 0:.0f} failed)")
    return res, []


def _run(s: Settings, shop: Server, group: Cgroup, jdir: Path, res: MonitorFootprint) -> None:
    port = free_port()
    log = s.workdir / "browser-monitor.log"
    env = {"SHOP_URL": shop.url, "SHOP_PASSWORD": s.password, "JOURNEYD_CHROMIUM": res.chromium,
           "JOURNEYD_EVIDENCE_DIR": str(s.workdir / "browser-monitor-evidence")}
    argv = group.wrap(journeyd.monitor_argv(port, jdir))
    proc = spawn_server("browser-monitor", argv, core=s.gen_core, log_path=log, env=env, own_session=False)
    mon = Server(name="journeyd run", proc=proc, url=f"http://127.0.0.1:{port}", log_path=log)
    try:
        if not wait_http(mon.url + "/-/healthy", proc, timeout_s=60):
            res.status = f"failed: `journeyd run` did not come up: {mon.log_tail()}"
            return
        # Warm-up: every journey has run once (at most two intervals, then measure anyway).
        warm_until = time.monotonic() + 70
        while time.monotonic() < warm_until and proc.poll() is None:
            time.sleep(1)
            if (_metrics(mon) or (0, 0))[0] >= res.journeys:
                break
        start_runs = _metrics(mon) or (0.0, 0.0)
        t0, cpu0, kinds0 = time.monotonic(), group.read_cpu_s(), cpu_by_kind(group.pids())
        group.start()
        deadline = t0 + seconds(s)
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        t1, cpu1, kinds1 = time.monotonic(), group.read_cpu_s(), cpu_by_kind(group.pids())
        end_runs = _metrics(mon)
        if proc.poll() is not None:
            res.status = f"failed: journeyd run exited early: {mon.log_tail()}"
        res.window_s, res.cpu_s = t1 - t0, cpu1 - cpu0
        res.by_kind = {k: max(0.0, kinds1[k] - kinds0[k]) for k in KINDS}
        res.by_kind["unattributed"] = max(0.0, res.cpu_s - sum(res.by_kind.values()))
        samples = group.pss_samples
        res.pss_mean_kib = sum(samples) / len(samples) if samples else None
        res.pss_peak_kib = group.peak_pss_kib or None
        if end_runs is not None:
            res.runs, res.failed = end_runs[0] - start_runs[0], end_runs[1] - start_runs[1]
    finally:
        mon.stop()
        group.close()


def _metrics(mon: Server) -> tuple[float, float] | None:
    try:
        with urllib.request.urlopen(mon.url + "/metrics", timeout=5) as r:
            return runs_and_failures(r.read().decode(errors="replace"))
    except OSError:
        return None

