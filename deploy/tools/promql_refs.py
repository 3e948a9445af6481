"""Finds the series, label matchers and grouping labels a PromQL expression refers to.

Not a PromQL parser (promtool checks syntax): a tokenizer that is exact about the parts that name things,
so the checkers can compare them with the metric contract (contract.py).
"""

import re

import contract

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<num>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<var>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@])
    """,
    re.VERBOSE,
)

# Words that are never series names: operators, modifiers and literals.
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
# Aggregation operators: a function even when `by (…)` stands between the name and its argument.
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                 "topk", "quantile", "limitk", "limit_ratio"}
# Followed by a parenthesised list of label names.
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}


class Ref:
    """One vector selector: `name{label op "value", …}`."""

    def __init__(self, name):
        self.name = name
        self.matchers = []  # (label, op, value)

    def __repr__(self):
        return "Ref(%s, %s)" % (self.name, self.matchers)


def tokenize(expr):
    pos, out = 0, []
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError("cannot tokenize %r at %d: %r" % (expr, pos, expr[pos : pos + 20]))
        pos = m.end()
        kind = m.lastgroup
        if kind != "ws":
            out.append((kind, m.group()))
    return out


def _unquote(s):
    if s[0] == "`":
        return s[1:-1]
    return bytes(s[1:-1], "utf-8").decode("unicode_escape")


def refs(expr):
    """Returns (selectors, grouping label names) found in `expr`."""
    toks = tokenize(expr)
    selectors, grouping = [], []
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "op" and text == "[":
            while i < len(toks) and toks[i][1] != "]":
                i += 1
        elif kind == "ident" and text in _GROUPING:
            if nxt == "(":
                i += 2
                while i < len(toks) and toks[i][1] != ")":
                    if toks[i][0] == "ident":
                        grouping.append(toks[i][1])
                    i += 1
        elif kind == "ident" and (text.lower() in _KEYWORDS or text in _AGGREGATIONS):
            pass
        elif kind == "ident" and nxt == "(":
            pass  # a function or aggregation
        elif kind == "ident" or (kind == "op" and text == "{"):
            ref = Ref(text if kind == "ident" else None)
            if kind == "ident" and nxt == "{":
                i += 1
            if toks[i][1] == "{":
                i += 1
                while i < len(toks) and toks[i][1] != "}":
                    if toks[i][0] == "ident":
                        label, op, value = toks[i][1], toks[i + 1][1], toks[i + 2][1]
                        ref.matchers.append((label, op, _unquote(value)))
                        i += 3
                    else:
                        i += 1
            if ref.name is None:
                ref.name = next((v for l, o, v in ref.matchers if l == "__name__" and o == "="), None)
            selectors.append(ref)
        i += 1
    return selectors, grouping


_WORDS = re.compile(r"^[A-Za-z0-9_.:-]+(\|[A-Za-z0-9_.:-]+)*$")


def problems(expr, recorded=(), where=""):
    """Everything in `expr` that names a series, label or label value the contract does not have.

    `recorded` maps recording-rule names to the labels their series carry.
    """
    recorded = dict(recorded)
    out = []
    try:
        selectors, grouping = refs(expr)
    except ValueError as e:
        return ["%s: %s" % (where, e)]
    known_labels = set(contract.TARGET_LABELS) | {"le", "__name__"}
    for ref in selectors:
        if ref.name is None:
            continue
        if ref.name in recorded:
            labels = set(recorded[ref.name]) | set(contract.TARGET_LABELS) | {"__name__"}
        else:
            labels = contract.series_labels(ref.name)
            if labels is None:
                out.append("%s: series %r is not a journeyd metric (see deploy/tools/contract.py)" % (where, ref.name))
                continue
            labels = labels | {"__name__"}
        known_labels |= labels
        for label, op, value in ref.matchers:
            if label not in labels:
                out.append("%s: %s has no label %r (it has: %s)" % (where, ref.name, label, ", ".join(sorted(labels))))
            allowed = contract.CLOSED_LABELS.get(label)
            if not allowed or "$" in value:
                continue
            if op in ("=", "!="):
                values = [value]
            elif _WORDS.match(value):
                values = value.split("|")
            else:
                continue  # a real regex: not checkable by listing
            for v in values:
                if v not in allowed:
                    out.append("%s: %s{%s%s%r}: %r is not one of %s" % (where, ref.name, label, op, value, v, "|".join(allowed)))
    for label in grouping:
        if label not in known_labels:
            out.append("%s: grouping by %r, which none of the series here carry" % (where, label))
    return out
