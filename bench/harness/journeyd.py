"""journeyd's side of the harness: every journeyd command line and the report parser live here.

If journeyd's CLI or report shape changes, this is the only file to adjust.

Interface assumed (phase 1; the lead is building it):
- `journeyd shop --listen 127.0.0.1:PORT [--password X] [--fault ROUTE=SPEC]` prints `shop: http://…`.
- `journeyd verify --target URL --users N --for 20s --report out.json FILE` (closed model).
- `journeyd verify --target URL --rate 200/s --max-users 2000 --for 30s --report out.json FILE` (open model).
- `journeyd run --listen 127.0.0.1:PORT DIR` (the monitor).
- The JSON report has per-journey and per-step `runs`, `failures`, `requests` and latency quantiles in
  seconds (`p50`, `p90`, `p99`, `max`) — the shape the brief announced — or, as `verify --report` writes
  it today (schema_version 1): `journeys` keyed by name with `runs`, `failed`, a `duration` histogram
  (`{count, buckets: [[value_us, count], …]}`) and `steps` with `runs`, `failed` and a `response`
  histogram. Both are read; quantiles are taken from the histogram when no quantile keys are present.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Where the JSON report may keep quantiles: directly on the journey/step, or in a nested object.
_QUANTILE_HOMES = ("latency", "latency_seconds", "duration", "duration_seconds")
# Where it may keep an HDR histogram of microseconds instead (journey: `duration`, step: `response`).
_HIST_HOMES = ("duration", "response", "latency")
# Keys a report may use for the measured wall time of the whole run, in seconds.
_ELAPSED_KEYS = ("elapsed_seconds", "duration_seconds", "elapsed", "wall_seconds")


def binary() -> Path:
    """The journeyd under test: $JOURNEYD, else the release build of this tree."""
    return Path(os.environ.get("JOURNEYD", REPO / "target" / "release" / "journeyd"))


def build(log: Path) -> str | None:
    """`cargo build --release` of this tree unless $JOURNEYD names a binary; returns an error or None."""
    if os.environ.get("JOURNEYD"):
        return None
    with open(log, "wb") as out:
        rc = subprocess.call(
            ["cargo", "build", "--release", "--bin", "journeyd"], cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
    return None if rc == 0 else f"cargo build --release failed (exit {rc}); see {log}"


def _help_ok(sub: str, flags: tuple[str, ...]) -> bool:
    """`journeyd SUB --help` works and lists every flag the harness passes (a stub subcommand does not)."""
    try:
        r = subprocess.run([str(binary()), sub, "--help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and all(f in r.stdout for f in flags)


@dataclass
class Capabilities:
    """Which journeyd subcommands exist yet (phase 1 runs before all of them do)."""

    shop: bool
    verify: bool
    run: bool
    version: str

    def missing(self, what: str) -> str:
        return f"journeyd: not yet available (`journeyd {what}` or one of its flags is missing in {binary()})"


def probe() -> Capabilities:
    version = "not built"
    if binary().exists():
        try:
            r = subprocess.run([str(binary()), "--version"], capture_output=True, text=True, timeout=20)
            version = (r.stdout.strip() or r.stderr.strip() or "unknown") if r.returncode == 0 else "unknown"
        except (OSError, subprocess.TimeoutExpired):
            version = "unknown"
    exists = binary().exists()
    return Capabilities(
        shop=exists and _help_ok("shop", ("--listen", "--password", "--fault")),
        verify=exists and _help_ok("verify", ("--target", "--users", "--rate", "--max-users", "--for", "--report")),
        run=exists and _help_ok("run", ("--listen",)),
        version=version,
    )


# ----- command lines -------------------------------------------------------------------------------


def shop_argv(port: int, password: str, faults: list[str] = ()) -> list[str]:
    argv = [str(binary()), "shop", "--listen", f"127.0.0.1:{port}", "--password", password]
    for f in faults:
        argv += ["--fault", f]
    return argv


# What the shop prints once it listens; the rest of the line is its URL.
SHOP_READY_PREFIX = "shop:"


def verify_closed_argv(target: str, users: int, seconds: float, report: Path, journey: Path) -> list[str]:
    return [
        str(binary()), "verify", "--target", target, "--users", str(users),
        "--for", _dur(seconds), "--report", str(report), str(journey),
    ]


def verify_open_argv(
    target: str, rate_per_s: int, max_users: int, seconds: float, report: Path, journey: Path
) -> list[str]:
    return [
        str(binary()), "verify", "--target", target, "--rate", f"{rate_per_s}/s",
        "--max-users", str(max_users), "--for", _dur(seconds), "--report", str(report), str(journey),
    ]


def monitor_argv(port: int, journeys_dir: Path) -> list[str]:
    return [str(binary()), "run", "--listen", f"127.0.0.1:{port}", str(journeys_dir)]


def _dur(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms" if seconds != int(seconds) else f"{int(seconds)}s"


# ----- the JSON report -----------------------------------------------------------------------------


@dataclass
class Stats:
    """One journey's or step's figures from the report. Latencies in seconds; None when absent."""

    runs: int | None
    failures: int | None
    requests: int | None
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    # Open-model arrivals that could not start because every --max-users slot was busy.
    dropped: int | None = None


@dataclass
class Report:
    journey: Stats
    steps: dict[str, Stats]
    # Measured duration of the load phase, if the report states it.
    elapsed_s: float | None


class ReportError(Exception):
    """The report is missing or does not have the expected shape."""


def parse_report(path: Path, journey: str) -> Report:
    """Reads journeyd's `--report` JSON and returns the named journey's figures.

    Tolerant by design until the format settles: journeys may be a list of objects with `name` or an
    object keyed by name; quantiles may sit on the entry or under `latency`/`latency_seconds`.
    """
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"no report written at {path}") from None
    except json.JSONDecodeError as e:
        raise ReportError(f"report {path} is not JSON: {e}") from None
    entry = _named(doc.get("journeys") if isinstance(doc, dict) else None, journey)
    if entry is None:
        raise ReportError(f"report {path} has no journey named {journey!r} under `journeys`")
    steps = {}
    raw_steps = entry.get("steps")
    if isinstance(raw_steps, list):
        steps = {s.get("name", str(i)): _stats(s) for i, s in enumerate(raw_steps) if isinstance(s, dict)}
    elif isinstance(raw_steps, dict):
        steps = {k: _stats(v) for k, v in raw_steps.items() if isinstance(v, dict)}
    elapsed = None
    for scope in (entry, doc):
        for k in _ELAPSED_KEYS:
            if isinstance(scope.get(k), (int, float)):
                elapsed = float(scope[k])
                break
        if elapsed is not None:
            break
    return Report(journey=_stats(entry), steps=steps, elapsed_s=elapsed)


def _named(container, name: str) -> dict | None:
    if isinstance(container, dict):
        v = container.get(name)
        return v if isinstance(v, dict) else None
    if isinstance(container, list):
        for item in container:
            if isinstance(item, dict) and item.get("name") == name:
                return item
    return None


def _num(obj: dict, key: str) -> float | None:
    for scope in (obj, *(obj.get(h) for h in _QUANTILE_HOMES)):
        if isinstance(scope, dict) and isinstance(scope.get(key), (int, float)):
            return float(scope[key])
    return None


def _int(obj: dict, key: str) -> int | None:
    v = obj.get(key)
    return int(v) if isinstance(v, (int, float)) else None


def _stats(obj: dict) -> Stats:
    failures = _int(obj, "failures")
    if failures is None:
        failures = _int(obj, "failed")
    requests = _int(obj, "requests")
    if requests is None and isinstance(obj.get("steps"), list):
        # One request per step run (redirects aside): the sum of the steps' runs.
        counts = [s.get("runs") for s in obj["steps"] if isinstance(s, dict)]
        requests = sum(counts) if counts and all(isinstance(c, int) for c in counts) else None
    buckets = next((obj[h]["buckets"] for h in _HIST_HOMES
                    if isinstance(obj.get(h), dict) and isinstance(obj[h].get("buckets"), list)), None)

    def q(key: str, quantile: float) -> float | None:
        v = _num(obj, key)
        return v if v is not None or buckets is None else hist_quantile(buckets, quantile)

    return Stats(
        runs=_int(obj, "runs"),
        failures=failures,
        requests=requests,
        p50=q("p50", 0.50),
        p90=q("p90", 0.90),
        p99=q("p99", 0.99),
        max=q("max", 1.0),
        dropped=_int(obj, "dropped"),
    )


def hist_quantile(buckets: list, quantile: float) -> float | None:
    """The value at `quantile` of `[[value_us, count], …]` (ascending), in seconds, the way hdrhistogram
    answers it: the first bucket where the running count reaches max(1, ceil(quantile × total))."""
    total = sum(c for _, c in buckets)
    if total == 0:
        return None
    need = max(1, math.ceil(quantile * total))
    seen = 0
    for value_us, count in buckets:
        seen += count
        if seen >= need:
            return value_us / 1e6
    return buckets[-1][0] / 1e6


# ----- /metrics of `journeyd run` ------------------------------------------------------------------


def runs_by_outcome(exposition: str) -> dict[str, float]:
    """Journey runs by outcome, summed over journeys, from the Prometheus text of `journeyd run`'s /metrics:
    `journey_runs_total{journey="…",outcome="success"} 12` (any `*_runs_total` counter; a series without an
    `outcome` label counts as "total")."""
    out: dict[str, float] = {}
    for line in exposition.splitlines():
        if line.startswith("#") or not line.split("{")[0].split(" ")[0].endswith("_runs_total"):
            continue
        try:
            value = float(line.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        m = re.search(r'outcome="([^"]*)"', line)
        key = m.group(1) if m else "total"
        out[key] = out.get(key, 0.0) + value
    return out
