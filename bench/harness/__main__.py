"""bench/run's Python side: probe the tools, run the scenarios in order, write RESULTS.md.

Usage (through bench/run, which raises `ulimit -n` first):
    bench/run [--quick] [--only get,journey,stall,monitor,get-https,monitor-https,checkout-rate,traces,browser,
                     browser-monitor]
              [--out PATH]
              [--no-build]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
from pathlib import Path

from . import (journeyd, peers, procs, report, scenarios, scenarios_browser, scenarios_browser_monitor,
               scenarios_https, scenarios_rate, scenarios_traces)

BENCH_DIR = Path(__file__).resolve().parents[1]
# In the order they run (and appear in RESULTS.md).
ALL = ("get", "journey", "stall", "monitor", "get-https", "monitor-https", "checkout-rate", "traces", "browser",
       "browser-monitor")
TOOLS = ("wrk", "oha", "drill", "artillery", "locust", "k6", "nginx", "openssl")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench/run", description="journeyd vs wrk, oha, drill, artillery, locust, k6")
    ap.add_argument("--quick", action="store_true", help="short runs (~1-2 min) to smoke-test the harness")
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md", help="where to write the results")
    ap.add_argument("--no-build", action="store_true", help="use the existing target/release/journeyd")
    ap.add_argument("--password", default="demo-password", help="the demo shop's password (--password)")
    args = ap.parse_args(argv)
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = [x for x in only if x not in ALL]
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
    if (os.cpu_count() or 1) < 2:
        print("bench/run needs 2 cores (target on core 1, generator on core 0)", file=sys.stderr)
        return 2
    if not shutil.which("taskset"):
        print("bench/run needs taskset (apt-get install -y util-linux)", file=sys.stderr)
        return 2
    if not os.access(procs.TIME, os.X_OK):
        print(f"bench/run needs GNU time at {procs.TIME} (apt-get install -y time)", file=sys.stderr)
        return 2

    workdir = BENCH_DIR / "out" / ("quick" if args.quick else "full")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    s = scenarios.Settings.make(args.quick, workdir, args.password)
    started = dt.datetime.now(dt.timezone.utc)

    if not args.no_build and not os.environ.get("JOURNEYD"):
        s.say("building journeyd (cargo build --release)…")
        err = journeyd.build(workdir / "cargo-build.log")
        if err:
            s.say(err)
    caps = journeyd.probe()
    versions = {"journeyd": f"{caps.version} ({journeyd.binary()})"}
    for tool in TOOLS:
        versions[tool] = peers.version(tool)
        if versions[tool] == "not installed":
            s.say(peers.skipped(tool))
    versions["python"] = platform.python_version()
    if shutil.which("node"):
        import subprocess
        versions["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    for what in ("shop", "verify", "run"):
        if not getattr(caps, what):
            s.say(caps.missing(what))

    idle = procs.cpu_idle()
    s.idle_before = idle
    busy = [f"{c} {100 - v:.0f}% busy" for c, v in idle.items() if v < 90]
    if busy:
        s.say("warning: the machine is not idle (" + ", ".join(busy) + "); figures will be skewed")

    sections: dict = {}
    runners = {"get": scenarios.single_get, "journey": scenarios.journeys, "stall": scenarios.stall,
               "monitor": scenarios.monitor, "get-https": scenarios_https.get_https,
               "monitor-https": scenarios_https.monitor_https, "checkout-rate": scenarios_rate.checkout_rate,
               "traces": scenarios_traces.traces,
               "browser": scenarios_browser.browser, "browser-monitor": scenarios_browser_monitor.browser_monitor}
    try:
        for name in sorted(set(only), key=ALL.index):
            sections[name] = runners[name](s, caps)
    finally:
        report.write(args.out, s, versions, sections, started, dt.datetime.now(dt.timezone.utc))
        s.say(f"wrote {args.out} (raw output in {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
