#!/usr/bin/env python3
"""An OTLP traces receiver for .ci/e2e-traces: decodes every POST /v1/traces with the OpenTelemetry
project's own protobuf definitions (`pip install opentelemetry-proto`) and logs one JSON line per span.
With `grpc`, it is a gRPC server instead (`pip install grpcio`), serving the official generated
`TraceServiceServicer` on h2c, so the message arrives through grpcio's own framing and status handling.

    otlp_receiver.py LOGFILE PORTFILE [grpc]

Binds 127.0.0.1:0 and writes the chosen port to PORTFILE once it is listening (the readiness signal).
Each line: {"resource": {...}, "trace_id", "span_id", "parent", "name", "kind", "status", "attributes": {...}}.
A body that is not a valid ExportTraceServiceRequest is answered 400 and logged as {"error": ...}.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

LOG, PORTFILE = sys.argv[1], sys.argv[2]


def value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def spans(request):
    """One JSON-ready line per span of an ExportTraceServiceRequest."""
    lines = []
    for rs in request.resource_spans:
        resource = {kv.key: value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                lines.append({
                    "resource": resource,
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent": s.parent_span_id.hex(),
                    "name": s.name,
                    "kind": s.kind,
                    "status": s.status.code,
                    "attributes": {kv.key: value(kv.value) for kv in s.attributes},
                })
    return lines


def log(lines):
    with open(LOG, "a") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                raise ValueError(f"unexpected {self.path} {self.headers.get('Content-Type')}")
            request = ExportTraceServiceRequest()
            request.ParseFromString(raw)
            lines = spans(request)
            code, body = 200, ExportTraceServiceResponse().SerializeToString()
        except Exception as e:  # a broken message is what this receiver exists to catch
            lines = [{"error": str(e)}]
            code, body = 400, b""
        log(lines)
        self.send_response(code)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_grpc():
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            log(spans(request))
            return ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with open(PORTFILE, "w") as f:
        f.write(str(port))
    server.wait_for_termination()


if sys.argv[3:] == ["grpc"]:
    serve_grpc()
else:
    server = HTTPServer(("127.0.0.1", 0), Handler)
    with open(PORTFILE, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()
