#!/usr/bin/env python3
"""Writes deploy/kubernetes/configmap-journeys.yaml from the bundled journeys/ directory.

    gen_configmap.py            # rewrite the ConfigMap
    gen_configmap.py --check    # exit 1 when the committed ConfigMap differs from journeys/ (deploy-check)

The only change made to the journeys: a secret read from an environment variable (`{ env: SHOP_PASSWORD }`)
is read from the file Kubernetes mounts from the Secret instead (`{ file: /run/secrets/shop_password }`),
so the password never sits in the pod's environment (`kubectl describe`, /proc/PID/environ, crash dumps).
"""

import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
JOURNEYS = os.path.join(ROOT, "journeys")
OUT = os.path.join(ROOT, "deploy", "kubernetes", "configmap-journeys.yaml")
SECRETS_DIR = "/run/secrets"

HEADER = """\
# The bundled journeys (journeys/ at the repository root) as a ConfigMap, mounted by sidecar.yaml,
# standalone.yaml and job-verify.yaml at /etc/journeyd/journeys. GENERATED: edit journeys/ and run
# `python3 deploy/tools/gen_configmap.py`; .ci/deploy-check fails when this file is stale.
#
# One change from journeys/: secrets come from files mounted from the Secret (secret.example.yaml) at
# %s/<name in lower case>, not from environment variables. accounts.csv sits next to the
# journeys because they name it relative to their own file. Browser journeys (`browser:`) are left out:
# these manifests run the default image, which has no Chromium; run them from the `browser` image target
# (Dockerfile, docs/operations.md "Browser journeys: Chromium").
#
# Kubernetes updates a mounted ConfigMap in place (within about a minute); journeyd picks the change up on
# SIGHUP (e.g. from a config-reloader sidecar sharing the pod's process namespace), or on `POST /-/reload`
# when started with --enable-lifecycle behind a --web-config with basic auth (web-config.example.yaml), and
# keeps the old journeys if the new files do not load (alert: JourneydConfigReloadFailed).
""" % SECRETS_DIR


def secret_env_to_file(text):
    """Rewrites `name: { env: VAR }` entries inside a top-level `secrets:` block to file sources."""
    out, in_secrets = [], False
    for line in text.splitlines(keepends=True):
        if re.match(r"^\S", line):
            in_secrets = line.startswith("secrets:")
        if in_secrets:
            line = re.sub(r"\{ *env: *([A-Za-z_][A-Za-z0-9_]*) *\}",
                          lambda m: "{ file: %s/%s }" % (SECRETS_DIR, m.group(1).lower()), line)
        out.append(line)
    return "".join(out)


def render():
    parts = [HEADER, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: journeyd-journeys\n  labels:\n"
             "    app.kubernetes.io/name: journeyd\n    app.kubernetes.io/part-of: journeyd\ndata:\n"]
    for name in sorted(os.listdir(JOURNEYS)):
        path = os.path.join(JOURNEYS, name)
        if not os.path.isfile(path) or not re.search(r"\.(ya?ml|csv|json|txt)$", name):
            continue
        with open(path) as f:
            text = f.read()
        if re.search(r"^browser:", text, re.M):
            continue  # a browser journey: the manifests run the default image, which has no Chromium
        if name.endswith((".yml", ".yaml")):
            text = secret_env_to_file(text)
        if not text.endswith("\n"):
            text += "\n"
        parts.append("  %s: |\n" % name)
        parts.extend("    " + line if line.strip() else "\n" for line in text.splitlines(keepends=True))
    return "".join(parts)


def main():
    text = render()
    if "--check" in sys.argv[1:]:
        with open(OUT) as f:
            if f.read() != text:
                print("  PROBLEM %s is stale: it differs from journeys/; run python3 deploy/tools/gen_configmap.py"
                      % os.path.relpath(OUT, ROOT))
                return 1
        print("  %s matches journeys/: ok" % os.path.relpath(OUT, ROOT))
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote %s" % os.path.relpath(OUT, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
