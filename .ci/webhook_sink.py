#!/usr/bin/env python3
"""A tiny webhook receiver for .ci/e2e-alerts: logs every POST body as one JSON line, answers 200.

    webhook_sink.py LOGFILE PORTFILE

Binds 127.0.0.1:0 and writes the chosen port to PORTFILE once it is listening (the readiness signal).
Each log line is {"t": <unix seconds>, "path": "/...", "body": <the JSON posted>}.
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

LOG, PORTFILE = sys.argv[1], sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with open(LOG, "a") as f:
            f.write(json.dumps({"t": time.time(), "path": self.path, "body": body}) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
