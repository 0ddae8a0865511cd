"""A test SMSC for varsel-smpp, built on the real `smpp34` SMPP 3.4 server.

The SMPP protocol work (listening, bind handshake, framing, sequence numbers,
enquire_link, unbind, generic_nack, the deliver_sm window) is done by smpp34's
`Server`; this wrapper only *configures* it and adds what a test needs:

* records every submit_sm it receives to a JSONL file, and every complete
  message (single, UDH-reassembled or message_payload) with its text decoded by
  an independent GSM 03.38 codec (PyPI `gsm0338`) or UTF-16BE;
* takes commands on stdin, one per line:
    throttle N                 reject the next N submit_sm with ESME_RTHROTTLED
    hold N                     leave the next N submit_sm unanswered
    release                    accept the held submit_sm
    receipt ID [STAT] [MODE]   send a delivery receipt; MODE = both|text|tlv
    mo FROM TO TEXT...         send a mobile-originated deliver_sm
    auto_receipt on|off        send a receipt for every accepted submit_sm
    stats                      print counters
    quit                       stop
* prints one line per event on stdout: "READY <port>", "BOUND <session> <system_id>",
  "UNBOUND <session>", "DELIVER_RESP <kind> <id> <status>", "STATS {json}", "OK <cmd>",
  "ERR <text>".

smpp34's Python server accepts every bind (it exposes no bind hook), so password
checks are not possible here; the Rust tests cover bind rejection with an in-test peer.

Usage: python smsc.py --port PORT --records FILE|- [--auto-receipt]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
import smpp34

ESM_UDHI = 0x40


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def decode_text(data_coding: int, payload: bytes) -> str | None:
    """Decode user data independently of the code under test."""
    try:
        if data_coding == 0x00:
            return payload.decode("gsm03.38")
        if data_coding == 0x08:
            return payload.decode("utf-16-be")
        if data_coding in (0x01, 0x03):
            return payload.decode("latin-1")
    except (UnicodeDecodeError, ValueError) as e:
        return f"<undecodable: {e}>"
    return None


def split_udh(short_message: bytes):
    """Return ((ref, total, seq), payload) for a concatenation UDH, else (None, short_message)."""
    if not short_message:
        return None, short_message
    udhl = short_message[0]
    ies, payload = short_message[1 : 1 + udhl], short_message[1 + udhl :]
    i, concat = 0, None
    while i + 2 <= len(ies):
        iei, length = ies[i], ies[i + 1]
        value = ies[i + 2 : i + 2 + length]
        if iei == 0x00 and length == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and length == 4:
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + length
    return concat, payload


class Smsc:
    def __init__(self, args):
        self.args = args
        self.server = smpp34.Server(
            host=args.host, port=args.port, system_id=args.system_id, inbound_capacity=100_000
        )
        self.records = None if args.records == "-" else open(args.records, "a", encoding="utf-8")
        self.sessions: dict[str, smpp34.Esme] = {}
        self.owner: dict[str, str] = {}  # message_id -> session_id
        self.parts: dict[tuple, dict[int, tuple[bytes, str]]] = {}
        self.held: list = []
        self.throttle_left = 0
        self.hold_left = 0
        self.auto_receipt = args.auto_receipt
        self.counter = 0
        self.id_prefix = os.getpid() & 0xFFFF
        self.stats = {"accepted": 0, "throttled": 0, "held": 0, "binds": 0, "receipts_ok": 0, "receipts_failed": 0}
        self.tasks: set[asyncio.Task] = set()

    def record(self, obj: dict) -> None:
        if self.records is not None:
            self.records.write(json.dumps(obj) + "\n")
            self.records.flush()

    def spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        await self.server.start()
        out(f"READY {self.args.port}")
        commands: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        threading.Thread(target=read_stdin, args=(loop, commands), daemon=True).start()
        self.spawn(self.command_loop(commands))
        while True:
            event = await self.server.next()
            if isinstance(event, smpp34.Esme):
                self.sessions[event.session_id] = event
                self.stats["binds"] += 1
                out(f"BOUND {event.session_id} {event.system_id}")
            elif isinstance(event, smpp34.Unbound):
                self.sessions.pop(event.session_id, None)
                out(f"UNBOUND {event.session_id}")
            elif isinstance(event, smpp34.SubmitSmEvent):
                self.on_submit(event)

    def on_submit(self, ev) -> None:
        self.counter += 1
        rec = {
            "kind": "submit",
            "n": self.counter,
            "session": ev.session_id,
            "source": ev.source_addr,
            "destination": ev.destination_addr,
            "data_coding": ev.data_coding,
            "esm_class": ev.esm_class,
            "registered_delivery": ev.registered_delivery,
            "short_message_hex": ev.short_message.hex(),
            "message_payload_hex": next((t.value.hex() for t in ev.tlvs if t.tag == smpp34.TLV_MESSAGE_PAYLOAD), None),
        }
        if self.throttle_left > 0:
            self.throttle_left -= 1
            self.stats["throttled"] += 1
            ev.reject(smpp34.ESME_RTHROTTLED)
            rec["status"] = "throttled"
        elif self.hold_left > 0:
            self.hold_left -= 1
            self.stats["held"] += 1
            self.held.append(ev)
            rec["status"] = "held"
        else:
            # Recorded before it is answered: a kill between the two must never leave a submit
            # the ESME saw accepted without a record (a test would count its number as lost).
            rec["status"] = "accepted"
            rec["message_id"] = f"{self.id_prefix:04X}{self.counter:08X}"
            self.record(rec)
            self.accept(ev, rec["message_id"])
            self.collect(ev, rec["message_id"])
            return
        self.record(rec)

    def accept(self, ev, message_id: str) -> str:
        ev.accept(message_id)
        self.stats["accepted"] += 1
        self.owner[message_id] = ev.session_id
        if self.auto_receipt:
            self.spawn(self.send_receipt(message_id, "DELIVRD", "both", ev.destination_addr, quiet=True))
        return message_id

    def collect(self, ev, message_id: str) -> None:
        """Reassemble concatenated messages; record each complete one with its text."""
        payload_tlv = next((t.value for t in ev.tlvs if t.tag == smpp34.TLV_MESSAGE_PAYLOAD), None)
        if ev.esm_class & ESM_UDHI:
            concat, payload = split_udh(ev.short_message)
        else:
            concat, payload = None, payload_tlv if payload_tlv is not None and not ev.short_message else ev.short_message
        if concat is None:
            self.record_message(ev, [message_id], payload, 1)
            return
        ref, total, seq = concat
        key = (ev.source_addr, ev.destination_addr, ref, total)
        parts = self.parts.setdefault(key, {})
        parts[seq] = (payload, message_id)
        if len(parts) == total:
            del self.parts[key]
            ordered = [parts[i] for i in sorted(parts)]
            self.record_message(ev, [m for _, m in ordered], b"".join(p for p, _ in ordered), total)

    def record_message(self, ev, message_ids, payload: bytes, parts: int) -> None:
        self.record(
            {
                "kind": "message",
                "source": ev.source_addr,
                "destination": ev.destination_addr,
                "data_coding": ev.data_coding,
                "parts": parts,
                "message_ids": message_ids,
                "payload_hex": payload.hex(),
                "text": decode_text(ev.data_coding, payload),
            }
        )

    def receiving_session(self, message_id: str | None = None):
        preferred = self.sessions.get(self.owner.get(message_id or "", ""))
        if preferred is not None and preferred.can_receive:
            return preferred
        for esme in reversed(list(self.sessions.values())):
            if esme.can_receive:
                return esme
        return None

    async def send_receipt(self, message_id: str, stat: str, mode: str, recipient: str = "4790000000", quiet=False):
        esme = self.receiving_session(message_id)
        if esme is None:
            out(f"ERR no receiving session for receipt {message_id}")
            return
        now = time.strftime("%y%m%d%H%M")
        text = f"id:{message_id} sub:001 dlvrd:001 submit date:{now} done date:{now} stat:{stat} err:000 text:"
        state = {"ENROUTE": 1, "DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7,
                 "REJECTD": 8}.get(stat, 7)
        tlvs = []
        if mode in ("both", "tlv"):
            tlvs = [smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\0"),
                    smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([state]))]
        body = b"" if mode == "tlv" else text.encode("ascii")
        try:
            resp = await esme.deliver_sm("VARSEL", body, source_addr=recipient, esm_class=0x04, tlvs=tlvs)
            self.stats["receipts_ok" if resp.is_success else "receipts_failed"] += 1
            if not quiet:
                out(f"DELIVER_RESP receipt {message_id} {resp.command_status}")
        except smpp34.SmppError as e:
            self.stats["receipts_failed"] += 1
            out(f"DELIVER_ERR receipt {message_id} {e}")

    async def send_mo(self, source: str, destination: str, text: str):
        esme = self.receiving_session()
        if esme is None:
            out("ERR no receiving session for mo")
            return
        try:
            resp = await esme.deliver_sm(destination, text.encode("gsm03.38"), source_addr=source, esm_class=0x00,
                                         data_coding=0x00)
            out(f"DELIVER_RESP mo {source} {resp.command_status}")
        except smpp34.SmppError as e:
            out(f"DELIVER_ERR mo {source} {e}")

    async def command_loop(self, commands: asyncio.Queue) -> None:
        while True:
            line = await commands.get()
            if line is None or line.strip() == "quit":
                await self.server.stop()
                os._exit(0)
            try:
                self.command(line.split())
            except (ValueError, IndexError) as e:
                out(f"ERR {line.strip()}: {e}")

    def command(self, words: list[str]) -> None:
        if not words:
            return
        cmd = words[0]
        if cmd == "throttle":
            self.throttle_left = int(words[1])
        elif cmd == "hold":
            self.hold_left = int(words[1])
        elif cmd == "release":
            held, self.held = self.held, []
            for ev in held:
                self.counter += 1
                message_id = self.accept(ev, f"{self.id_prefix:04X}{self.counter:08X}")
                self.collect(ev, message_id)
        elif cmd == "receipt":
            stat = words[2] if len(words) > 2 else "DELIVRD"
            mode = words[3] if len(words) > 3 else "both"
            self.spawn(self.send_receipt(words[1], stat, mode))
        elif cmd == "mo":
            self.spawn(self.send_mo(words[1], words[2], " ".join(words[3:])))
        elif cmd == "auto_receipt":
            self.auto_receipt = words[1] == "on"
        elif cmd == "stats":
            out("STATS " + json.dumps(self.stats))
        else:
            raise ValueError("unknown command")
        out(f"OK {cmd}")


def read_stdin(loop, commands) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(commands.put_nowait, line)
    loop.call_soon_threadsafe(commands.put_nowait, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--records", required=True, help="JSONL file to append to, or - for none")
    parser.add_argument("--system-id", default="SMPP34SIM")
    parser.add_argument("--auto-receipt", action="store_true")
    args = parser.parse_args()
    asyncio.run(Smsc(args).run())


if __name__ == "__main__":
    main()
