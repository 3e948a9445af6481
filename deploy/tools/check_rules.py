#!/usr/bin/env python3
"""Checks Prometheus rule files against the metric contract and the alerting conventions.

    check_rules.py deploy/prometheus/rules.yml

promtool checks the syntax and the unit tests check the behaviour; this checks what neither can: that every
series, label and label value a rule names is one journeyd exports (contract.py), and that every alert has
a `severity` of page|ticket and summary/description annotations that name the journey (and the step, for
step alerts) or, for the monitor's own alerts, the instance. Exit 0 clean, 1 problems found.
"""

import sys

import yaml

import promql_refs

SEVERITIES = ("page", "ticket")


def recorded_labels(groups):
    out = {}
    for group in groups:
        for rule in group.get("rules", []):
            if "record" in rule:
                # Recorded series keep at most the journey/step grouping plus their static labels.
                labels = {"journey", "step"} | set(rule.get("labels", {}))
                out[rule["record"]] = out.get(rule["record"], set()) | labels
    return out


def check_alert(rule, where):
    out = []
    name = rule["alert"]
    severity = rule.get("labels", {}).get("severity")
    if severity not in SEVERITIES:
        out.append("%s: severity label is %r, want one of %s" % (where, severity, "|".join(SEVERITIES)))
    ann = rule.get("annotations", {})
    if name.startswith("Journeyd"):
        must = ["$labels.instance"]
    else:
        must = ["$labels.journey"] + (["$labels.step"] if "Step" in name else [])
    for key in ("summary", "description"):
        text = ann.get(key, "")
        if not text.strip():
            out.append("%s: no %s annotation" % (where, key))
        for m in must:
            if m not in text:
                out.append("%s: the %s annotation does not name %s" % (where, key, m))
    return out


def main(paths):
    problems, counted = [], 0
    for path in paths:
        with open(path) as f:
            doc = yaml.safe_load(f)
        groups = doc.get("groups", [])
        recorded = recorded_labels(groups)
        for group in groups:
            for rule in group.get("rules", []):
                counted += 1
                name = rule.get("record") or rule.get("alert")
                where = "%s: %s %s" % (path, "record" if "record" in rule else "alert", name)
                problems += promql_refs.problems(rule["expr"], recorded, where)
                if "alert" in rule:
                    problems += check_alert(rule, where)
    for p in problems:
        print("  PROBLEM " + p)
    print("  %d rules checked against the metric contract: %s" % (counted, "FAILED" if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: check_rules.py RULES.yml...")
    sys.exit(main(sys.argv[1:]))
