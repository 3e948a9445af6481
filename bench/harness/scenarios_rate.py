"""checkout-rate: the checkout journey at a fixed arrival rate (open model), journeyd beside k6, and beside
the kernel's floor for the same traffic (bench/floor/checkout_floor.c: a bare C client on epoll).

Both start s.rate_per_s journeys per second for s.rate_seconds whether or not earlier ones have finished,
with the same bound on journeys in flight (journeyd `--max-users`, k6 `preAllocatedVUs` = `maxVUs`); an
arrival finding the bound reached is dropped and counted. The unit is CPU per completed journey.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from . import journeyd, peers
from .procs import Run, Server, run_measured
from .scenarios import CHECKOUT_JOURNEY, Measured, Settings, _journey_figures, _measure
from .targets import TargetError, start_shop

FLOOR_SOURCE = Path(__file__).resolve().parent.parent / "floor" / "checkout_floor.c"
FLOOR_TOOL = "bare C client (floor)"


def checkout_rate(s: Settings, caps: journeyd.Capabilities) -> tuple[list[Measured], list[str]]:
    if not caps.shop:
        return [], ["skipped: checkout-rate — " + caps.missing("shop")]
    try:
        shop = start_shop(s.workdir, s.target_core, s.password, label="shop-rate")
    except TargetError as e:
        return [], [f"skipped: checkout-rate — {e}"]
    rate, secs, vus = s.rate_per_s, s.rate_seconds, s.rate_vus
    s.say(f"checkout at {rate}/s (open model) against {shop.url} for {secs:g}s, at most {vus} in flight")
    # Iterations in flight at the end may finish (k6: gracefulStop 20 s); VU start-up comes first.
    timeout = secs + 90
    rows = []
    try:
        if caps.verify:
            report = s.workdir / "rate-journeyd.json"

            def parse(run: Run) -> peers.Figures:
                return _journey_figures(report, "checkout", secs)
            rows.append(_measure(
                s, "journeyd", "rate-journeyd",
                journeyd.verify_open_argv(shop.url, rate, vus, secs, report, CHECKOUT_JOURNEY), timeout, parse, shop,
                env={"SHOP_URL": shop.url, "SHOP_PASSWORD": s.password},
            ))
        else:
            rows.append(Measured("journeyd", status=caps.missing("verify")))
        if peers.available("k6"):
            out = s.workdir / "rate-k6.json"
            m = _measure(s, "k6", "rate-k6", peers.k6_argv(out), timeout, lambda r: peers.parse_k6(out), shop,
                         env=peers.k6_env(shop.url, s.password, rate, secs, vus))
            _k6_startup_note(s, m, shop.url)
            rows.append(m)
        else:
            rows.append(Measured("k6", status=peers.skipped("k6")))
        rows.append(_floor(s, shop, timeout))
    finally:
        shop.stop()
    return rows, []


def _k6_startup_note(s: Settings, m: Measured, shop_url: str) -> None:
    """k6 makes every pre-allocated VU (a JavaScript runtime each) before the first arrival: a run of one
    iteration shows what that costs (full mode only)."""
    if s.quick or not m.ok or not m.figures.journeys:
        return
    out = s.workdir / "startup-k6.json"
    run = run_measured(peers.k6_argv(out), core=s.gen_core, timeout_s=90, workdir=s.workdir,
                       env=peers.k6_env(shop_url, s.password, 1, 1, s.rate_vus), label="startup-k6")
    rest = m.run.cpu_s - run.cpu_s
    without = f"; without it {rest * 1000 / m.figures.journeys:.3f} ms per journey" if rest > 0 else ""
    m.figures.notes.append(f"start-up with {s.rate_vus} VUs and one iteration costs {run.cpu_s:.2f} CPU-s "
                           f"(included above{without})")


def _floor(s: Settings, shop: Server, timeout_s: float) -> Measured:
    """What the kernel charges any client for this traffic: the four requests sent and answered with nothing
    else around them (bench/floor/checkout_floor.c, compiled here with the system's C compiler)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return Measured(FLOOR_TOOL, status="skipped: no C compiler (`cc`) to build bench/floor/checkout_floor.c")
    exe = s.workdir / "checkout_floor"
    built = subprocess.run([cc, "-O2", "-pthread", "-o", str(exe), str(FLOOR_SOURCE)],
                           capture_output=True, text=True, timeout=120)
    if built.returncode != 0:
        return Measured(FLOOR_TOOL, status=f"failed: {cc}: {built.stderr.strip()[-300:]}")
    target = urlsplit(shop.url)
    argv = [str(exe), target.hostname or "127.0.0.1", str(target.port), str(s.rate_per_s), f"{s.rate_seconds:g}",
            s.password]
    return _measure(s, FLOOR_TOOL, "rate-floor", argv, timeout_s, lambda run: parse_floor(run.stdout, s.rate_seconds),
                    shop)


def parse_floor(stdout: str, seconds: float) -> peers.Figures:
    """checkout_floor's one JSON line: journeys completed, failed and dropped, and arrivals started late."""
    lines = stdout.strip().splitlines()
    try:
        doc = json.loads(lines[-1]) if lines else None
        journeys, failed, late = int(doc["journeys"]), int(doc["failed"]), int(doc["late"])
        dropped = int(doc["dropped"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise peers.ParseError(f"checkout_floor printed no summary ({e}): {stdout.strip()[-200:]!r}") from None
    notes = [f"{late} arrivals started more than one gap late"] if late else []
    return peers.Figures(requests=4 * (journeys + failed), elapsed_s=seconds, journeys=journeys,
                         journey_failures=failed, dropped=dropped, notes=notes)
