"""Vendors the openAPIV3Schema parts of the controllers' published CRDs that check_crds.py validates
deploy/flagger/ and deploy/argo-rollouts/ against. Run by hand when moving to a newer controller release:

    python3 deploy/tools/crds/vendor.py FLAGGER_CRD_YAML FLAGGER_COMMIT ARGO_ANALYSIS_TEMPLATE_CRD_YAML ARGO_COMMIT

Only the kinds the manifests use are kept, and of Argo's metric providers only the three the templates use
(prometheus, job, web): the others are large and unused here.
"""

import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ARGO_PROVIDERS = {"prometheus", "job", "web"}


def schemas(path):
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            if version.get("served") and version.get("storage"):
                yield spec["group"], version["name"], spec["names"]["kind"], version["schema"]["openAPIV3Schema"]


def write(name, source, commit, group, version, kind, schema):
    out = {
        "source": source,
        "commit": commit,
        "license": "Apache-2.0",
        "apiVersion": f"{group}/{version}",
        "kind": kind,
        "openAPIV3Schema": schema,
    }
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(out, f, indent=None, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {name}: {kind} {group}/{version}")


def main(flagger, flagger_commit, argo, argo_commit):
    flagger_url = f"https://github.com/fluxcd/flagger/blob/{flagger_commit}/kustomize/base/flagger/crd.yaml"
    for group, version, kind, schema in schemas(flagger):
        if kind in ("Canary", "MetricTemplate"):
            write(f"flagger-{kind.lower()}.json", flagger_url, flagger_commit, group, version, kind, schema)
    argo_url = f"https://github.com/argoproj/argo-rollouts/blob/{argo_commit}/manifests/crds/analysis-template-crd.yaml"
    for group, version, kind, schema in schemas(argo):
        if kind == "AnalysisTemplate":
            provider = schema["properties"]["spec"]["properties"]["metrics"]["items"]["properties"]["provider"]
            provider["properties"] = {k: v for k, v in provider["properties"].items() if k in ARGO_PROVIDERS}
            write("argo-rollouts-analysistemplate.json", argo_url, argo_commit, group, version, kind, schema)


if __name__ == "__main__":
    main(*sys.argv[1:5])
