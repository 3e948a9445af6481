#!/usr/bin/env python3
"""Compares a live /metrics exposition of journeyd with the metric contract (contract.py).

    curl -s http://127.0.0.1:9898/metrics > m.txt && check_exposition.py m.txt [--require-all]

For every contract metric journeyd exposes: the TYPE, the label names of every sample, and the values of
the closed-set labels (outcome, reason, state, window, result) must match the contract. Contract metrics
that are absent are listed (a labelled metric has no series until its first event); with --require-all
they fail the check. Exit 0 clean, 1 problems found.
"""

import re
import sys

import contract

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
        elif line and not line.startswith("#"):
            m = _SAMPLE.match(line)
            if not m:
                raise ValueError("unparseable line: %r" % line)
            samples.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")), m.group(3)))
    return types, samples


def family(name, types):
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)]
    return name


def check(text, require_all=False):
    types, samples = parse(text)
    problems, seen = [], set()
    for name, labels, _ in samples:
        fam = family(name, types)
        if fam not in contract.METRICS:
            continue
        seen.add(fam)
        kind, want = contract.METRICS[fam]
        if types.get(fam) != kind:
            problems.append("%s: TYPE %s, the contract says %s" % (fam, types.get(fam), kind))
        want = set(want) | ({"le"} if name.endswith("_bucket") else set())
        if set(labels) != want:
            problems.append("%s: labels %s, the contract says %s" % (name, sorted(labels), sorted(want)))
        for label, allowed in contract.CLOSED_LABELS.items():
            if label in labels and labels[label] not in allowed:
                problems.append("%s{%s=%r}: not one of %s" % (name, label, labels[label], "|".join(allowed)))
        buckets = contract.BUCKETS_OF.get(fam, contract.BUCKETS)
        if name.endswith("_bucket") and labels.get("le") not in {repr_le(b) for b in buckets} | {"+Inf"}:
            problems.append("%s: bucket le=%r is not one of the fixed buckets" % (name, labels.get("le")))
    absent = sorted(set(contract.METRICS) - seen)
    extra = sorted({family(n, types) for n, _, _ in samples if n.startswith("journey")} - set(contract.METRICS))
    return problems, sorted(seen), absent, extra


def repr_le(b):
    """The le label as Prometheus client libraries print it (0.5, 1, 2.5 -> "0.5", "1", "2.5")."""
    return ("%g" % b) if b != int(b) else str(int(b))


def main(argv):
    require_all = "--require-all" in argv
    paths = [a for a in argv if not a.startswith("--")]
    with open(paths[0]) as f:
        problems, seen, absent, extra = check(f.read(), require_all)
    print("  contract metrics exposed (%d): %s" % (len(seen), " ".join(seen)))
    if absent:
        print("  contract metrics absent (%d): %s" % (len(absent), " ".join(absent)))
    if extra:
        print("  journey* metrics outside the contract (%d): %s" % (len(extra), " ".join(extra)))
    for p in problems:
        print("  PROBLEM " + p)
    bad = problems or (require_all and absent)
    print("  exposition %s: %s" % (paths[0], "FAILED" if bad else "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: check_exposition.py METRICS.txt [--require-all]")
    sys.exit(main(sys.argv[1:]))
