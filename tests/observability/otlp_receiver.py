"""A minimal OTLP/gRPC trace receiver for the observability tests.

Built on the OpenTelemetry project's own protocol package (opentelemetry-proto) and grpcio, so
the spans Varsel exports are decoded by code Varsel did not write. Every span received is
appended to the output file as one JSON object per line: trace id, span id, parent span id,
name, kind, span attributes and resource attributes.

Usage: python otlp_receiver.py --out spans.jsonl
Prints "listening <port>" on stdout once it accepts connections on 127.0.0.1.
"""

import argparse
import json
import sys
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def value_of(any_value):
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(any_value, kind)
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return value
    return str(value)


def attributes(kvs):
    return {kv.key: value_of(kv.value) for kv in kvs}


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()

    def Export(self, request, context):
        lines = []
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    lines.append(json.dumps({
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "kind": span.kind,
                        "attributes": attributes(span.attributes),
                        "resource": resource,
                    }))
        with self.lock:
            self.out.write("".join(line + "\n" for line in lines))
            self.out.flush()
        return trace_service_pb2.ExportTraceServiceResponse()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = open(args.out, "a", encoding="utf-8")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(out), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening {port}", flush=True)
    # Exit when the test closes our stdin (or kills us), so no receiver outlives its test.
    sys.stdin.read()
    server.stop(grace=None)


if __name__ == "__main__":
    main()
