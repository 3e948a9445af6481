"""The TLS material the https scenarios make: a TLS client that trusts only the bench CA accepts the leaf for
127.0.0.1, and the resumption probe sees a server that does resume.

Run: `cd bench && python3 -m unittest harness.test_tls` (needs openssl; skipped without it).
"""

import shutil
import socket
import ssl
import tempfile
import threading
import unittest
from pathlib import Path

from . import tls


@unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
class TlsMaterial(unittest.TestCase):
    def test_leaf_verifies_against_the_ca_for_127_0_0_1(self):
        with tempfile.TemporaryDirectory() as d:
            files = tls.make(Path(d) / "tls")
            server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_ctx.load_cert_chain(files.cert, files.key)
            with socket.create_server(("127.0.0.1", 0)) as listener:
                port = listener.getsockname()[1]
                thread = threading.Thread(target=_serve, args=(listener, server_ctx, 2), daemon=True)
                thread.start()
                # Python's server keeps a session cache and sends TLS 1.3 tickets: the probe must see the
                # second connection resumed (nginx in the benchmark must not resume; bench/run checks it).
                hs = tls.probe("127.0.0.1", port, files.ca, "/")
                thread.join(5)
            self.assertEqual(hs.protocol, "TLSv1.3")
            self.assertTrue(hs.resumed)
            # The leaf is not a CA (rustls refuses a CA:TRUE certificate as an end entity).
            self.assertNotIn("CA:TRUE", files.cert.read_text())

    def test_a_client_without_the_ca_refuses_the_leaf(self):
        with tempfile.TemporaryDirectory() as d:
            files = tls.make(Path(d) / "tls")
            other = tls.make(Path(d) / "other")
            server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_ctx.load_cert_chain(files.cert, files.key)
            with socket.create_server(("127.0.0.1", 0)) as listener:
                port = listener.getsockname()[1]
                threading.Thread(target=_serve, args=(listener, server_ctx, 1), daemon=True).start()
                with self.assertRaises(ssl.SSLCertVerificationError):
                    tls.probe("127.0.0.1", port, other.ca, "/")


def _serve(listener: socket.socket, ctx: ssl.SSLContext, connections: int) -> None:
    """Answers `connections` requests with a tiny HTTP response and closes each connection."""
    for _ in range(connections):
        conn, _ = listener.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                s.recv(65536)
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        except (ssl.SSLError, OSError):
            pass


if __name__ == "__main__":
    unittest.main()
