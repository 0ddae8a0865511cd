"""Parses Prometheus text exposition format from stdin with the Prometheus project's Python
client parser and prints every family as JSON: name, type, help and samples.

A line the parser rejects makes it exit non-zero with the parser's error.
"""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    families = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        families.append({
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [
                # JSON has no NaN or infinity: those values come out as null.
                {"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else None}
                for s in family.samples
            ],
        })
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
