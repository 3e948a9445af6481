"""The targets: nginx (static reference) and the demo shop, each pinned to the target core."""

from __future__ import annotations

from pathlib import Path

from . import journeyd
from .peers import PEERS_DIR
from .procs import Server, children, free_port, spawn_server, wait_http, wait_line

# The body both targets serve at /static/hello (the shop's static route answers this).
HELLO = "hello, world\n"
STATIC_PATH = "/static/hello"


class TargetError(Exception):
    pass


def start_nginx(workdir: Path, core: int) -> Server:
    """nginx with one worker, access log off, serving STATIC_PATH from a temp docroot."""
    prefix = workdir / "nginx"
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
    log = workdir / "nginx.log"
    proc = spawn_server("nginx", ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf")], core=core, log_path=log)
    url = f"http://127.0.0.1:{port}"
    server = Server(name="nginx", proc=proc, url=url, log_path=log)
    if not wait_http(url + STATIC_PATH, proc):
        server.stop()
        err = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
        raise TargetError(f"nginx did not answer on {url}: {server.log_tail()} {err}".strip())
    server.pids = [proc.pid, *children(proc.pid)]
    return server


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

