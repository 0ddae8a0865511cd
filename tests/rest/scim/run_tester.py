"""Runs PyPI scim2-tester against a SCIM base URL over TLS and prints one JSON line per check.

    python run_tester.py https://127.0.0.1:PORT/scim/v2 ca.pem [--reachable]   (token in SCIM_TOKEN)

With --reachable, the tester's made-up people are made reachable the way Varsel requires of
a contact, and nothing else changes: its phone numbers (ten random digits, no country code)
become E.164 (+479 and seven digits), and a User it fills with required attributes only (a
userName) also gets an e-mail address. That run shows whether anything besides those two
rules of the node stops a check.

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


def make_reachable() -> None:
    """Patches scim2-tester's value generator (see the module doc)."""
    import random
    import typing
    import uuid

    import scim2_tester.checkers.patch_add as patch_add
    import scim2_tester.checkers.patch_replace as patch_replace
    import scim2_tester.checkers.resource_put as resource_put
    import scim2_tester.filling as filling

    generate = filling.generate_random_value
    fill = filling.fill_with_random_values

    def e164(context, path, mutability=None, required=None):
        value = generate(context, path, mutability=mutability, required=required)
        # The tester's phone numbers: ten random digits (a phone value of a nested model has
        # the path "value", so they are recognised by their shape).
        if isinstance(value, str) and len(value) == 10 and value.isdigit():
            return "+479" + "".join(str(random.randrange(10)) for _ in range(7))
        return value

    def model_of(annotation):
        # Optional[list[Email]] (or Annotated) -> Email
        while typing.get_args(annotation):
            annotation = [a for a in typing.get_args(annotation) if a is not type(None)][0]
        return annotation

    def with_email(context, obj, paths=None, mutability=None, required=None):
        out = fill(context, obj, paths=paths, mutability=mutability, required=required)
        fields = type(out).model_fields
        if "userName" in str(fields.get("user_name", "")) or "user_name" in fields:
            if not getattr(out, "emails", None) and not getattr(out, "phone_numbers", None):
                email = model_of(fields["emails"].annotation)
                out.emails = [email(value=f"{uuid.uuid4()}@example.com")]
        return out

    for module in (filling, patch_add, patch_replace):
        if hasattr(module, "generate_random_value"):
            module.generate_random_value = e164
    for module in (filling, resource_put):
        module.fill_with_random_values = with_email


def main() -> int:
    base, ca = sys.argv[1], sys.argv[2]
    if "--reachable" in sys.argv:
        make_reachable()
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
