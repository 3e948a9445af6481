"""A minimal OTLP/HTTP collector for the `traces` scenario: accepts every POST /v1/traces with 200 and
throws the body away (decoding is checked by tests/traces.rs and .ci/e2e-traces, not here: here it would
cost the target core CPU and slow the answer the exporter waits for). Stdlib only.

    python3 -m harness.otlp_sink PORT

Prints `otlp: http://127.0.0.1:PORT` once it listens, then `received: N requests, B bytes` on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS = {"requests": 0, "bytes": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        COUNTS["requests"] += 1
        COUNTS["bytes"] += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)

    def stop(*_):
        print(f"received: {COUNTS['requests']} requests, {COUNTS['bytes']} bytes", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"otlp: http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
