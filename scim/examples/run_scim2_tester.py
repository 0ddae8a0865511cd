"""Run PyPI scim2-tester against a SCIM base URL and print every check's result.

    python3 -m venv /tmp/scimvenv
    /tmp/scimvenv/bin/pip install scim2-tester "scim2-client[httpx2]"
    cargo run -p varsel-scim --example memory_server -- 127.0.0.1:18099 &
    /tmp/scimvenv/bin/python scim/examples/run_scim2_tester.py http://127.0.0.1:18099/scim/v2 [-v]

Exits 1 if any check is ERROR. With -v every result is printed, not only the ones that
did not succeed. Pass a bearer token in SCIM_TOKEN for a server that checks one.
"""

import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base = sys.argv[1]
    headers = {}
    if token := os.environ.get("SCIM_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    client = SyncSCIMClient(Client(base_url=base, headers=headers))
    results = check_server(client)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status.name] = counts.get(r.status.name, 0) + 1
        if r.status != Status.SUCCESS or "-v" in sys.argv:
            print(r.status.name, r.resource_type, r.title, "|", r.reason or "")
    print(counts)
    return 1 if counts.get("ERROR") else 0


if __name__ == "__main__":
    sys.exit(main())
