"""RESULTS.md: the machine, the tools, and each scenario's table with ratios to journeyd."""

from __future__ import annotations

import datetime as dt
import platform
import resource
import subprocess
from pathlib import Path
from statistics import mean

from .scenarios import STALL_FAULT, STALL_TRUTH, GetResult, Measured, MonitorResult, Settings
from .scenarios_https import HttpsMonitor


def machine() -> dict[str, str]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?")
    cores = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("CPU(s)")), "?")
    try:
        somaxconn = Path("/proc/sys/net/core/somaxconn").read_text().strip()
    except OSError:
        somaxconn = "?"
    try:
        debian = "Debian " + Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = platform.platform()
    return {
        "CPU": model,
        "cores": cores,
        "kernel": platform.release(),
        "OS": debian,
        "open files (ulimit -n)": str(resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
        "net.core.somaxconn": somaxconn,
    }


# ----- formatting -----------------------------------------------------------------------------------


def _lat(v: float | None) -> str:
    if v is None:
        return "–"
    if v >= 1:
        return f"{v:.2f} s"
    if v >= 0.001:
        return f"{v * 1000:.2f} ms"
    return f"{v * 1e6:.0f} µs"


def _num(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _ratio(tool: float | None, base: float | None) -> str:
    if tool is None or base is None or base == 0:
        return "–"
    return f"{tool / base:.2f}×"


def cell(text: str) -> str:
    """Free text (statuses, tool output) made safe inside a Markdown table cell."""
    return " ".join(text.replace("|", "/").split())


def _mib(kib: int | None) -> str:
    return "–" if kib is None else f"{kib / 1024:.1f} MiB"


def _rps(m: Measured) -> float | None:
    f = m.figures
    if not f or f.requests is None:
        return None
    if f.rps is not None:
        return f.rps
    elapsed = f.elapsed_s or (m.run.wall_s if m.run else None)
    return f.requests / elapsed if elapsed else None


def _cpu_us_per_req(m: Measured) -> float | None:
    if not (m.run and m.figures and m.figures.requests):
        return None
    return m.run.cpu_s * 1e6 / m.figures.requests


def _rss(m: Measured) -> int | None:
    return m.run.peak_rss_kib if m.run else None


def _jpc(m: Measured) -> float | None:
    """Completed journeys per CPU-second of the generator."""
    if not (m.run and m.figures and m.figures.journeys is not None) or m.run.cpu_s <= 0:
        return None
    return m.figures.journeys / m.run.cpu_s


# ----- sections -------------------------------------------------------------------------------------


def _single_get(s: Settings, results: list[GetResult], skips: list[str]) -> list[str]:
    out = [
        "## 1. Single GET against a static target",
        "",
        f"`GET /static/hello` (13 bytes), {s.get_seconds:g} s per run, closed loop: N connections (wrk, oha) or "
        "N virtual users (journeyd) sending back to back. Generator CPU is utime+stime from the kernel "
        "(wait4 rusage), peak RSS is ru_maxrss; p50/p99 as each tool reports them. "
        "Ratios are tool ÷ journeyd (for requests/s higher is better; for CPU-µs/request and RSS lower is better). "
        "*Target CPU* is the target's share of its core during the run: near 100% means the target, not the "
        "generator, limited requests/s, and CPU-µs/request is the fairer comparison.",
        "",
    ]
    out += [f"- {x}" for x in skips]
    if skips:
        out.append("")
    return out + _get_tables(results)


def _get_https(s: Settings, results: list[GetResult], notes: list[str]) -> list[str]:
    out = [
        "## 5. Single GET over https",
        "",
        f"Scenario 1 over TLS: the same `GET /static/hello` from nginx's https server (same worker, same core), "
        f"{s.get_https_seconds:g} s per run, closed loop, keep-alive: each connection pays one full handshake, then "
        "carries requests back to back. journeyd trusts the private CA through `defaults: { tls_ca: … }` "
        "(`bench/journeys/get-static-https.yml`) and verifies the certificate; oha is given it with `--cacert` "
        "and verifies too; wrk does not verify certificates. Columns and ratios as in scenario 1.",
        "",
    ]
    out += [f"- {x}" for x in notes]
    if notes:
        out.append("")
    return out + _get_tables(results)


def _get_tables(results: list[GetResult]) -> list[str]:
    out = []
    for target in dict.fromkeys(r.target for r in results):
        out += [f"### Target: {target}", ""]
        out.append("| conns | tool | requests/s | ×journeyd | CPU-µs/req | ×journeyd | p50 | p99 | peak RSS | ×journeyd "
                   "| target CPU | errors |")
        out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        notes = []
        for res in (r for r in results if r.target == target):
            base = next((m for m in res.rows if m.tool == "journeyd" and m.ok), None)
            for m in res.rows:
                if not m.ok:
                    out.append(f"| {res.conns:,} | {m.tool} | {cell(m.status)} ||||||||||")
                    continue
                f = m.figures
                is_base = m is base
                out.append(
                    f"| {res.conns:,} | {m.tool} | {_num(_rps(m))} | "
                    f"{'1.00×' if is_base else _ratio(_rps(m), _rps(base) if base else None)} | "
                    f"{_num(_cpu_us_per_req(m), 1)} | "
                    f"{'1.00×' if is_base else _ratio(_cpu_us_per_req(m), _cpu_us_per_req(base) if base else None)} | "
                    f"{_lat(f.p50)} | {_lat(f.p99)} | {_mib(_rss(m))} | "
                    f"{'1.00×' if is_base else _ratio(_rss(m), _rss(base) if base else None)} | "
                    f"{_num(m.target_cpu_pct)}% | {f.errors:,} |"
                )
                notes += [f"{m.tool} at {res.conns:,}: {n}" for n in f.notes]
        out.append("")
        out += [f"- {n}" for n in notes]
        if notes:
            out.append("")
    return out


def _journeys(s: Settings, rows: list[Measured], skips: list[str]) -> list[str]:
    out = [
        "## 2. The 4-step checkout journey (login → view price → add to cart → checkout)",
        "",
        f"Against the demo shop, {s.journey_users} virtual users looping without think time for "
        f"{s.journey_seconds:g} s (drill: a fixed iteration count sized to about as long). A completed journey "
        "is a checkout answered 201. *Journeys per CPU-second* = completed journeys ÷ generator utime+stime: "
        "how many journeys one core of this machine can drive. Scripts: `bench/journeys/checkout.yml`, "
        "`bench/peers/drill-checkout.yml`, `bench/peers/artillery-checkout.yml`, `bench/peers/locustfile.py`.",
        "",
    ]
    out += [f"- {x}" for x in skips]
    if skips:
        out.append("")
    if not rows:
        return out
    base = next((m for m in rows if m.tool == "journeyd" and m.ok), None)
    out.append("| tool | completed journeys | failed | journeys/s (wall) | generator CPU | journeys per CPU-s | "
               "×journeyd | peak RSS | ×journeyd | target CPU |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    def row(m: Measured) -> str:
        f = m.figures
        return (
            f"| {m.tool} | {_num(f.journeys)} | {_num(f.journey_failures)} | {_journeys_per_s(m)} | "
            f"{m.run.cpu_s:.2f} s | {_num(_jpc(m), 1)} | {_vs(m, base, _jpc)} | {_mib(_rss(m))} | "
            f"{_vs(m, base, _rss)} | {_num(m.target_cpu_pct)}% |"
        )

    return out + _journey_rows(rows, 8, row)


def _vs(m: Measured, base, value) -> str:
    """`value` of `m` as a ratio to the baseline row's (1.00× for the baseline itself)."""
    return "1.00×" if m is base else _ratio(value(m), value(base) if base else None)


def _journeys_per_s(m: Measured) -> str:
    f = m.figures
    elapsed = f.elapsed_s or m.run.wall_s
    return _num(f.journeys / elapsed if f.journeys is not None and elapsed else None, 1)


def _journey_rows(rows: list, empty_cells: int, render) -> list[str]:
    """One table row per tool (`render`, or its status across `empty_cells` cells when it did not run), then
    each tool's notes as a list."""
    out, notes = [], []
    for m in rows:
        if not m.ok:
            out.append(f"| {m.tool} | {cell(m.status)} |" + "|" * empty_cells)
            continue
        out.append(render(m))
        notes += [f"{m.tool}: {n}" for n in m.figures.notes]
    out.append("")
    out += [f"- {n}" for n in notes]
    return out + ([""] if notes else [])


def _stall(s: Settings, rows: list[Measured], skips: list[str]) -> list[str]:
    out = [
        "## 3. Stall test (coordinated omission)",
        "",
        f"The shop runs with `--fault '{STALL_FAULT}'`: every response arriving in the first 1 s of each 5 s "
        "period is held until that window ends. At a constant arrival rate, 20% of requests wait a uniform "
        "0–1 s, so the truth is p90 ≈ 0.5 s and p99 ≈ 0.95 s. A closed-loop generator stops sending while its "
        "connections are stuck, so the stall hides in few samples; an open-model generator keeps arriving and "
        f"measures from the intended start. {s.stall_seconds:g} s per run, GET /static/hello.",
        "",
    ]
    out += [f"- {x}" for x in skips]
    if skips:
        out.append("")
    if not rows:
        return out
    out.append("| generator | requests | p50 | p90 | p99 | p90 ÷ truth | p99 ÷ truth |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    out.append(f"| **truth** at {s.stall_rate}/s | {s.stall_rate * s.stall_seconds:,.0f} | ~0 | "
               f"{_lat(STALL_TRUTH['p90'])} | {_lat(STALL_TRUTH['p99'])} | 1.00× | 1.00× |")
    notes = []
    for m in rows:
        if not m.ok:
            out.append(f"| {m.tool} | {cell(m.status)} ||||||")
            continue
        f = m.figures
        out.append(
            f"| {m.tool} | {_num(f.requests)} | {_lat(f.p50)} | {_lat(f.p90)} | {_lat(f.p99)} | "
            f"{_ratio(f.p90, STALL_TRUTH['p90'])} | {_ratio(f.p99, STALL_TRUTH['p99'])} |"
        )
        notes += [f"{m.tool}: {n}" for n in f.notes]
    return out + [""] + [f"- {n}" for n in notes] + [
        "- oha's `--latency-correction` (\"Correct latency to avoid coordinated omission problem. It's ignored if "
        "-q is not set.\") measures each request from when the rate schedule meant to send it.",
        "- wrk is a closed loop but does not print raw latencies: before printing, it back-fills each slow "
        "sample with the requests a connection would have sent at its average pace (`stats_correct` in wrk.c, "
        "interval = run time ÷ requests per connection), so its percentiles are corrected estimates — in the "
        "single-GET tables too.",
        "",
    ]


def _monitor(s: Settings, res: MonitorResult | None, skips: list[str]) -> list[str]:
    out = [
        "## 4. Monitor overhead",
        "",
        f"`journeyd run` with {s.monitor_journeys:,} generated journeys (one GET each, `every: 10s`, `users: 1`; "
        f"template `bench/journeys/monitor-template.yml`) against the demo shop for {s.monitor_seconds:g} s. "
        "CPU % of one core and RSS sampled from /proc every second.",
        "",
    ]
    out += [f"- {x}" for x in skips]
    if res is None:
        return out + [""]
    return out + _monitor_table(res, "Shop") + _monitor_compare(res)


def _monitor_table(res: MonitorResult, target: str) -> list[str]:
    out = []
    if res.status != "ok":
        out += [f"- {res.status}", ""]
    if not res.samples:
        return out + ["- no samples were taken", ""]
    cpu = [c for _, c, _ in res.samples]
    rss = [r for _, _, r in res.samples]
    # Start-up (loading 1,000 files, first runs all due at once) is excluded when the run is long enough.
    steady = [c for t, c, _ in res.samples if t > 10] if res.seconds > 20 else []
    expected = res.journeys * res.seconds / 10
    out += [
        "| samples | CPU % mean | CPU % max | CPU % mean after 10 s | RSS mean | RSS max | VmHWM | journey runs (/metrics) "
        "| failed runs | expected runs |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {len(res.samples)} | {mean(cpu):.1f}% | {max(cpu):.1f}% | "
        f"{(f'{mean(steady):.1f}%' if steady else '–')} | {_mib(int(mean(rss)))} | {_mib(max(rss))} | "
        f"{_mib(res.peak_rss_kib)} | {_num(res.runs_seen)} | {_num(res.runs_failed)} | ~{expected:,.0f} |",
        "",
        f"{target} CPU meanwhile: {_num(res.target_cpu_pct, 1)}% of its core.",
        "",
    ]
    return out


def _steady_cpu(res: MonitorResult) -> float | None:
    steady = [c for t, c, _ in res.samples if t > 10]
    return mean(steady) if steady else None


def _monitor_compare(res: MonitorResult) -> list[str]:
    """The same journeys on one runtime thread, and what the traffic alone costs a bare load generator."""
    if res.one_thread is None and res.floor is None:
        return []
    rate = res.journeys / 10
    out = [
        f"The same load side by side: {rate:,.0f} runs per second, each on a new TCP connection (a monitor "
        "run opens its own, as blackbox_exporter's probes do, so a site that stops accepting connections is "
        f"seen). The floor is oha sending just those GETs (`-q {rate:.0f} --disable-keepalive`): no schedule, "
        "checks, histograms or alerting.",
        "",
        "| run | CPU % of one core (steady) | µs CPU per run | note |",
        "|---|---:|---:|---|",
    ]

    def row(label: str, pct: float | None, note: str) -> str:
        per_run = f"{pct / 100 / rate * 1e6:,.0f}" if pct is not None else "–"
        return f"| {label} | {(f'{pct:.2f}%' if pct is not None else '–')} | {per_run} | {note} |"

    out.append(row("journeyd run (default runtime)", _steady_cpu(res), f"{len(res.samples)} s sampled"))
    if res.one_thread is not None:
        o = res.one_thread
        note = f"{len(o.samples)} s sampled" if o.status == "ok" else o.status
        out.append(row("journeyd --threads 1 run", _steady_cpu(o), note))
    if res.floor is not None:
        f = res.floor
        if f.ok and f.run is not None and f.run.wall_s > 0:
            pct = 100.0 * f.run.cpu_s / f.run.wall_s
            rps = f.figures.requests / f.run.wall_s if f.figures and f.figures.requests else None
            out.append(row("oha (floor: the GETs alone)", pct,
                           f"{_num(rps, 1)} req/s; CPU over the whole run (start-up included)"))
        else:
            out.append(row("oha (floor: the GETs alone)", None, f.status))
    return out + [""]


def _monitor_https(s: Settings, res: HttpsMonitor | None, skips: list[str]) -> list[str]:
    rate = s.monitor_https_journeys / 10
    out = [
        "## 6. Monitor overhead over https",
        "",
        f"`journeyd run` with {s.monitor_https_journeys:,} generated journeys (one GET each over https, "
        "`every: 10s`, `users: 1`, the private CA as `tls_ca`; template `bench/journeys/monitor-https-template.yml`) "
        f"against nginx's https server: {rate:,.0f} runs per second. CPU % of one core and RSS sampled from /proc "
        "every second. Beside it, the **floor**: the same number of fresh full handshakes with one GET each, made "
        f"by a bare client (oha `--disable-keepalive -q {rate:.0f} -c {s.floor_conns} --cacert ca.pem`, verifying "
        "the certificate as journeyd does) for as long — no schedule, checks, histograms or alerting. nginx refuses "
        "session resumption, so every new connection is a full handshake for both. The two alternate: "
        f"{s.monitor_https_rounds} round(s) of journeyd for {s.monitor_https_seconds:g} s then the floor for as "
        "long, because what a handshake costs this machine moves from one minute to the next for both tools; "
        "each round's ×floor is against that round's floor, and the last row compares the means over all rounds. "
        "Issue 12's target: journeyd ≤ 0.8× the floor.",
        "",
    ]
    out += [f"- {x}" for x in skips]
    if res is None or not res.rounds:
        return out + [""]
    out += [f"- {x}" for x in res.notes]
    if res.notes:
        out.append("")
    for n, r in enumerate(res.rounds, 1):
        if len(res.rounds) > 1:
            out += [f"Round {n}:", ""]
        out += _monitor_table(r.monitor, "nginx")
    out += [
        "| run | CPU % of one core | µs CPU per run | ×floor | runs | TLS connections (nginx) | connections per run "
        "| note |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]

    def row(label: str, pct: float | None, floor_pct: float | None, runs: float | None, conns: int | None,
            note: str) -> str:
        per_run = f"{pct / 100 / rate * 1e6:,.0f}" if pct is not None and rate else "–"
        per_conn = "–" if conns is None or not runs else f"{conns / runs:.{2 if conns / runs >= 0.1 else 3}f}"
        return (f"| {label} | {(f'{pct:.2f}%' if pct is not None else '–')} | {per_run} | "
                f"{_ratio(pct, floor_pct)} | {_num(runs)} | {_num(conns)} | {per_conn} | {note} |")

    journeyd_all, floor_all = [], []
    for n, r in enumerate(res.rounds, 1):
        mon, f = r.monitor, r.floor
        journeyd_pct = _steady_cpu(mon) if mon.seconds > 20 else (mean(c for _, c, _ in mon.samples)
                                                                   if mon.samples else None)
        floor_pct = 100.0 * f.run.cpu_s / f.run.wall_s if f is not None and f.ok and f.run.wall_s > 0 else None
        at = f" (round {n})" if len(res.rounds) > 1 else ""
        span = "after the first 10 s" if mon.seconds > 20 else "whole run, start-up included"
        out.append(row(f"journeyd run{at}", journeyd_pct, floor_pct, mon.runs_seen, mon.connections,
                       f"{len(mon.samples)} s sampled ({span})"))
        if f is None:
            pass
        elif f.ok:
            rps = f.figures.requests / f.run.wall_s if f.figures.requests and f.run.wall_s else None
            note = f"{_num(rps, 1)} req/s, {f.figures.errors:,} errors; CPU over the whole run (start-up included)"
            out.append(row(f"oha (floor){at}", floor_pct, floor_pct, f.figures.requests, r.floor_connections, note))
        else:
            out.append(row(f"oha (floor){at}", None, None, None, None, cell(f.status)))
        if journeyd_pct is not None and floor_pct is not None:
            journeyd_all.append(journeyd_pct)
            floor_all.append(floor_pct)
    if len(res.rounds) > 1 and journeyd_all:
        jm, fm = mean(journeyd_all), mean(floor_all)
        out.append(row(f"**journeyd, mean of {len(journeyd_all)} rounds**", jm, fm, None, None,
                       f"floor's mean {fm / 100 / rate * 1e6:,.0f} µs per handshake"))
    out += [
        "",
        "- *Connections per run* is what nginx accepted during each run ÷ the runs or requests made: 1.00 means a "
        "new connection, so a full handshake, for every run; less means connections were reused across runs, "
        "which skips the handshakes and makes the comparison with the floor flatter journeyd.",
        "",
    ]
    return out


def _checkout_rate(s: Settings, rows: list[Measured], skips: list[str]) -> list[str]:
    out = [
        "## 7. Checkout at a fixed arrival rate (open model)",
        "",
        f"The checkout journey of scenario 2 against the demo shop, started at {s.rate_per_s:,} journeys per second "
        f"for {s.rate_seconds:g} s whether or not earlier ones have finished, with at most {s.rate_vus} in flight "
        f"(journeyd `verify --rate {s.rate_per_s}/s --max-users {s.rate_vus}`; k6's `constant-arrival-rate` "
        f"executor with `preAllocatedVUs` = `maxVUs` = {s.rate_vus}, `bench/peers/k6-checkout.js`). An arrival "
        "that finds the bound reached is dropped. *ms CPU per journey* = generator utime+stime ÷ completed "
        "journeys, then split into user and kernel time (the kernel's share — loopback TCP, waking the shop, "
        "sleeping until each response — is about the same work per request for every tool); ×journeyd is tool "
        "÷ journeyd (issue 12's target: journeyd ≤ 1/6 of k6, i.e. k6 ≥ 6.00×). "
        "Journey p50/p99: journeyd measures from each arrival's intended start; k6's `iteration_duration` "
        "from when a VU began it. The last row is the **floor**: what the kernel charges any client for this "
        "traffic, measured with the least a client can do (`bench/floor/checkout_floor.c`, built with the "
        "system's C compiler: the same four requests and captures, the same arrival schedule and bound on "
        "journeys in flight, on one thread with non-blocking sockets and epoll as journeyd and k6 do; no "
        "runtime, allocation, latency recording or checks beyond status codes and captures).",
        "",
    ]
    out += _skips(skips)
    if not rows:
        return out
    base = next((m for m in rows if m.tool == "journeyd" and m.ok), None)
    out.append("| tool | completed journeys | failed | dropped | journeys/s achieved | generator CPU | ms CPU per journey "
               "| user / kernel ms | ×journeyd | journey p50 | journey p99 | peak RSS | ×journeyd | target CPU |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    def row(m: Measured) -> str:
        f = m.figures
        split = (f"{m.run.cpu_user_s * 1000 / f.journeys:.3f} / {m.run.cpu_sys_s * 1000 / f.journeys:.3f}"
                 if f.journeys else "—")
        return (
            f"| {m.tool} | {_num(f.journeys)} | {_num(f.journey_failures)} | {_num(f.dropped)} | "
            f"{_journeys_per_s(m)} | {m.run.cpu_s:.2f} s | {_num(ms_per_journey(m), 3)} | {split} | "
            f"{_vs(m, base, ms_per_journey)} | {_lat(f.p50)} | {_lat(f.p99)} | {_mib(_rss(m))} | "
            f"{_vs(m, base, _rss)} | {_num(m.target_cpu_pct)}% |"
        )

    return out + _journey_rows(rows, 13, row)


def _skips(skips: list[str]) -> list[str]:
    """A section's skipped runs as a list, with a blank line after it when there are any."""
    return [f"- {x}" for x in skips] + ([""] if skips else [])


def ms_per_journey(m: Measured) -> float | None:
    """Generator CPU per completed journey, in ms."""
    if not (m.run and m.figures and m.figures.journeys):
        return None
    return m.run.cpu_s * 1000 / m.figures.journeys


def _traces(s: Settings, rows: list[Measured], skips: list[str]) -> list[str]:
    out = [
        "## 8. `traces`: OpenTelemetry export per checkout journey",
        "",
        f"Scenario 2's checkout journey ({s.journey_users} users back to back, {s.journey_seconds:g} s, "
        "`journeyd verify`) with trace export off, 1% of passing runs exported and every run exported, to a "
        "local OTLP/HTTP sink on the target core (`bench/harness/otlp_sink.py`). *CPU per journey* = generator "
        "utime+stime ÷ completed journeys; ×off compares with the run without export.",
        "",
    ]
    out += _skips(skips)
    if not rows:
        return out
    base = next((m for m in rows if m.tool == "tracing off" and m.ok), None)
    out.append("| export | completed journeys | failed | generator CPU | CPU ms per journey | ×off | peak RSS | "
               "export counts |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for m in rows:
        if not m.ok or m.figures is None:
            out.append(f"| {m.tool} | {cell(m.status)} | | | | | | |")
            continue
        f = m.figures
        ratio = _ratio(ms_per_journey(m), ms_per_journey(base)) if base else "–"
        out.append(
            f"| {m.tool} | {_num(f.journeys)} | {_num(f.journey_failures)} | {m.run.cpu_s:.2f} s | "
            f"{_num(ms_per_journey(m), 3)} | {ratio} | {_mib(_rss(m))} | {cell('; '.join(f.notes))} |"
        )
    return out + [""]


def _browser(s: Settings, rows: list[Measured], skips: list[str]) -> list[str]:
    from .scenarios_browser import seconds

    out = [
        "## 9. Browser checkout",
        "",
        f"The 4-step browser checkout (log in, see the price, add to cart, check out) against the demo storefront, "
        f"one user, journeys back to back for {seconds(s):g} s, each in a fresh browser context, both tools "
        "driving the same Chromium: journeyd `verify --users 1` on `journeys/browser-checkout.yml`, k6's browser "
        "module on `bench/peers/k6-browser-checkout.js` (the same steps and checks). *CPU* is the tool and its "
        "whole Chromium process tree together (the run's cgroup, exited processes included); *peak memory* is "
        "the tree's summed PSS, sampled every 0.25 s. Issue 13's target: journeyd ≤ k6 browser's CPU per journey "
        "(×journeyd ≥ 1.00 for k6).",
        "",
    ]
    out += _skips(skips)
    if not rows:
        return out
    base = next((m for m in rows if m.tool == "journeyd" and m.ok), None)
    out.append("| tool | completed journeys | failed | CPU with Chromium | ms CPU per journey | ×journeyd "
               "| journey p50 | journey p99 | peak memory (PSS) | ×journeyd |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def row(m: Measured) -> str:
        f = m.figures
        return (
            f"| {m.tool} | {_num(f.journeys)} | {_num(f.journey_failures)} | {m.run.cpu_s:.2f} s | "
            f"{_num(ms_per_journey(m), 1)} | {_vs(m, base, ms_per_journey)} | {_lat(f.p50)} | {_lat(f.p99)} | "
            f"{_mib(_rss(m))} | {_vs(m, base, _rss)} |"
        )

    return out + _journey_rows(rows, 8, row)


def _browser_monitor(s: Settings, res, skips: list[str]) -> list[str]:
    from .scenarios_browser_monitor import KINDS, seconds

    out = [
        "## 10. `browser-monitor`: footprint of 10 browser journeys every 30 s",
        "",
        "`journeyd run` on 10 copies of `journeys/browser-checkout.yml` (`every: 30s`, phases spread over the "
        "interval) against the demo storefront, pinned to the generator core, in its own cgroup with its "
        f"Chromium. After a warm-up tick (every journey has run once), {seconds(s):g} s are measured: *CPU* is "
        "the cgroup's CPU-seconds ÷ wall seconds (the whole tree, exited renderers included), split by kind of "
        "process from /proc (a parent's reaped children count as its kind: the zygote reaps closed contexts' "
        "renderers); *memory* is the tree's summed PSS sampled every second. Issue 13's target: < 25% of one "
        "core and < 600 MB (572 MiB) in total.",
        "",
    ]
    out += _skips(skips)
    if res is None:
        return out
    if res.status != "ok":
        out += [f"- {cell(res.status)}", ""]
    target_cpu = "met" if res.cpu_pct < 25 else "missed"
    target_mem = "–" if res.pss_peak_kib is None else ("met" if res.pss_peak_kib * 1024 < 600e6 else "missed")
    out.append("| Chromium | window | runs | failed | CPU % of one core | target < 25% | PSS mean | PSS peak "
               "| target < 600 MB |")
    out.append("|---|---:|---:|---:|---:|---|---:|---:|---|")
    mean_kib = None if res.pss_mean_kib is None else int(res.pss_mean_kib)
    out.append(f"| `{res.chromium}` | {res.window_s:.0f} s | {_num(res.runs)} | {_num(res.failed)} | "
               f"{res.cpu_pct:.1f}% | {target_cpu} | {_mib(mean_kib)} | {_mib(res.pss_peak_kib)} | {target_mem} |")
    out += ["", "| process kind | CPU-s in the window | % of one core | share |", "|---|---:|---:|---:|"]
    for kind in (*KINDS, "unattributed"):
        cpu = res.by_kind.get(kind, 0.0)
        if cpu <= 0:
            continue
        share = 100 * cpu / res.cpu_s if res.cpu_s else 0
        out.append(f"| {kind} | {cpu:.2f} | {100 * cpu / res.window_s:.1f}% | {share:.0f}% |")
    return out + [""]


def write(path: Path, s: Settings, versions: dict[str, str], sections: dict, started: dt.datetime,
          finished: dt.datetime) -> None:
    lines = [
        "# journeyd benchmark results",
        "",
        "Generated by `bench/run`" + (" **--quick** (smoke test: short runs, not for comparison)" if s.quick else "")
        + f" on {started:%Y-%m-%d %H:%M} UTC (took {(finished - started).total_seconds() / 60:.1f} min). "
        "Everything ran in this one run, side by side, on 127.0.0.1: the target pinned to core "
        f"{s.target_core} (`taskset -c {s.target_core}`), every generator to core {s.gen_core}.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in machine().items()]
    if s.idle_before:
        lines.append("| idle just before the run | "
                     + ", ".join(f"{c} {v:.0f}%" for c, v in s.idle_before.items()) + " |")
    lines += ["", "## Versions", "", "| tool | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in versions.items()]
    lines.append("")
    warnings = [m for m in s.log if m.startswith("warning")]
    lines += [f"**{w}**" for w in warnings] + ([""] if warnings else [])
    # In the order of their numbers (the order bench/run runs them in).
    for name, section in (("get", _single_get), ("journey", _journeys), ("stall", _stall), ("monitor", _monitor),
                          ("get-https", _get_https), ("monitor-https", _monitor_https),
                          ("checkout-rate", _checkout_rate), ("traces", _traces),
                          ("browser", _browser), ("browser-monitor", _browser_monitor)):
        if name in sections:
            lines += section(s, *sections[name])
    lines += [
        "## Raw output",
        "",
        "Every tool's stdout/stderr and JSON report from this run are in "
        f"`{s.workdir.relative_to(s.workdir.parents[2])}/` (not committed; replaced by the next run).",
        "",
    ]
    path.write_text("\n".join(lines))
