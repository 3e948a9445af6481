"""Checks the progressive-delivery manifests (deploy/flagger/, deploy/argo-rollouts/) against the
controllers' published CRD schemas, vendored under crds/ (see crds/README.md), strictly: where a CRD schema
is structural (an object with `properties`), a field it does not define fails, as `kubectl apply
--validate=strict` would refuse it. Then journeyd's side: every PromQL query names only contract metrics and
labels (with sample values for the template placeholders), and every Flagger webhook pointing at journeyd
calls the gate of its own type.

    python3 check_crds.py [--self-test] FILE...

Needs the `jsonschema` package (installed with kubernetes-validate by .ci/deploy-check).
"""

import copy
import glob
import json
import os
import re
import sys

import jsonschema
import yaml

import promql_refs

HERE = os.path.dirname(os.path.abspath(__file__))
# journeyd's Flagger gates (src/gates/api.rs FLAGGER_HOOKS).
FLAGGER_HOOKS = {"pre-rollout", "confirm-rollout", "rollout", "confirm-promotion"}
GATE_PATH = re.compile(r"/api/v1/gates/flagger/([a-z-]+)$")
PLACEHOLDER = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")


def strict(node):
    """The openAPIV3Schema as JSON Schema: Kubernetes' extensions spelled out, unknown fields refused."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        for k in ("type", "anyOf"):
            out.pop(k, None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def load_schemas():
    schemas = {}
    for path in sorted(glob.glob(os.path.join(HERE, "crds", "*.json"))):
        v = json.load(open(path))
        schemas[(v["apiVersion"], v["kind"])] = (os.path.basename(path), strict(v["openAPIV3Schema"]))
    return schemas


def sample(expr):
    """A template's query with its placeholders filled the way the controllers would."""
    def fill(m):
        name = m.group(1)
        return "1m" if name == "interval" else "checkout"
    return PLACEHOLDER.sub(fill, expr)


def queries(doc):
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "MetricTemplate" and spec.get("provider", {}).get("type") == "prometheus":
        yield "spec.query", spec.get("query", "")
    if kind == "AnalysisTemplate":
        for i, m in enumerate(spec.get("metrics", [])):
            prom = (m.get("provider") or {}).get("prometheus")
            if prom:
                yield "spec.metrics[%d].query" % i, prom.get("query", "")


def journeyd_problems(doc, where):
    out = []
    for at, q in queries(doc):
        out += promql_refs.problems(sample(q), where="%s %s" % (where, at))
    if doc.get("kind") == "Canary":
        for i, w in enumerate(doc["spec"].get("analysis", {}).get("webhooks", [])):
            m = GATE_PATH.search(w.get("url", ""))
            if not m:
                continue
            hook = m.group(1)
            if hook not in FLAGGER_HOOKS:
                out.append("%s webhook %r: journeyd has no gate %r (it has: %s)"
                           % (where, w["name"], hook, ", ".join(sorted(FLAGGER_HOOKS))))
            elif w.get("type", "") != hook:
                out.append("%s webhook %r: type %r calls the %r gate" % (where, w["name"], w.get("type", ""), hook))
            meta = w.get("metadata", {})
            if hook == "pre-rollout" and "target" not in meta:
                out.append("%s webhook %r: pre-rollout needs metadata.target (the canary's URL)" % (where, w["name"]))
            unknown = set(meta) - {"journeys", "tags", "target"}
            if unknown:
                out.append("%s webhook %r: journeyd refuses metadata %s" % (where, w["name"], sorted(unknown)))
    return out


def check(doc, schemas, where):
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key not in schemas:
        return ["%s: no vendored schema for %s %s (have: %s)" % (where, key[0], key[1], sorted(schemas))]
    name, schema = schemas[key]
    v = jsonschema.Draft7Validator(schema)
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    return ["%s: %s at %s (schema %s)" % (where, e.message, "/".join(map(str, e.absolute_path)) or "/", name)
            for e in errors]


def nested_objects(doc, path=()):
    """Paths of every mapping in `doc` below the top, for the self-test to plant an unknown field in."""
    if isinstance(doc, dict):
        if path:
            yield path
        for k, v in doc.items():
            yield from nested_objects(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from nested_objects(v, path + (i,))


def at(doc, path):
    for k in path:
        doc = doc[k]
    return doc


def self_test(docs, schemas):
    """An unknown field planted in the spec, and in the deepest object that has a `name` (a container, a
    webhook, a metric: structural, unlike maps such as `resources.requests`), must fail."""
    failed = []
    for where, doc in docs:
        paths = [p for p in nested_objects(doc) if p[0] == "spec"]
        named = [p for p in paths if "name" in at(doc, p)]
        for path in (paths[0], max(named or paths, key=len)):
            bad = copy.deepcopy(doc)
            at(bad, path)["unknownField"] = "x"
            if not check(bad, schemas, where):
                failed.append("%s: an unknown field at %s passed" % (where, "/".join(map(str, path))))
    bad_type = [(w, d) for w, d in docs if d.get("kind") == "Canary"]
    for where, doc in bad_type:
        bad = copy.deepcopy(doc)
        bad["spec"]["analysis"]["webhooks"][0]["type"] = "rollout"
        if not journeyd_problems(bad, where):
            failed.append("%s: a webhook calling another type's gate passed" % where)
    return failed


def main(args):
    run_self_test = "--self-test" in args
    paths = [a for a in args if a != "--self-test"]
    schemas = load_schemas()
    docs = []
    for path in paths:
        for i, doc in enumerate(yaml.safe_load_all(open(path))):
            if doc:
                docs.append(("%s#%d %s/%s" % (path, i, doc.get("kind"), (doc.get("metadata") or {}).get("name")), doc))
    problems = []
    for where, doc in docs:
        problems += check(doc, schemas, where)
        problems += journeyd_problems(doc, where)
        if not problems:
            print("ok %s" % where)
    if run_self_test:
        failed = self_test(docs, schemas)
        problems += failed
        if not failed:
            print("self-test: unknown fields and mismatched gates are caught")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
