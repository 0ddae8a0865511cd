"""Lists a node's gRPC services with Python's grpcio-reflection client (reflection v1alpha).

Usage: reflect.py HOST:PORT CA_FILE SYMBOL

Prints one line per service the server lists, then `symbol-file <name>` for the file that
defines SYMBOL (proving the descriptors themselves are served, not only the names). Any gRPC
error ends the script with its status code on stderr and exit status 1.
"""

import sys

import grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

# Bound on the whole conversation, so a hung server fails the test instead of stalling it.
TIMEOUT_S = 30


def main() -> int:
    target, ca_file, symbol = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(ca_file, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    with grpc.secure_channel(target, creds) as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT_S)
        db = ProtoReflectionDescriptorDatabase(channel)
        try:
            for name in db.get_services():
                print(name)
            print("symbol-file", db.FindFileContainingSymbol(symbol).name)
        except grpc.RpcError as e:
            print(f"reflection failed: {e.code()} {e.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
