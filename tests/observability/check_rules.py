"""Checks a Prometheus alerting rules file: it must be YAML in the rules-file structure
(groups -> name, rules -> alert, expr, for, labels.severity, annotations.summary/description),
every expression must parse as PromQL (promql-parser, a port of Prometheus' own parser), and
every Varsel or process metric an expression names must be one the node exports.

Usage: python check_rules.py RULES.yml < names.txt   (one exported sample name per line)
Prints "ok N rules" or the problems, one a line, and exits non-zero.
"""

import re
import sys

import promql_parser
import yaml

DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
METRIC = re.compile(r"\b((?:varsel|process)_[a-zA-Z0-9_]+)\b")
SEVERITIES = {"page", "ticket"}


def check_rule(group, rule, known, problems):
    where = f"group {group!r}, rule {rule.get('alert', rule.get('record'))!r}"
    if "alert" not in rule or not isinstance(rule["alert"], str) or not rule["alert"]:
        problems.append(f"{where}: needs an alert name")
    expr = rule.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        problems.append(f"{where}: needs an expr")
        return
    try:
        promql_parser.parse(expr)
    except ValueError as e:
        problems.append(f"{where}: expr is not valid PromQL: {e}")
    if "for" in rule and not DURATION.match(str(rule["for"])):
        problems.append(f"{where}: bad for {rule['for']!r}")
    unknown = set(rule) - {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
    severity = (rule.get("labels") or {}).get("severity")
    if severity not in SEVERITIES:
        problems.append(f"{where}: labels.severity must be one of {sorted(SEVERITIES)}")
    annotations = rule.get("annotations") or {}
    for key in ("summary", "description"):
        if not isinstance(annotations.get(key), str) or not annotations[key]:
            problems.append(f"{where}: annotations.{key} is required")
    for name in METRIC.findall(expr):
        if name not in known:
            problems.append(f"{where}: expr names {name}, which no node exports")


def main():
    known = {line.strip() for line in sys.stdin if line.strip()}
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    problems = []
    groups = doc.get("groups") if isinstance(doc, dict) else None
    if not isinstance(groups, list) or not groups:
        problems.append("top level must be a mapping with a non-empty 'groups' list")
        groups = []
    count = 0
    for group in groups:
        name = group.get("name")
        if not isinstance(name, str) or not name:
            problems.append("every group needs a name")
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            problems.append(f"group {name!r}: needs a non-empty rules list")
            continue
        for rule in rules:
            count += 1
            check_rule(name, rule, known, problems)
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ok {count} rules")


if __name__ == "__main__":
    main()
