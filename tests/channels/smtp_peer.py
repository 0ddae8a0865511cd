"""A real SMTP server for Varsel's e-mail tests: PyPI `aiosmtpd`, storing what it receives.

Requires AUTH (PLAIN/LOGIN) with the given user and password (allowed without TLS: the test
runs on loopback), refuses one recipient for good and defers another once, and writes every
accepted message to a JSONL file, parsed by Python's own `email` package (independent of the
code under test): envelope, decoded subject, plain and HTML bodies, and the headers the tests
check.

Usage: python smtp_peer.py --port PORT --records FILE --user U --password P
                           [--reject ADDR] [--defer-once ADDR]
Prints "READY <port>" when listening; stops on SIGTERM or when stdin closes.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import logging
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, args):
        self.args = args
        self.deferred: set[str] = set()
        self.out = open(args.records, "a", encoding="utf-8")
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.args.reject:
            return "550 5.1.1 No such user here"
        if address == self.args.defer_once and address not in self.deferred:
            self.deferred.add(address)
            self.record({"kind": "deferred", "rcpt": address})
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        self.record(
            {
                "kind": "message",
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "authenticated": session.authenticated,
                "subject": str(msg["subject"]),
                "from": str(msg["from"]),
                "to": str(msg["to"]),
                "message_id": str(msg["message-id"]),
                "date": str(msg["date"]) if msg["date"] else None,
                "list_unsubscribe": str(msg["list-unsubscribe"]) if msg["list-unsubscribe"] else None,
                "content_type": msg.get_content_type(),
                "text": plain.get_content() if plain is not None else None,
                "html": html.get_content() if html is not None else None,
                "raw": envelope.content.decode("ascii", errors="replace"),
            }
        )
        return "250 Message accepted for delivery"

    def record(self, obj: dict) -> None:
        with self.lock:
            self.out.write(json.dumps(obj) + "\n")
            self.out.flush()


def authenticator(user: str, password: str):
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
            and auth_data.password.decode() == password
        return AuthResult(success=ok)

    return check


def main() -> None:
    # AUTH without TLS is what this loopback test wants; aiosmtpd's warnings about it (and its
    # own deprecation notes) would only bury the test's output.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--records", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--reject", default=None)
    parser.add_argument("--defer-once", default=None)
    args = parser.parse_args()
    controller = Controller(
        Recorder(args),
        hostname="127.0.0.1",
        port=args.port,
        authenticator=authenticator(args.user, args.password),
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    print(f"READY {args.port}", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin (or dies)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
