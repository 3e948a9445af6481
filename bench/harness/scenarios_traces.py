"""traces: what OpenTelemetry export costs per checkout journey (issue 16).

The checkout journey of scenario 2 (32 users back to back against the demo shop) three times with
`journeyd verify`: no export, 1% of passing runs exported and every run exported, to a local OTLP/HTTP sink
(`otlp_sink.py`, pinned to the target core with the shop). The unit is generator CPU per completed journey;
the export's own counts come from verify's closing `traces:` line.
"""

from __future__ import annotations

import re
import sys

from . import journeyd, peers
from .procs import Run, free_port, spawn_server, wait_line, Server
from .scenarios import CHECKOUT_JOURNEY, BENCH_DIR, Measured, Settings, _measure
from .targets import TargetError, start_shop

# (row label, share of passing runs exported; None: export off)
VARIANTS = (("tracing off", None), ("1% sampled", 0.01), ("100% sampled", 1.0))
TRACES_LINE = re.compile(r"traces: (\d+) runs exported, (\d+) dropped")


def start_sink(s: Settings) -> Server:
    port = free_port()
    log = s.workdir / "otlp-sink.log"
    argv = [sys.executable, "-m", "harness.otlp_sink", str(port)]
    proc = spawn_server("otlp-sink", argv, core=s.target_core, log_path=log, cwd=BENCH_DIR)
    url = wait_line(log, "otlp:", proc)
    if url is None:
        proc.kill()
        raise TargetError(f"the OTLP sink did not start: {log.read_text(errors='replace')[-300:]}")
    return Server("otlp-sink", proc, url, log, pids=[proc.pid])


def traces(s: Settings, caps: journeyd.Capabilities) -> tuple[list[Measured], list[str]]:
    if not (caps.shop and caps.verify):
        return [], ["skipped: traces — " + caps.missing("shop" if not caps.shop else "verify")]
    try:
        shop = start_shop(s.workdir, s.target_core, s.password, label="shop-traces")
        sink = start_sink(s)
    except TargetError as e:
        return [], [f"skipped: traces — {e}"]
    secs, users = s.journey_seconds, s.journey_users
    s.say(f"checkout journey with trace export off, 1% and 100% against {shop.url}, {users} users, {secs:g}s each")
    env = {"SHOP_URL": shop.url, "SHOP_PASSWORD": s.password}
    rows = []
    try:
        for label, share in VARIANTS:
            report = s.workdir / f"traces-{share}.json"
            argv = journeyd.verify_closed_argv(shop.url, users, secs, report, CHECKOUT_JOURNEY)
            if share is not None:
                settings = s.workdir / f"traces-{share}.yml"
                settings.write_text(f"traces:\n  endpoint: {sink.url}/v1/traces\n  sample_passing: {share}\n")
                argv += ["--settings", str(settings)]

            def parse(run: Run, report=report) -> peers.Figures:
                rep = journeyd.parse_report(report, "checkout")
                j = rep.journey
                failures = j.failures or 0
                f = peers.Figures(requests=j.requests, elapsed_s=rep.elapsed_s or secs,
                                  journeys=(j.runs - failures) if j.runs is not None else None,
                                  journey_failures=failures)
                m = TRACES_LINE.search(run.stderr)
                if m:
                    f.notes.append(f"{m.group(1)} runs exported, {m.group(2)} dropped")
                return f
            rows.append(_measure(s, label, f"traces-{share}", argv, secs + 60, parse, shop, env=env))
    finally:
        sink.stop()
        shop.stop()
    return rows, []
