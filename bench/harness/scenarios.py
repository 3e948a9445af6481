"""The four scenarios. Each returns plain rows; report.py turns them into RESULTS.md."""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import journeyd, peers
from .procs import CLK_TCK, CpuWindow, Run, Server, free_port, proc_ticks, rss_kib, run_measured, spawn_server
from .procs import wait_http
from .targets import STATIC_PATH, TargetError, start_nginx, start_shop
from .tls import TlsFiles

BENCH_DIR = Path(__file__).resolve().parents[1]
GET_JOURNEY = BENCH_DIR / "journeys" / "get-static.yml"
CHECKOUT_JOURNEY = BENCH_DIR / "journeys" / "checkout.yml"
MONITOR_TEMPLATE = BENCH_DIR / "journeys" / "monitor-template.yml"


@dataclass
class Settings:
    quick: bool
    workdir: Path
    password: str
    gen_core: int = 0
    target_core: int = 1
    get_seconds: float = 10
    get_conns: tuple[int, ...] = (50, 1000, 10000)
    journey_seconds: float = 20
    journey_users: int = 32
    stall_seconds: float = 30
    stall_rate: int = 200
    stall_conns: int = 50
    monitor_seconds: float = 120
    monitor_journeys: int = 1000
    # get-https: the single GET over TLS; 10,000 would mostly time handshakes.
    get_https_seconds: float = 10
    get_https_conns: tuple[int, ...] = (50, 1000)
    # monitor-https: as monitor, against nginx's https server; the floor's oha gets this many connections.
    # Rounds of journeyd then the floor, alternated, each tool this long a round.
    monitor_https_rounds: int = 3
    monitor_https_seconds: float = 45
    monitor_https_journeys: int = 1000
    floor_conns: int = 10
    # checkout-rate: the checkout journey at a fixed arrival rate (open model), k6 beside journeyd.
    rate_per_s: int = 800
    rate_seconds: float = 20
    # Most journeys in flight: k6's preAllocatedVUs (= maxVUs) and journeyd's --max-users, the same bound.
    # At 800/s, 200 covers journeys of up to 250 ms; they take a few ms when the generator keeps up.
    rate_vus: int = 200
    # Pause between runs so the last run's sockets drain and the target idles.
    settle_s: float = 1.0
    log: list[str] = field(default_factory=list)
    # Idle % per core just before the first run (RESULTS.md shows it: a busy machine skews everything).
    idle_before: dict[str, float] = field(default_factory=dict)
    # The CA and leaf of the https scenarios, made once per run when the first of them needs it.
    tls: TlsFiles | None = None

    @staticmethod
    def make(quick: bool, workdir: Path, password: str) -> "Settings":
        s = Settings(quick=quick, workdir=workdir.resolve(), password=password)
        if quick:
            s.get_seconds, s.get_conns = 1, (50, 1000)
            s.journey_seconds, s.journey_users = 3, 8
            s.stall_seconds = 5
            s.monitor_seconds, s.monitor_journeys = 10, 100
            # 1,000 full handshakes take nginx about a second of its core: 1 s would measure only those.
            s.get_https_seconds = 3
            s.monitor_https_seconds, s.monitor_https_journeys, s.monitor_https_rounds = 10, 100, 1
            s.rate_seconds = 3
            s.settle_s = 0.3
        return s

    def say(self, msg: str) -> None:
        print(f"[bench] {msg}", flush=True)
        self.log.append(msg)


# ----- shared helpers -------------------------------------------------------------------------------


@dataclass
class Measured:
    """One tool's row in any scenario."""

    tool: str
    status: str = "ok"
    figures: peers.Figures | None = None
    run: Run | None = None
    target_cpu_pct: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _measure(s: Settings, tool: str, label: str, argv: list[str], timeout_s: float, parse, target: Server | None,
             env: dict[str, str] | None = None) -> Measured:
    window = CpuWindow(target)
    run = run_measured(argv, core=s.gen_core, timeout_s=timeout_s, workdir=s.workdir, env=env, label=label)
    return _read_figures(s, Measured(tool=tool, run=run, target_cpu_pct=window.percent()), label, timeout_s, parse)


def _read_figures(s: Settings, m: Measured, label: str, timeout_s: float, parse) -> Measured:
    """Reads a finished run's figures with `parse` into `m`, marks what went wrong, and says so."""
    run = m.run
    try:
        m.figures = parse(run)
    except (peers.ParseError, journeyd.ReportError) as e:
        tail = (run.stderr.strip() or run.stdout.strip()).splitlines()[-3:]
        m.status = f"failed: {e} (exit {run.rc}; {' | '.join(tail)})"
    if m.figures is not None and run.rc != 0:
        # journeyd verify exits 1 when a journey failed its checks, Locust when any request failed: the
        # figures still stand, and the failures are counted in them.
        m.figures.notes.append(f"exited {run.rc}")
    if run.timed_out:
        m.status = f"timed out after {timeout_s:.0f}s (stopped by the harness)" + (
            "" if m.figures is None else "; figures are partial")
    s.say(f"  {label}: {m.status}" + (f", {m.figures.requests} requests" if m.figures else "")
          + f" ({run.wall_s:.1f} s wall, {run.cpu_s:.2f} CPU-s)")
    time.sleep(s.settle_s)
    return m


def _journey_figures(report: Path, journey: str, seconds: float) -> peers.Figures:
    """A journey's figures from journeyd's `--report` JSON: completed = runs − failures."""
    rep = journeyd.parse_report(report, journey)
    j = rep.journey
    failures = j.failures or 0
    return peers.Figures(
        requests=j.requests, elapsed_s=rep.elapsed_s or seconds, p50=j.p50, p90=j.p90, p99=j.p99,
        journeys=(j.runs - failures) if j.runs is not None else None, journey_failures=failures,
        dropped=j.dropped,
    )


def _journeyd_get_figures(report: Path, seconds: float, journey: str = "get-static"):
    def parse(run: Run) -> peers.Figures:
        rep = journeyd.parse_report(report, journey)
        step = rep.steps.get("get", rep.journey)
        requests = rep.journey.requests if rep.journey.requests is not None else rep.journey.runs
        elapsed = rep.elapsed_s or seconds
        failures = rep.journey.failures or 0
        f = peers.Figures(
            requests=requests, elapsed_s=elapsed, rps=(requests / elapsed) if requests is not None else None,
            p50=step.p50, p90=step.p90, p99=step.p99, errors=failures,
        )
        if rep.journey.dropped:
            f.notes.append(f"{rep.journey.dropped} arrivals dropped (every --max-users slot busy)")
        return f
    return parse


# ----- 1. single GET --------------------------------------------------------------------------------


@dataclass
class GetResult:
    target: str
    conns: int
    rows: list[Measured]


def single_get(s: Settings, caps: journeyd.Capabilities) -> tuple[list[GetResult], list[str]]:
    results, skips = [], []
    targets = []
    if peers.available("nginx"):
        targets.append(("nginx", lambda: start_nginx(s.workdir, s.target_core)))
    else:
        skips.append(peers.skipped("nginx"))
    if caps.shop:
        targets.append(("shop", lambda: start_shop(s.workdir, s.target_core, s.password)))
    else:
        skips.append("skipped: demo shop target — " + caps.missing("shop"))
    for name, start in targets:
        try:
            server = start()
        except TargetError as e:
            skips.append(f"skipped: {name} target — {e}")
            continue
        s.say(f"single GET against {name} at {server.url}{STATIC_PATH}")
        try:
            for conns in s.get_conns:
                results.append(GetResult(name, conns, _get_round(s, server, name, conns, caps)))
        finally:
            server.stop()
    return results, skips


@dataclass
class GetTarget:
    """Where a single-GET round sends its requests, and how each tool is told to trust it."""

    base_url: str
    journey: Path = GET_JOURNEY
    journey_name: str = "get-static"
    # Added to oha's command line (https: `--cacert` of the bench CA).
    oha_flags: tuple[str, ...] = ()
    # Length of each run; None: s.get_seconds.
    seconds: float | None = None


def _get_round(s: Settings, server: Server, name: str, conns: int, caps: journeyd.Capabilities,
               target: GetTarget | None = None) -> list[Measured]:
    target = target or GetTarget(server.url)
    url = target.base_url + STATIC_PATH
    secs = target.seconds or s.get_seconds
    # Opening 10,000 connections takes a while; the bound only catches a hung tool.
    timeout = secs + 30 + conns / 500
    tag = f"get-{name}-{conns}"
    rows = []
    if caps.verify:
        report = s.workdir / f"{tag}-journeyd.json"
        rows.append(_measure(
            s, "journeyd", f"{tag}-journeyd",
            journeyd.verify_closed_argv(target.base_url, conns, secs, report, target.journey),
            timeout, _journeyd_get_figures(report, secs, target.journey_name), server,
            env={"TARGET": target.base_url},
        ))
    else:
        rows.append(Measured("journeyd", status=caps.missing("verify")))
    if peers.available("wrk"):
        rows.append(_measure(s, "wrk", f"{tag}-wrk", peers.wrk_argv(url, conns, secs), timeout,
                             lambda r: peers.parse_wrk(r.stdout), server))
    else:
        rows.append(Measured("wrk", status=peers.skipped("wrk")))
    if peers.available("oha"):
        out = s.workdir / f"{tag}-oha.json"
        argv = peers.oha_argv(url, conns, secs, out)
        argv[-1:-1] = target.oha_flags  # the URL stays last
        rows.append(_measure(s, "oha", f"{tag}-oha", argv, timeout, lambda r: peers.parse_oha(out), server))
    else:
        rows.append(Measured("oha", status=peers.skipped("oha")))
    return rows


# ----- 2. checkout journey --------------------------------------------------------------------------


def journeys(s: Settings, caps: journeyd.Capabilities) -> tuple[list[Measured], list[str]]:
    if not caps.shop:
        return [], ["skipped: checkout journey — " + caps.missing("shop")]
    try:
        shop = start_shop(s.workdir, s.target_core, s.password, label="shop-journey")
    except TargetError as e:
        return [], [f"skipped: checkout journey — {e}"]
    s.say(f"checkout journey against {shop.url}, {s.journey_users} users, {s.journey_seconds:g}s each")
    env = {"SHOP_URL": shop.url, "SHOP_PASSWORD": s.password}
    secs, users = s.journey_seconds, s.journey_users
    timeout = secs + 60
    rows = []
    try:
        if caps.verify:
            report = s.workdir / "journey-journeyd.json"

            def parse(run: Run) -> peers.Figures:
                rep = journeyd.parse_report(report, "checkout")
                j = rep.journey
                failures = j.failures or 0
                done = (j.runs - failures) if j.runs is not None else None
                return peers.Figures(requests=j.requests, elapsed_s=rep.elapsed_s or secs, p50=j.p50, p90=j.p90,
                                     p99=j.p99, journeys=done, journey_failures=failures)
            rows.append(_measure(s, "journeyd", "journey-journeyd",
                                 journeyd.verify_closed_argv(shop.url, users, secs, report, CHECKOUT_JOURNEY),
                                 timeout, parse, shop, env=env))
        else:
            rows.append(Measured("journeyd", status=caps.missing("verify")))
        rows.append(_drill_journeys(s, shop, timeout))
        if peers.available("artillery"):
            out = s.workdir / "journey-artillery.json"
            m = _measure(s, "artillery", "journey-artillery", peers.artillery_argv(shop.url, users, out),
                         timeout, lambda r: peers.parse_artillery(out), shop, env=peers.artillery_env(secs, s.password))
            # The same command with a deadline already passed: every virtual user starts and stops at once.
            _startup_note(s, m, "artillery", peers.artillery_argv(shop.url, users, s.workdir / "startup-artillery.json"),
                          peers.artillery_env(0, s.password))
            rows.append(m)
        else:
            rows.append(Measured("artillery", status=peers.skipped("artillery")))
        if peers.available("locust"):
            prefix = s.workdir / "journey-locust"
            m = _measure(s, "locust", "journey-locust", peers.locust_argv(shop.url, users, secs, prefix),
                         timeout, lambda r: peers.parse_locust(prefix), shop, env=env)
            _startup_note(s, m, "locust", peers.locust_argv(shop.url, 0, 1, s.workdir / "startup-locust"), env)
            rows.append(m)
        else:
            rows.append(Measured("locust", status=peers.skipped("locust")))
    finally:
        shop.stop()
    return rows, []


def _startup_note(s: Settings, m: Measured, tool: str, argv: list[str], env: dict[str, str]) -> None:
    """Interpreters pay seconds of CPU just to start; a run with no work shows how much (full mode only)."""
    if s.quick or not m.ok or m.figures.journeys is None:
        return
    run = run_measured(argv, core=s.gen_core, timeout_s=90, workdir=s.workdir, env=env, label=f"startup-{tool}")
    rest = m.run.cpu_s - run.cpu_s
    without = f"; without it {m.figures.journeys / rest:,.1f} journeys per CPU-s" if rest > 0 else ""
    m.figures.notes.append(f"start-up with no work costs {run.cpu_s:.2f} CPU-s (included above{without})")
    time.sleep(s.settle_s)


def _drill_journeys(s: Settings, shop: Server, timeout: float) -> Measured:
    """drill runs a count of iterations, not a duration: a short calibration run sizes the real one."""
    if not peers.available("drill"):
        return Measured("drill", status=peers.skipped("drill"))
    users = s.journey_users
    cal_iterations = users * (20 if s.quick else 50)
    cal = _measure(s, "drill", "journey-drill-calibrate", peers.drill_argv(), timeout,
                   lambda r: peers.parse_drill(r.stdout), shop,
                   env=peers.drill_env(shop.url, users, cal_iterations, s.password))
    if not cal.ok or not cal.figures.journeys:
        return cal
    # drill prints its run time to 0.1 s only; the harness's wall time (start-up included) is finer.
    rate = cal.figures.journeys / cal.run.wall_s
    iterations = max(users, int(rate * s.journey_seconds))
    m = _measure(s, "drill", "journey-drill", peers.drill_argv(), timeout + s.journey_seconds * 2,
                 lambda r: peers.parse_drill(r.stdout), shop,
                 env=peers.drill_env(shop.url, users, iterations, s.password))
    if m.figures:
        m.figures.notes.append(f"{iterations:,} iterations, sized from a {cal_iterations:,}-iteration calibration "
                               f"run to last about {s.journey_seconds:g} s")
    return m


# ----- 3. stall test --------------------------------------------------------------------------------


STALL_FAULT = "*=stall:1s/5s"
# Truth for a 1 s stall every 5 s under constant arrivals: 20% of requests wait U(0, 1) s.
STALL_TRUTH = {"p90": 0.5, "p99": 0.95}


def stall(s: Settings, caps: journeyd.Capabilities) -> tuple[list[Measured], list[str]]:
    if not caps.shop:
        return [], ["skipped: stall test — " + caps.missing("shop")]
    try:
        shop = start_shop(s.workdir, s.target_core, s.password, faults=[STALL_FAULT], label="shop-stall")
    except TargetError as e:
        return [], [f"skipped: stall test — {e}"]
    secs, rate, conns = s.stall_seconds, s.stall_rate, s.stall_conns
    url = shop.url + STATIC_PATH
    timeout = secs + 30
    s.say(f"stall test against {shop.url} ({STALL_FAULT}), {secs:g}s per run")
    rows = []
    try:
        if caps.verify:
            report = s.workdir / "stall-journeyd.json"
            rows.append(_measure(
                s, f"journeyd --rate {rate}/s (open model)", "stall-journeyd",
                journeyd.verify_open_argv(shop.url, rate, 2000, secs, report, GET_JOURNEY), timeout,
                _journeyd_get_figures(report, secs), shop, env={"TARGET": shop.url}))
        else:
            rows.append(Measured("journeyd --rate (open model)", status=caps.missing("verify")))
        if peers.available("wrk"):
            rows.append(_measure(s, f"wrk -c {conns} (closed loop)", "stall-wrk", peers.wrk_argv(url, conns, secs),
                                 timeout, lambda r: peers.parse_wrk(r.stdout), shop))
        else:
            rows.append(Measured("wrk (closed loop)", status=peers.skipped("wrk")))
        if peers.available("oha"):
            for label, tag, qps, correct in (
                (f"oha -c {conns} (closed loop)", "closed", None, False),
                (f"oha -c {conns} -q {rate}", "q", rate, False),
                (f"oha -c {conns} -q {rate} --latency-correction", "qc", rate, True),
            ):
                out = s.workdir / f"stall-oha-{tag}.json"
                rows.append(_measure(s, label, f"stall-oha-{tag}", peers.oha_argv(url, conns, secs, out, qps, correct),
                                     timeout, lambda r, out=out: peers.parse_oha(out), shop))
        else:
            rows.append(Measured("oha", status=peers.skipped("oha")))
    finally:
        shop.stop()
    for m in rows:
        if m.ok:
            s.say(f"  {m.tool}: p90 {m.figures.p90 or 0:.3f}s p99 {m.figures.p99 or 0:.3f}s "
                  f"(truth {STALL_TRUTH['p90']}s / {STALL_TRUTH['p99']}s)")
    return rows, []


# ----- 4. monitor overhead --------------------------------------------------------------------------


@dataclass
class MonitorResult:
    journeys: int
    seconds: float
    samples: list[tuple[float, float, int]]  # (elapsed s, CPU % of one core over the last second, RSS KiB)
    peak_rss_kib: int | None
    runs_seen: float | None
    # The target's CPU meanwhile, % of its core.
    target_cpu_pct: float | None
    status: str = "ok"
    # Runs that failed (`journey_runs_total{outcome="failure"}`): a monitor failing fast looks cheap.
    runs_failed: float | None = None
    # Connections the target accepted during the run (nginx stub_status), when it can tell.
    connections: int | None = None
    # The same journeys on a one-thread runtime (`--threads 1`): a steady-state CPU figure, or why not.
    one_thread: "MonitorResult | None" = None
    # The floor: oha sending the same traffic (journeys/10 GETs per second, a new connection each).
    floor: "Measured | None" = None


def monitor(s: Settings, caps: journeyd.Capabilities) -> tuple[MonitorResult | None, list[str]]:
    if not caps.run:
        return None, ["skipped: monitor overhead — " + caps.missing("run")]
    if not caps.shop:
        return None, ["skipped: monitor overhead — " + caps.missing("shop")]
    jdir = s.workdir / "monitor-journeys"
    jdir.mkdir(exist_ok=True)
    template = MONITOR_TEMPLATE.read_text()
    for i in range(1, s.monitor_journeys + 1):
        (jdir / f"monitor-{i:04d}.yml").write_text(template.replace("__N__", f"{i:04d}"))
    try:
        shop = start_shop(s.workdir, s.target_core, s.password, label="shop-monitor")
    except TargetError as e:
        return None, [f"skipped: monitor overhead — {e}"]
    try:
        s.say(f"monitor overhead: {s.monitor_journeys} journeys every 10s for {s.monitor_seconds:g}s")
        res = _monitor_run(s, shop, shop.url, jdir, [], s.monitor_seconds, "journeyd-run")
        if res.status == "ok" and not s.quick:
            short = min(60.0, s.monitor_seconds)
            time.sleep(s.settle_s)
            s.say(f"monitor overhead: the same with --threads 1 for {short:g}s")
            res.one_thread = _monitor_run(s, shop, shop.url, jdir, ["--threads", "1"], short, "journeyd-run-1thread")
            time.sleep(s.settle_s)
            res.floor = _monitor_floor(s, shop, short)
        return res, []
    finally:
        shop.stop()


def _monitor_run(s: Settings, target: Server, target_url: str, jdir: Path, flags: list[str], seconds: float,
                 label: str, journeys: int | None = None) -> MonitorResult:
    """`journeyd run` over the journeys in `jdir` (TARGET=target_url) for `seconds`, sampled from /proc."""
    journeys = journeys or s.monitor_journeys
    port = free_port()
    log = s.workdir / f"{label}.log"
    argv = journeyd.monitor_argv(port, jdir)
    argv[1:1] = flags
    proc = spawn_server(label, argv, core=s.gen_core, log_path=log, env={"TARGET": target_url})
    mon = Server(name="journeyd run", proc=proc, url=f"http://127.0.0.1:{port}", log_path=log)
    try:
        if not wait_http(mon.url + "/-/healthy", proc, timeout_s=60):
            return MonitorResult(journeys, seconds, [], None, None, None,
                                 f"failed: `journeyd run` did not come up: {mon.log_tail()}")
        target_window = CpuWindow(target)
        samples = []
        start = last_t = time.monotonic()
        last_ticks = proc_ticks([proc.pid])
        while time.monotonic() - start < seconds and proc.poll() is None:
            time.sleep(1.0)
            now, ticks, rss = time.monotonic(), proc_ticks([proc.pid]), rss_kib(proc.pid)
            if rss is None:
                break
            samples.append((now - start, 100.0 * (ticks - last_ticks) / CLK_TCK / (now - last_t), rss))
            last_t, last_ticks = now, ticks
        hwm = _vm_hwm(proc.pid)
        outcomes = _runs_from_metrics(mon.url + "/metrics")
        status = "ok" if proc.poll() is None else f"failed: journeyd run exited early: {mon.log_tail()}"
        return MonitorResult(journeys, seconds, samples, hwm, sum(outcomes.values()) if outcomes else None,
                             target_window.percent(), status, runs_failed=outcomes.get("failure", 0.0)
                             if outcomes else None)
    finally:
        mon.stop()


def _monitor_floor(s: Settings, shop: Server, seconds: float) -> Measured:
    """What the monitor's traffic alone costs: oha at journeys/10 GETs per second, each on a new connection
    (as every monitor run opens one). No scheduling, checks, metrics or alerting: a floor, not a peer."""
    if not peers.available("oha"):
        return Measured("oha", status=peers.skipped("oha"))
    rate = max(1, s.monitor_journeys // 10)
    out = s.workdir / "monitor-floor-oha.json"
    argv = peers.oha_argv(shop.url + "/static/hello", 50, seconds, out, qps=rate)
    argv[-1:-1] = ["--disable-keepalive"]  # the URL stays last
    return _measure(s, "oha", "monitor-floor-oha", argv, seconds + 60, lambda r: peers.parse_oha(out), shop)


def _vm_hwm(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return None


def _runs_from_metrics(url: str) -> dict[str, float]:
    """Journey runs by outcome per journeyd's /metrics, to show it did the work (empty if unreadable)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return journeyd.runs_by_outcome(r.read().decode(errors="replace"))
    except OSError:
        return {}
