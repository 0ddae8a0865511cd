"""A webhook receiver for the tests: verifies every request with PyPI `standardwebhooks`.

Usage: receiver.py DIR MODE
  DIR   holds `secret` (written by the test once the subscription exists; read per request),
        and receives `port` (the bound port) and `events.jsonl` (one line per request).
  MODE  ok | stall-first | always-500
        stall-first: the first request is held for 30 s before it is answered 200 (longer
        than the node's call timeout), the others are answered at once.
A request whose signature does not verify is answered 400 and recorded with verified=false.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

DIR, MODE = sys.argv[1], sys.argv[2]
LOCK = threading.Lock()
SEEN = {"n": 0}


def record(line):
    with LOCK:
        with open(os.path.join(DIR, "events.jsonl"), "a") as f:
            f.write(json.dumps(line) + "\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        received_ms = int(time.time() * 1000)
        with LOCK:
            SEEN["n"] += 1
            n = SEEN["n"]
        headers = {k.lower(): v for k, v in self.headers.items()}
        line = {"n": n, "id": headers.get("webhook-id"), "received_ms": received_ms}
        try:
            with open(os.path.join(DIR, "secret")) as f:
                secret = f.read().strip()
            payload = Webhook(secret).verify(body, headers)
            line.update(verified=True, type=payload["type"], timestamp=payload["timestamp"],
                        alert_id=payload["data"].get("alert_id"), data=payload["data"])
        except Exception as e:  # noqa: BLE001 - every failure is a refusal, recorded
            line.update(verified=False, error=str(e))
            record(dict(line, status=400))
            self.send_response(400)
            self.end_headers()
            return
        status = 200
        if MODE == "always-500":
            status = 500
        elif MODE == "stall-first" and n == 1:
            record(dict(line, status=0, stalled=True))
            time.sleep(30)
        record(dict(line, status=status))
        try:
            self.send_response(status)
            self.end_headers()
        except OSError:
            pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(os.path.join(DIR, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
server.serve_forever()
