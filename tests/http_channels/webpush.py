"""Web Push as a browser and a push service see it, with implementations Varsel did not write.

    python webpush.py subscriber          -> {"p256dh", "auth", "private"} (base64url)
    python webpush.py vapid KEY_FILE      -> writes a VAPID private key (PEM), prints its public key
    python webpush.py check < request     -> decrypts and verifies one recorded push request

`check` reads {"private", "auth", "body", "authorization", "endpoint", "subject", "vapid_public"}
(body in base64url), verifies the VAPID header with py-vapid (signature, audience = the
endpoint's origin, subject, expiry within 24 h, the key we configured), decrypts the body with
http-ece (aes128gcm) and prints {"payload": <the decrypted JSON>, "claims": <the JWT claims>}.
Any failure raises, so the test fails with the reason.
"""

import base64
import json
import os
import sys
import time
from urllib.parse import urlsplit

import http_ece
import py_vapid
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import jwt as vapid_jwt


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def subscriber():
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    private = key.private_numbers().private_value.to_bytes(32, "big")
    print(json.dumps({"p256dh": b64(public), "auth": b64(os.urandom(16)), "private": b64(private)}))


def vapid(path):
    v = py_vapid.Vapid02()
    v.generate_keys()
    v.save_key(path)
    public = v.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    print(b64(public))


def check():
    req = json.load(sys.stdin)
    auth = req["authorization"]
    assert py_vapid.Vapid02.verify(auth), "VAPID signature does not verify"
    params = dict(p.split("=", 1) for p in auth.split(" ", 1)[1].split(","))
    assert params["k"] == req["vapid_public"], "k is not the configured VAPID public key"
    claims = vapid_jwt.decode(params["t"], params["k"])
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(req["endpoint"]))
    assert claims["aud"] == origin, f"aud {claims['aud']} is not {origin}"
    assert claims["sub"] == req["subject"], f"sub {claims['sub']}"
    now = time.time()
    assert now < claims["exp"] <= now + 24 * 3600 + 60, f"exp {claims['exp']} is not within 24 h"
    private = ec.derive_private_key(int.from_bytes(unb64(req["private"]), "big"), ec.SECP256R1())
    plain = http_ece.decrypt(
        unb64(req["body"]), private_key=private, auth_secret=unb64(req["auth"]), version="aes128gcm"
    )
    print(json.dumps({"payload": json.loads(plain), "claims": claims}))


if __name__ == "__main__":
    {"subscriber": lambda: subscriber(), "vapid": lambda: vapid(sys.argv[2]), "check": lambda: check()}[sys.argv[1]]()
