"""TLS material for the https scenarios, made at bench time with openssl, and a check of the handshakes.

A private CA and a leaf for 127.0.0.1/localhost signed by it, in bench/out/tls/ (made anew every run, never
committed). rustls, behind journeyd and oha, refuses a self-signed leaf that says CA:TRUE
(`CaUsedAsEndEntity`), so the CA and the leaf are two certificates: the CA with CA:TRUE, the leaf with
CA:FALSE, a subjectAltName and extendedKeyUsage=serverAuth.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

# RSA 2048: still the most common key on public sites, and what RECIPES.md's recipe makes. The server's
# signature is the costly half of a full handshake, paid by nginx on its own core.
KEY = "rsa:2048"
DAYS = "30"


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


class TlsError(Exception):
    pass


def make(dir: Path) -> TlsFiles:
    """A fresh CA and leaf in `dir` (replacing what is there); raises TlsError with openssl's message."""
    dir.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(ca=dir / "ca.pem", cert=dir / "leaf.pem", key=dir / "leaf.key")
    ext = dir / "leaf.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    ca_key, csr = dir / "ca.key", dir / "leaf.csr"
    steps = [
        ["openssl", "req", "-x509", "-newkey", KEY, "-nodes", "-keyout", str(ca_key), "-out", str(files.ca),
         "-days", DAYS, "-subj", "/CN=journeyd-bench-ca",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", "-newkey", KEY, "-nodes", "-keyout", str(files.key), "-out", str(csr),
         "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(files.ca), "-CAkey", str(ca_key),
         "-set_serial", "2", "-days", DAYS, "-extfile", str(ext), "-out", str(files.cert)],
    ]
    for argv in steps:
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise TlsError(f"{argv[0]} {argv[1]}: {e}") from None
        if r.returncode != 0:
            raise TlsError(f"`{' '.join(argv[:2])}` failed: {r.stderr.strip()[-300:]}")
    # nginx's worker runs as nobody and reads the key after the master has read it as root, but be plain.
    for p in (dir, files.ca, files.cert, files.key):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return files


def context(ca: Path) -> ssl.SSLContext:
    """A client context trusting only the bench CA (host name checked, as journeyd and oha check it)."""
    return ssl.create_default_context(cafile=str(ca))


@dataclass
class Handshake:
    """What a client negotiated with the https target, and whether a second connection resumed."""

    protocol: str
    cipher: str
    resumed: bool


def probe(host: str, port: int, ca: Path, path: str) -> Handshake:
    """Two connections, the second offering the first's session: `resumed` says whether the server took it.

    The https scenarios need every new connection to be a full handshake (the server refuses resumption),
    so that the floor and journeyd pay the same per connection whatever session cache either client keeps.
    """
    ctx = context(ca)
    session = None
    seen = []
    for _ in range(2):
        with socket.create_connection((host, port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host, session=session) as s:
                seen.append((s.version() or "?", (s.cipher() or ("?",))[0], s.session_reused))
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                while s.recv(65536):
                    pass  # reading to the end also receives any TLS 1.3 session ticket
                session = s.session
    return Handshake(protocol=seen[0][0], cipher=seen[0][1], resumed=seen[1][2])
