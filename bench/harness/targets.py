"""The targets: nginx (static reference) and the demo shop, each pinned to the target core."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from . import journeyd, tls
from .peers import PEERS_DIR
from .procs import Server, children, free_port, spawn_server, wait_http, wait_line

# The body both targets serve at /static/hello (the shop's static route answers this).
HELLO = "hello, world\n"
STATIC_PATH = "/static/hello"


class TargetError(Exception):
    pass


def start_nginx(workdir: Path, core: int, tls_files: tls.TlsFiles | None = None, label: str = "nginx") -> Server:
    """nginx with one worker, access log off, serving STATIC_PATH from a temp docroot; with `tls_files`,
    also over https on a second port (peers/nginx-https.conf), as `Server.https_url`."""
    prefix = workdir / label
    (prefix / "www" / "static").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    (prefix / "www" / "static" / "hello").write_text(HELLO)
    # The worker runs as nobody: it must be able to walk to the docroot.
    for p in (workdir, prefix, prefix / "www", prefix / "www" / "static"):
        p.chmod(0o755)
    (prefix / "www" / "static" / "hello").chmod(0o644)
    port = free_port()
    conf = (PEERS_DIR / "nginx.conf").read_text().replace("@PREFIX@", str(prefix)).replace("@PORT@", str(port))
    (prefix / "nginx.conf").write_text(conf)
    (prefix / "conf.d").mkdir(exist_ok=True)
    https_url = None
    if tls_files is not None:
        tls_port = free_port()
        https = (PEERS_DIR / "nginx-https.conf").read_text()
        for key, value in (("@PREFIX@", prefix), ("@TLS_PORT@", tls_port), ("@CERT@", tls_files.cert),
                           ("@KEY@", tls_files.key)):
            https = https.replace(key, str(value))
        (prefix / "conf.d" / "https.conf").write_text(https)
        https_url = f"https://127.0.0.1:{tls_port}"
    log = workdir / f"{label}.log"
    proc = spawn_server(label, ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf")], core=core, log_path=log)
    url = f"http://127.0.0.1:{port}"
    server = Server(name="nginx", proc=proc, url=url, log_path=log, https_url=https_url)
    ready = wait_http(url + STATIC_PATH, proc)
    if ready and https_url:
        ready = wait_http(https_url + STATIC_PATH, proc, context=tls.context(tls_files.ca))
    if not ready:
        server.stop()
        err = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
        raise TargetError(f"nginx did not answer on {https_url or url}: {server.log_tail()} {err}".strip())
    server.pids = [proc.pid, *children(proc.pid)]
    return server


STATUS_PATH = "/nginx-status"


def nginx_accepts(server: Server) -> int | None:
    """Connections nginx has accepted since it started (stub_status), or None if it did not say."""
    try:
        with urllib.request.urlopen(server.url + STATUS_PATH, timeout=5) as r:
            return parse_stub_status(r.read().decode(errors="replace"))
    except OSError:
        return None


def parse_stub_status(text: str) -> int | None:
    """The `accepts` figure of nginx's stub_status page (the first of the three under its header line);
    the status request itself is one of them."""
    m = re.search(r"server accepts handled requests\s+(\d+)\s+\d+\s+\d+", text)
    return int(m.group(1)) if m else None


def start_shop(workdir: Path, core: int, password: str, faults: list[str] = (), label: str = "shop") -> Server:
    """`journeyd shop`, ready once it printed its URL and answers /healthz."""
    port = free_port()
    log = workdir / f"{label}.log"
    proc = spawn_server(label, journeyd.shop_argv(port, password, list(faults)), core=core, log_path=log)
    printed = wait_line(log, journeyd.SHOP_READY_PREFIX, proc)
    server = Server(name=label, proc=proc, url=printed or f"http://127.0.0.1:{port}", log_path=log)
    if printed is None or not wait_http(server.url + "/healthz", proc):
        server.stop()
        raise TargetError(f"the shop did not start: {server.log_tail()}")
    server.url = server.url.rstrip("/")
    return server

