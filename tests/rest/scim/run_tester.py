"""Runs PyPI scim2-tester against a SCIM base URL over TLS and prints one JSON line per check.

    python run_tester.py https://127.0.0.1:PORT/scim/v2 ca.pem   (token in SCIM_TOKEN)

Each line: {"status": "SUCCESS"|"ERROR"|..., "resource_type": ..., "title": ..., "reason": ...}.
The test (tests/rest/t03_scim.rs) decides which results are acceptable; this script only
reports them, and exits 0 whenever the tester ran.
"""

import json
import os
import ssl
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def main() -> int:
    base, ca = sys.argv[1], sys.argv[2]
    headers = {"Authorization": f"Bearer {os.environ['SCIM_TOKEN']}"}
    context = ssl.create_default_context(cafile=ca)
    client = SyncSCIMClient(Client(base_url=base, headers=headers, verify=context, timeout=30.0))
    for r in check_server(client):
        print(
            json.dumps(
                {
                    "status": r.status.name,
                    "resource_type": r.resource_type,
                    "title": r.title,
                    "reason": r.reason or "",
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
