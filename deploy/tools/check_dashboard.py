#!/usr/bin/env python3
"""Checks the Grafana dashboard: importable shape, datasource wiring, and every query against PromQL and
the metric contract.

    check_dashboard.py deploy/grafana/journeyd.json [--rules deploy/prometheus/rules.yml] [--promtool PATH]

- the file is JSON with a title, uid and a schemaVersion Grafana 10/11 imports (36-41);
- a `datasource` variable of type datasource (query: prometheus) and a `journey` query variable built with
  label_values(…, journey), both on ${datasource};
- every panel (rows' nested panels too) has a unique id, a grid position inside the 24 columns that overlaps
  no other panel, datasource ${datasource}, and targets each with a unique refId and an expression;
- every expression (panels, variables, annotations) parses — promtool checks it as a recording rule, with
  Grafana's $variables replaced — and names only series, labels and label values in the contract;
- the panels the brief asks for exist: availability stat and time series, a heatmap of
  journey_step_duration_seconds_bucket, p50 and p99 per step, failures by reason, a journey_state panel,
  and for browser journeys navigation timing, web vitals and JavaScript errors.

Exit 0 clean, 1 problems found.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

import check_rules
import promql_refs

DS_UID = "${datasource}"


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def grafana_to_promql(expr):
    """Replaces Grafana's variables with values that keep the expression valid PromQL."""
    expr = re.sub(r"\$\{?__(rate_interval|interval|range)(_s|_ms)?\}?", "5m", expr)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?", ".*", expr)


def promtool_parse(exprs, promtool):
    """Runs every expression through `promtool check rules`; returns its complaints."""
    rules = [{"record": "dashboard:query:%d" % i, "expr": e} for i, (_, e) in enumerate(exprs)]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        path = f.name
    try:
        res = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    if res.returncode == 0:
        return []
    out = []
    for line in (res.stdout + res.stderr).splitlines():
        m = re.search(r"dashboard:query:(\d+)", line)
        where = exprs[int(m.group(1))][0] if m else "promtool"
        if line.strip() and ("error" in line.lower() or "parse" in line.lower()):
            out.append("%s: %s" % (where, line.strip()))
    return out or ["promtool check rules failed:\n" + res.stdout + res.stderr]


def check(dash, recorded, promtool):
    problems = []
    add = problems.append
    if not dash.get("title") or not dash.get("uid"):
        add("dashboard: needs a title and a uid")
    sv = dash.get("schemaVersion")
    if not isinstance(sv, int) or not 36 <= sv <= 41:
        add("dashboard: schemaVersion %r, want 36-41 (Grafana 10/11)" % sv)

    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        add("templating: needs a `datasource` variable of type datasource with query prometheus")
    exprs = []  # (where, PromQL with Grafana variables replaced)
    for name, v in variables.items():
        if v.get("type") != "query":
            continue
        where = "variable $%s" % name
        if v.get("datasource", {}).get("uid") != DS_UID:
            add("%s: datasource must be %s" % (where, DS_UID))
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_]\w*)\)\s*", q)
        if not m:
            add("%s: query %r is not label_values(series, label)" % (where, q))
            continue
        exprs.append((where, grafana_to_promql(m.group(1))))
        labels = set()
        for ref in promql_refs.refs(grafana_to_promql(m.group(1)))[0]:
            labels |= set(promql_refs.contract.series_labels(ref.name) or ())
        if m.group(2) not in labels:
            add("%s: the series in %r have no label %r" % (where, q, m.group(2)))
    j = variables.get("journey")
    if not j or "journey)" not in json.dumps(j.get("query")):
        add("templating: needs a `journey` variable from label_values(…, journey)")

    for a in dash.get("annotations", {}).get("list", []):
        if a.get("builtIn"):
            continue
        if a.get("datasource", {}).get("uid") != DS_UID or not a.get("expr"):
            add("annotation %r: needs datasource %s and an expr" % (a.get("name"), DS_UID))
        else:
            exprs.append(("annotation %r" % a.get("name"), grafana_to_promql(a["expr"])))

    ids, cells, panels = set(), {}, [p for p in walk_panels(dash.get("panels", []))]
    for p in panels:
        where = "panel %r (id %s)" % (p.get("title"), p.get("id"))
        pid = p.get("id")
        if not isinstance(pid, int) or pid in ids:
            add("%s: id must be a unique integer" % where)
        ids.add(pid)
        g = p.get("gridPos", {})
        x, y, w, h = (g.get(k) for k in "xywh")
        if not all(isinstance(n, int) for n in (x, y, w, h)) or x < 0 or w <= 0 or h <= 0 or x + w > 24:
            add("%s: gridPos %r is not inside the 24 columns" % (where, g))
        else:
            for cx in range(x, x + w):
                for cy in range(y, y + h):
                    if (cx, cy) in cells:
                        add("%s: overlaps %s at column %d row %d" % (where, cells[(cx, cy)], cx, cy))
                        break
                    cells[(cx, cy)] = where
                else:
                    continue
                break
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != DS_UID or p.get("datasource", {}).get("type") != "prometheus":
            add("%s: datasource must be {type: prometheus, uid: %s}" % (where, DS_UID))
        targets = p.get("targets") or []
        if not targets:
            add("%s: has no targets" % where)
        refids = set()
        for t in targets:
            if t.get("refId") in refids or not t.get("refId"):
                add("%s: target refIds must be unique and set" % where)
            refids.add(t.get("refId"))
            if t.get("datasource", {"uid": DS_UID}).get("uid") != DS_UID:
                add("%s: target %s datasource must be %s" % (where, t.get("refId"), DS_UID))
            if not (t.get("expr") or "").strip():
                add("%s: target %s has no expr" % (where, t.get("refId")))
            else:
                exprs.append(("%s target %s" % (where, t.get("refId")), grafana_to_promql(t["expr"])))

    for where, e in exprs:
        problems.extend(promql_refs.problems(e, recorded, where))
    problems.extend(promtool_parse(exprs, promtool))

    def has(kind, *needles):
        return any(p.get("type") == kind and all(any(n in t.get("expr", "") for t in p.get("targets", [])) for n in needles)
                   for p in panels)

    wanted = [
        ("an availability stat", has("stat", "journey_runs_total", 'outcome="success"')),
        ("an availability time series", has("timeseries", "journey_runs_total", 'outcome="success"')),
        ("a heatmap of journey_step_duration_seconds_bucket",
         any(p.get("type") == "heatmap" and any("journey_step_duration_seconds_bucket" in t.get("expr", "")
                                                 and t.get("format") == "heatmap" for t in p.get("targets", []))
             for p in panels)),
        ("p99 and p50 per step", has("timeseries", "histogram_quantile(0.99", "histogram_quantile(0.5", "step")),
        ("failures by reason", has("timeseries", "journey_step_failures_total", "reason")),
        ("browser navigation timing", has("timeseries", "journey_browser_navigation_seconds_bucket", "phase")),
        ("browser web vitals", has("timeseries", "journey_browser_web_vital_seconds_bucket", "vital")),
        ("browser JavaScript errors", has("timeseries", "journey_browser_js_errors_total", "kind")),
        ("a journey_state panel", any("journey_state" in t.get("expr", "") for p in panels for t in p.get("targets", []))),
    ]
    for what, ok in wanted:
        if not ok:
            add("dashboard: missing %s" % what)
    return problems, len(panels), len(exprs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dashboard")
    ap.add_argument("--rules", action="append", default=[], help="rule files whose recorded series panels may use")
    ap.add_argument("--promtool", default="promtool")
    args = ap.parse_args()
    try:
        with open(args.dashboard) as f:
            dash = json.load(f)
    except ValueError as e:
        print("  PROBLEM %s is not JSON: %s" % (args.dashboard, e))
        return 1
    recorded = {}
    for path in args.rules:
        with open(path) as f:
            recorded.update(check_rules.recorded_labels(yaml.safe_load(f).get("groups", [])))
    problems, npanels, nexprs = check(dash, recorded, args.promtool)
    for p in problems:
        print("  PROBLEM " + p)
    print("  %s: %d panels, %d queries parsed and checked against the metric contract: %s"
          % (args.dashboard, npanels, nexprs, "FAILED" if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
