"""The https scenarios: the single GET over TLS (get-https), and the monitor over TLS beside a floor
(monitor-https). nginx serves the same static path over http and https (peers/nginx-https.conf); the CA and
the leaf are made at bench time (tls.py). Each returns plain rows; report_https.py writes them up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import journeyd, peers, tls
from .procs import Server
from .scenarios import (BENCH_DIR, GetResult, GetTarget, Measured, MonitorResult, Settings, _get_round, _measure,
                        _monitor_run)
from .targets import STATIC_PATH, TargetError, nginx_accepts, start_nginx

# Outside out/quick and out/full (each run clears its own): get-static-https.yml names ../out/tls/ca.pem.
TLS_DIR = BENCH_DIR / "out" / "tls"
GET_HTTPS_JOURNEY = BENCH_DIR / "journeys" / "get-static-https.yml"
MONITOR_HTTPS_TEMPLATE = BENCH_DIR / "journeys" / "monitor-https-template.yml"


def _tls_files(s: Settings) -> tls.TlsFiles:
    """The run's CA and leaf, made on first use (raises tls.TlsError)."""
    if s.tls is None:
        s.tls = tls.make(TLS_DIR)
    return s.tls


def _start(s: Settings, label: str) -> tuple[Server, tls.TlsFiles, list[str]]:
    """nginx with its https server, and notes on what a handshake with it negotiates (raises TargetError)."""
    if not peers.available("nginx"):
        raise TargetError(peers.skipped("nginx"))
    try:
        files = _tls_files(s)
    except tls.TlsError as e:
        raise TargetError(f"no TLS material ({e})") from None
    server = start_nginx(s.workdir, s.target_core, files, label=label)
    port = int(server.https_url.rsplit(":", 1)[1])
    try:
        hs = tls.probe("127.0.0.1", port, files.ca, STATIC_PATH)
    except OSError as e:
        server.stop()
        raise TargetError(f"the https server did not complete a handshake: {e}") from None
    notes = [f"TLS: {hs.protocol}, {hs.cipher}, server certificate RSA 2048 signed by a private CA (bench/out/tls/); "
             + ("**a second connection resumed the first one's session: handshakes were not all full**"
                if hs.resumed else "a second connection offering the first one's session was not resumed "
                "(session cache and tickets off), so every new connection is a full handshake")]
    if hs.resumed:
        s.say("warning: nginx resumed a TLS session; the https figures are not full handshakes")
    return server, files, notes


# ----- get-https ------------------------------------------------------------------------------------


def get_https(s: Settings, caps: journeyd.Capabilities) -> tuple[list[GetResult], list[str]]:
    """The single GET of scenario 1 against nginx over https, at s.get_https_conns, with keep-alive."""
    try:
        server, files, notes = _start(s, "nginx-https")
    except TargetError as e:
        return [], [f"skipped: get-https — {e}"]
    s.say(f"single GET over https at {server.https_url}{STATIC_PATH}")
    target = GetTarget(server.https_url, GET_HTTPS_JOURNEY, "get-static-https", ("--cacert", str(files.ca)),
                       s.get_https_seconds)
    results = []
    try:
        for conns in s.get_https_conns:
            results.append(GetResult("nginx (https)", conns, _get_round(s, server, "nginx-https", conns, caps, target)))
    finally:
        server.stop()
    return results, notes


# ----- monitor-https --------------------------------------------------------------------------------


@dataclass
class HttpsRound:
    """One round: journeyd run over https, then the floor (the same fresh handshakes and GETs from a bare
    client) for as long."""

    monitor: MonitorResult
    # oha --disable-keepalive at journeys/10 requests per second for as long, or why not.
    floor: Measured | None
    # Connections nginx accepted during the floor's run (its handshakes).
    floor_connections: int | None


@dataclass
class HttpsMonitor:
    """Rounds of journeyd and the floor, alternated: the CPU a handshake costs moves by a sixth from one
    minute to the next on this machine (both tools alike), so one pair of runs says little about their ratio."""

    rounds: list[HttpsRound]
    notes: list[str] = field(default_factory=list)


def monitor_https(s: Settings, caps: journeyd.Capabilities) -> tuple[HttpsMonitor | None, list[str]]:
    if not caps.run:
        return None, ["skipped: monitor-https — " + caps.missing("run")]
    try:
        server, files, notes = _start(s, "nginx-monitor-https")
    except TargetError as e:
        return None, [f"skipped: monitor-https — {e}"]
    n, secs = s.monitor_https_journeys, s.monitor_https_seconds
    jdir = s.workdir / "monitor-https-journeys"
    jdir.mkdir(exist_ok=True)
    template = MONITOR_HTTPS_TEMPLATE.read_text().replace("__CA__", str(files.ca.resolve()))
    for i in range(1, n + 1):
        (jdir / f"monitor-https-{i:04d}.yml").write_text(template.replace("__N__", f"{i:04d}"))
    rounds = []
    try:
        for r in range(1, s.monitor_https_rounds + 1):
            s.say(f"monitor-https round {r} of {s.monitor_https_rounds}: {n} journeys every 10s over https "
                  f"for {secs:g}s, then the floor for as long")
            before = nginx_accepts(server)
            res = _monitor_run(s, server, server.https_url, jdir, [], secs, f"journeyd-run-https-{r}", journeys=n)
            res.connections = _accepted_since(server, before)
            time.sleep(s.settle_s)
            floor, floor_conns = _floor(s, server, files, n / 10, secs, r)
            rounds.append(HttpsRound(res, floor, floor_conns))
        return HttpsMonitor(rounds, notes), []
    finally:
        server.stop()


def _floor(s: Settings, server: Server, files: tls.TlsFiles, rate: float, seconds: float, round_no: int
           ) -> tuple[Measured, int | None]:
    """The bare cost of the monitor's traffic: oha opening a new connection (a full handshake) for each GET,
    at the monitor's rate, for as long. No schedule, checks, histograms or alerting."""
    if not peers.available("oha"):
        return Measured("oha", status=peers.skipped("oha")), None
    label = f"monitor-https-floor-oha-{round_no}"
    out = s.workdir / f"{label}.json"
    argv = peers.oha_argv(server.https_url + STATIC_PATH, s.floor_conns, seconds, out, qps=max(1, round(rate)))
    argv[-1:-1] = ["--disable-keepalive", "--cacert", str(files.ca)]  # the URL stays last
    before = nginx_accepts(server)
    m = _measure(s, "oha", label, argv, seconds + 60, lambda r: peers.parse_oha(out), server)
    return m, _accepted_since(server, before)


def _accepted_since(server: Server, before: int | None) -> int | None:
    after = nginx_accepts(server)
    # Each stub_status read is a connection of its own, counted in the figure it returns.
    return after - before - 1 if after is not None and before is not None else None
