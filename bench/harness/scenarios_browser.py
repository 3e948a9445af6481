"""browser: the 4-step browser checkout against the demo storefront, journeyd beside k6's browser module.

Both drive the same Chromium (JOURNEYD_CHROMIUM, else `chromium` on PATH) with one user running journeys
back to back for s.browser_seconds, each journey in a fresh browser context. The unit is CPU per completed
journey of the tool and its whole Chromium process tree together, and the tree's peak memory.

Measuring a process tree: Chromium's renderers are not children of the tool (they hang off Chromium's
zygote), and a killed browser's orphans are reparented to init, so wait4's rusage misses part of them. Each
run is therefore placed in its own cgroup: CPU is the cgroup's cpuacct usage (every process in it, exited
ones too), memory the peak over 0.25 s samples of the summed PSS (proportional set: shared pages of
Chromium's many processes split between them instead of counted in each) of the processes in it.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from . import journeyd, peers
from .procs import Run, run_measured
from .scenarios import Measured, Settings, _journey_figures, _read_figures
from .targets import TargetError, start_shop

BROWSER_JOURNEY = journeyd.REPO / "journeys" / "browser-checkout.yml"
K6_SCRIPT = peers.PEERS_DIR / "k6-browser-checkout.js"
# The order journeyd looks for them in (src/browser/find.rs): the headless shell first.
CHROMIUM_NAMES = ("chromium-headless-shell", "chromium", "google-chrome", "chromium-browser")


def seconds(s: Settings) -> float:
    return 10 if s.quick else 60


def find_chromium() -> str | None:
    explicit = os.environ.get("JOURNEYD_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


class Cgroup:
    """A cgroup (v1 cpuacct, or v2) holding one run: its CPU and the PSS of its processes."""

    def __init__(self, name: str, interval_s: float = 0.25):
        self.path: Path | None = None
        self.v2 = False
        for root, v2 in ((Path("/sys/fs/cgroup/cpuacct"), False), (Path("/sys/fs/cgroup/unified"), True),
                         (Path("/sys/fs/cgroup"), True)):
            if (root / "cgroup.procs").exists() and (v2 or (root / "cpuacct.usage").exists()):
                try:
                    (root / name).mkdir(exist_ok=True)
                except OSError:
                    continue
                self.path, self.v2 = root / name, v2
                break
        self.peak_pss_kib = 0
        # Every PSS sample (KiB) since start(), for a mean; and how often one is taken.
        self.pss_samples: list[int] = []
        self.interval_s = interval_s
        # The CPU of everything that ran in the group, read by close() before the group is removed.
        self.cpu_s = 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    @property
    def ok(self) -> bool:
        return self.path is not None

    def wrap(self, argv: list[str]) -> list[str]:
        """argv, run by a shell that first moves itself into the cgroup (its children inherit it)."""
        return ["sh", "-c", f'echo $$ > {self.path}/cgroup.procs && exec "$@"', "sh", *argv]

    def start(self) -> None:
        self._sampler.start()

    def read_cpu_s(self) -> float:
        if self.v2:
            for line in (self.path / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
            return 0.0
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            total = 0
            for pid in self.pids():
                try:
                    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
                            break
                except OSError:
                    continue
            self.pss_samples.append(total)
            self.peak_pss_kib = max(self.peak_pss_kib, total)

    def close(self) -> None:
        """Stops sampling, kills what is left in the cgroup (a browser the tool did not stop) and removes it."""
        self._stop.set()
        if self._sampler.is_alive():
            self._sampler.join()
        for _ in range(50):
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        self.cpu_s = self.read_cpu_s()
        try:
            self.path.rmdir()
        except OSError:
            pass


def browser(s: Settings, caps: journeyd.Capabilities) -> tuple[list[Measured], list[str]]:
    chromium = find_chromium()
    if chromium is None:
        return [], ["skipped: browser — no Chromium (set JOURNEYD_CHROMIUM, or apt-get install -y chromium)"]
    if not caps.shop:
        return [], ["skipped: browser — " + caps.missing("shop")]
    probe = Cgroup(f"journeyd-bench-probe-{os.getpid()}")
    if not probe.ok:
        return [], ["skipped: browser — no writable cgroup (cpuacct or v2) to hold Chromium's process tree"]
    probe.close()
    try:
        shop = start_shop(s.workdir, s.target_core, s.password, label="shop-browser")
    except TargetError as e:
        return [], [f"skipped: browser — {e}"]
    secs = seconds(s)
    s.say(f"browser checkout against {shop.url}/store/ for {secs:g}s, one user, Chromium {chromium}")
    timeout = secs + 120
    env = {"SHOP_URL": shop.url, "SHOP_PASSWORD": s.password}
    rows = []
    try:
        if not caps.verify:
            rows.append(Measured("journeyd", status=caps.missing("verify")))
        elif not BROWSER_JOURNEY.exists():
            rows.append(Measured("journeyd", status=f"not yet available: {BROWSER_JOURNEY} is missing"))
        else:
            report = s.workdir / "browser-journeyd.json"

            def parse(run: Run) -> peers.Figures:
                return _journey_figures(report, "browser-checkout", secs)
            argv = journeyd.verify_closed_argv(shop.url, 1, secs, report, BROWSER_JOURNEY)
            rows.append(_measure_tree(s, "journeyd", "browser-journeyd", argv, timeout, parse,
                                      {**env, "JOURNEYD_CHROMIUM": chromium}))
        if peers.available("k6"):
            out = s.workdir / "browser-k6.json"
            argv = [peers.k6_binary() or "k6", "run", "--no-color", "--quiet", "--no-usage-report", "--address", "",
                    "--summary-export", str(out), str(K6_SCRIPT)]
            k6_env = {**env, "DURATION": f"{secs:g}s", "K6_NO_USAGE_REPORT": "true",
                      "K6_BROWSER_EXECUTABLE_PATH": chromium, "K6_BROWSER_ARGS": "no-sandbox",
                      "K6_BROWSER_HEADLESS": "true"}
            rows.append(_measure_tree(s, "k6 browser", "browser-k6", argv, timeout, lambda r: peers.parse_k6(out),
                                      k6_env))
        else:
            rows.append(Measured("k6 browser", status=peers.skipped("k6")))
    finally:
        shop.stop()
    return rows, []


def _measure_tree(s: Settings, tool: str, label: str, argv: list[str], timeout_s: float, parse,
                  env: dict[str, str]) -> Measured:
    """run_measured in a cgroup: the row's CPU and memory are the whole tree's (see the module doc)."""
    group = Cgroup(f"journeyd-bench-{label}-{os.getpid()}")
    group.start()
    try:
        run = run_measured(group.wrap(argv), core=s.gen_core, timeout_s=timeout_s, workdir=s.workdir, env=env,
                           label=label)
    finally:
        group.close()
    # The row's CPU and memory are the tree's: the cgroup's account replaces the tool's own rusage.
    run.cpu_user_s, run.cpu_sys_s = group.cpu_s, 0.0
    run.peak_rss_kib = group.peak_pss_kib
    s.say(f"  {label}: CPU and peak PSS of the tool with its Chromium: {group.cpu_s:.2f} s, "
          f"{group.peak_pss_kib / 1024:.0f} MiB")
    return _read_figures(s, Measured(tool=tool, run=run), label, timeout_s, parse)
