#!/usr/bin/env python3
"""Checks the Kubernetes manifests for what a schema cannot see: the references between objects.

    check_manifests.py deploy/kubernetes/*.yaml
    check_manifests.py --self-test deploy/kubernetes/*.yaml   # also prove each check catches its mistake

Schema validation (kubernetes-validate, run by .ci/deploy-check) checks each object's fields. This checks:
- every object's apiVersion/kind is a known pair, and names are unique per kind;
- workloads: selector.matchLabels is a subset of the pod template's labels;
- containers: volumeMounts name pod volumes; probes name (or number) a port of their own container;
  ConfigMap, Secret and PVC volumes and secretKeyRefs name objects (and keys) defined here;
  env `$(VAR)` references in args are defined in the container's env (or set by Kubernetes);
- journeyd containers: non-root, readOnlyRootFilesystem, no privilege escalation, small requests
  (cpu 50m, memory 64Mi); port `http` = the `--listen` port; liveness /-/healthy and readiness /-/ready
  (long-running ones); every `{{ env.X }}` in the mounted journeys is set; every secret file they read is
  mounted from a Secret key;
- sharding: `--shard $(VAR)/N` has N = the StatefulSet's replicas or the Indexed Job's completions, and the
  index comes from the pod-index label (StatefulSet) or JOB_COMPLETION_INDEX (Job); the merge Job reads
  report-0 … report-(N-1);
- Services select the pods of some workload and their targetPorts exist there; a StatefulSet's serviceName
  is a headless Service;
- the ServiceMonitor selects Services by their labels and scrapes a port they name (`http`);
- journeyd's write endpoints (`--enable-lifecycle`, `--enable-admin-api`, or their JOURNEYD_* variables) are
  only switched on together with `--web-config`, and a web-config Secret defined here sets basic_auth_users.
Exit 0 clean, 1 problems found.
"""

import copy
import re
import sys

import yaml

KINDS = {
    ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "PersistentVolumeClaim"),
    ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"), ("batch/v1", "CronJob"), ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule"),
}
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
# Set in the container's environment by Kubernetes itself.
K8S_ENV = {"JOB_COMPLETION_INDEX"}
POD_INDEX = "metadata.labels['apps.kubernetes.io/pod-index']"
SERVICE_MONITOR_ENDPOINT_KEYS = {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "honorLabels",
                                 "honorTimestamps", "relabelings", "metricRelabelings", "tlsConfig", "basicAuth",
                                 "bearerTokenSecret", "authorization", "params", "followRedirects", "proxyUrl"}


def load(paths):
    docs = []
    for path in paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs.append((path, doc))
    return docs


def is_journeyd(container):
    return "journeyd" in container.get("image", "").split("/")[-1].split(":")[0] and \
        (container.get("args") or [""])[0] in ("run", "verify")


# journeyd flags that take a value (the rest of the arguments are journey paths).
VALUE_FLAGS = {"--listen", "--shard", "--report", "--settings", "--web-config", "--output", "--grace",
               "--log-format", "--log-level", "--max-connections"}
# Flags that open journeyd's write endpoints, and the environment variables that do the same.
WRITE_FLAGS = {"--enable-lifecycle": "JOURNEYD_ENABLE_LIFECYCLE", "--enable-admin-api": "JOURNEYD_ENABLE_ADMIN_API"}


def positional(args):
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in VALUE_FLAGS:
            skip = True
        elif not a.startswith("-"):
            out.append(a)
    return out


def parse_quantity(q, unit):
    q = str(q)
    if unit == "cpu":
        return float(q[:-1]) / 1000 if q.endswith("m") else float(q)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?", q)
    mult = {None: 1, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]
    return float(m.group(1)) * mult


def check(docs):
    problems = []
    add = problems.append
    objs = {}
    for path, d in docs:
        where = "%s: %s/%s" % (path, d.get("kind"), d.get("metadata", {}).get("name"))
        if (d.get("apiVersion"), d.get("kind")) not in KINDS:
            add("%s: unknown apiVersion/kind pair %s/%s" % (where, d.get("apiVersion"), d.get("kind")))
        if not d.get("metadata", {}).get("name"):
            add("%s: metadata.name is missing" % where)
        key = (d.get("kind"), d.get("metadata", {}).get("name"))
        if key in objs:
            add("%s: defined twice" % where)
        objs[key] = (where, d)

    def obj(kind, name):
        return objs.get((kind, name), (None, None))[1]

    configmaps = {n: d.get("data", {}) for (k, n), (_, d) in objs.items() if k == "ConfigMap"}
    secrets = {n: dict(d.get("stringData", {}), **d.get("data", {})) for (k, n), (_, d) in objs.items() if k == "Secret"}
    pods = []  # (where, workload, pod template labels, pod spec)

    for (kind, name), (where, d) in objs.items():
        if kind not in WORKLOADS:
            continue
        spec = d.get("spec", {})
        tmpl = spec.get("template", {})
        labels = tmpl.get("metadata", {}).get("labels", {})
        sel = spec.get("selector", {}).get("matchLabels")
        if kind != "Job" or sel is not None:
            if not sel or any(labels.get(k) != v for k, v in sel.items()):
                add("%s: selector.matchLabels %r does not match the pod template labels %r" % (where, sel, labels))
        pods.append((where, d, labels, tmpl.get("spec", {})))
        if kind == "StatefulSet":
            svc = obj("Service", spec.get("serviceName"))
            if not svc or svc.get("spec", {}).get("clusterIP") != "None":
                add("%s: serviceName %r is not a headless Service defined here" % (where, spec.get("serviceName")))

    for where, wl, labels, pod in pods:
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for v in volumes.values():
            if "configMap" in v and v["configMap"].get("name") not in configmaps:
                add("%s: volume %s: ConfigMap %r is not defined" % (where, v["name"], v["configMap"].get("name")))
            if "secret" in v:
                sname = v["secret"].get("secretName")
                if sname not in secrets:
                    add("%s: volume %s: Secret %r is not defined" % (where, v["name"], sname))
                for item in v["secret"].get("items", []):
                    if item["key"] not in secrets.get(sname, {}):
                        add("%s: volume %s: Secret %s has no key %r" % (where, v["name"], sname, item["key"]))
            if "persistentVolumeClaim" in v and not obj("PersistentVolumeClaim", v["persistentVolumeClaim"].get("claimName")):
                add("%s: volume %s: PVC %r is not defined" % (where, v["name"], v["persistentVolumeClaim"].get("claimName")))
        for c in pod.get("containers", []):
            cw = "%s container %s" % (where, c.get("name"))
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            mounts = {}
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    add("%s: volumeMount %r names no volume of the pod" % (cw, m["name"]))
                mounts[m["mountPath"]] = volumes.get(m["name"], {})
            env = {e["name"]: e for e in c.get("env", [])}
            for e in env.values():
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref.get("key") not in secrets.get(ref.get("name"), {}):
                    add("%s: env %s: Secret %r key %r is not defined" % (cw, e["name"], ref.get("name"), ref.get("key")))
            args = [str(a) for a in c.get("args", [])]
            for a in args:
                for var in re.findall(r"\$\((\w+)\)", a):
                    if var not in env and var not in K8S_ENV:
                        add("%s: args use $(%s), which the container's env does not define" % (cw, var))
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = c.get(probe, {}).get("httpGet", c.get(probe, {}).get("tcpSocket", {})).get("port")
                if port is not None and port not in ports and port not in ports.values():
                    add("%s: %s port %r is not a port of this container" % (cw, probe, port))
            if not is_journeyd(c):
                continue
            problems.extend(check_journeyd(cw, wl, c, args, ports, env, mounts, pod, configmaps, secrets))

    services = [(where, d) for (k, _), (where, d) in objs.items() if k == "Service"]
    for where, svc in services:
        sel = svc.get("spec", {}).get("selector", {})
        matched = [p for p in pods if sel and all(p[2].get(k) == v for k, v in sel.items())]
        if not matched:
            add("%s: selector %r matches no workload's pods" % (where, sel))
        for port in svc.get("spec", {}).get("ports", []):
            tp = port.get("targetPort", port.get("port"))
            for pw, _, _, pod in matched:
                names = {p.get("name"): p["containerPort"] for c in pod.get("containers", []) for p in c.get("ports", [])}
                if tp not in names and tp not in names.values():
                    add("%s: port %s targets %r, which %s does not expose" % (where, port.get("name"), tp, pw))

    for (kind, name), (where, sm) in objs.items():
        if kind != "ServiceMonitor":
            continue
        spec = sm.get("spec", {})
        sel = spec.get("selector", {}).get("matchLabels", {})
        chosen = [(w, s) for w, s in services if sel and all(s["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())]
        if not chosen:
            add("%s: selector %r matches no Service's labels" % (where, sel))
        job_label = spec.get("jobLabel")
        for w, s in chosen:
            if job_label and s["metadata"].get("labels", {}).get(job_label) != "journeyd":
                add("%s: jobLabel %s gives job=%r for %s, rules.yml expects job=\"journeyd\""
                    % (where, job_label, s["metadata"].get("labels", {}).get(job_label), w))
        if not spec.get("endpoints"):
            add("%s: no endpoints" % where)
        for ep in spec.get("endpoints", []):
            unknown = set(ep) - SERVICE_MONITOR_ENDPOINT_KEYS
            if unknown:
                add("%s: endpoint has unknown fields %s" % (where, sorted(unknown)))
            if ep.get("port") != "http":
                add("%s: endpoint port is %r, journeyd's port is named http" % (where, ep.get("port")))
            for w, s in chosen:
                if ep.get("port") not in [p.get("name") for p in s["spec"].get("ports", [])]:
                    add("%s: endpoint port %r is not a port name of %s" % (where, ep.get("port"), w))
    return problems


def check_journeyd(cw, wl, c, args, ports, env, mounts, pod, configmaps, secrets):
    out = []
    add = out.append
    kind, spec = wl["kind"], wl.get("spec", {})
    long_running = args[0] == "run"
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot")) and csc.get("runAsUser", psc.get("runAsUser", 0)) != 0):
        add("%s: must run as a non-root user (runAsNonRoot and a non-zero runAsUser)" % cw)
    if not csc.get("readOnlyRootFilesystem"):
        add("%s: securityContext.readOnlyRootFilesystem must be true" % cw)
    if csc.get("allowPrivilegeEscalation") is not False:
        add("%s: securityContext.allowPrivilegeEscalation must be false" % cw)
    req = c.get("resources", {}).get("requests", {})
    try:
        if parse_quantity(req.get("cpu"), "cpu") != 0.05 or parse_quantity(req.get("memory"), "mem") != 64 * 1024 ** 2:
            add("%s: requests must be cpu 50m, memory 64Mi (got %r)" % (cw, req))
    except (TypeError, AttributeError, ValueError):
        add("%s: requests must be cpu 50m, memory 64Mi (got %r)" % (cw, req))
    if long_running:
        listen = args[args.index("--listen") + 1] if "--listen" in args else None
        if not listen or ports.get("http") != int(listen.rsplit(":", 1)[1]):
            add("%s: port `http` (%r) must be the --listen port (%r)" % (cw, ports.get("http"), listen))
        for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
            got = c.get(probe, {}).get("httpGet", {})
            if got.get("path") != path or got.get("port") not in ("http", ports.get("http")):
                add("%s: %s must be GET %s on port http (got %r)" % (cw, probe, path, got))

    out.extend(check_write_endpoints(cw, args, env, mounts, secrets))

    # Sharding: the N in --shard must be the number of pods that split the journeys.
    if "--shard" in args:
        shard = args[args.index("--shard") + 1]
        m = re.fullmatch(r"\$\((\w+)\)/(\d+)", shard)
        if not m:
            add("%s: --shard %r is not $(INDEX_VAR)/N" % (cw, shard))
        else:
            var, n = m.group(1), int(m.group(2))
            if kind == "StatefulSet":
                if n != spec.get("replicas"):
                    add("%s: --shard %s but replicas is %r" % (cw, shard, spec.get("replicas")))
                if env.get(var, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != POD_INDEX:
                    add("%s: %s must come from the pod-index label (%s)" % (cw, var, POD_INDEX))
            elif kind == "Job":
                if spec.get("completionMode") != "Indexed" or var != "JOB_COMPLETION_INDEX":
                    add("%s: a sharded Job must be Indexed and use $(JOB_COMPLETION_INDEX)" % cw)
                if not n == spec.get("completions") == spec.get("parallelism"):
                    add("%s: --shard %s but completions=%r parallelism=%r" % (cw, shard, spec.get("completions"), spec.get("parallelism")))
                if "--report" in args and "$(JOB_COMPLETION_INDEX)" not in args[args.index("--report") + 1]:
                    add("%s: --report must name a per-index file" % cw)
            else:
                add("%s: --shard needs a stable index: use a StatefulSet or an Indexed Job, not a %s" % (cw, kind))
    elif kind == "StatefulSet" and spec.get("replicas", 1) > 1:
        add("%s: %d replicas without --shard run every journey %d times" % (cw, spec["replicas"], spec["replicas"]))

    # The mounted journeys: their env references and secret files must be provided.
    journeys_dir = next((p for p in positional(args[1:]) if p.startswith("/")), None)
    vol = mounts.get(journeys_dir)
    if not vol or "configMap" not in vol:
        add("%s: the journeys path %r is not a mounted ConfigMap" % (cw, journeys_dir))
        return out
    for fname, text in sorted(configmaps.get(vol["configMap"]["name"], {}).items()):
        if not fname.endswith((".yml", ".yaml")):
            continue
        journey = yaml.safe_load(text) or {}
        for var in sorted(set(re.findall(r"\{\{\s*env\.(\w+)\s*\}\}", text))):
            if var not in env:
                add("%s: journey %s uses {{ env.%s }}, which the container does not set" % (cw, fname, var))
        for sname, src in (journey.get("secrets") or {}).items():
            if "env" in src and src["env"] not in env:
                add("%s: journey %s secret %s reads env %s, which the container does not set" % (cw, fname, sname, src["env"]))
            if "file" in src:
                d, base = src["file"].rsplit("/", 1)
                sv = mounts.get(d, {}).get("secret")
                items = {i["path"]: i["key"] for i in (sv or {}).get("items", [])} if sv else {}
                key = items.get(base, base if sv and not sv.get("items") else None)
                if not sv or key not in secrets.get(sv.get("secretName"), {}):
                    add("%s: journey %s secret %s reads %s, which no mounted Secret key provides" % (cw, fname, sname, src["file"]))
    return out


def check_write_endpoints(cw, args, env, mounts, secrets):
    """Reload and maintenance windows silence the pager: never on a port anyone can reach without a password."""
    out = []
    truthy = lambda e: str(e.get("value", "")).lower() in ("true", "1", "yes", "on") if e else False
    opened = [f for f, var in WRITE_FLAGS.items() if f in args or truthy(env.get(var))]
    if not opened:
        return out
    web = args[args.index("--web-config") + 1] if "--web-config" in args else env.get("JOURNEYD_WEB_CONFIG", {}).get("value")
    if not web:
        out.append("%s: %s without --web-config: anyone who reaches the port could reload or silence alerts; "
                   "add --web-config with basic_auth_users (web-config.example.yaml)" % (cw, " and ".join(opened)))
        return out
    # The file's Secret, when it is defined here: it must set users.
    directory, _, fname = web.rpartition("/")
    vol = mounts.get(directory, {})
    sname = vol.get("secret", {}).get("secretName")
    if sname in secrets:
        key = next((i["key"] for i in vol["secret"].get("items", []) if i["path"] == fname), fname)
        try:
            users = (yaml.safe_load(secrets[sname].get(key) or "") or {}).get("basic_auth_users")
        except yaml.YAMLError:
            users = None
        if not users:
            out.append("%s: %s with --web-config %s, but Secret %s key %s sets no basic_auth_users"
                       % (cw, " and ".join(opened), web, sname, key))
    return out


def self_test(docs):
    """Applies one mistake at a time and requires the checker to report it."""

    def find(kind, name=None):
        return next(d for _, d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name))

    def jd(d):
        return next(c for c in d["spec"]["template"]["spec"]["containers"] if is_journeyd(c))

    def setarg(c, flag, value):
        c["args"][c["args"].index(flag) + 1] = value

    mutations = [
        ("selector", lambda: find("Deployment")["spec"]["selector"]["matchLabels"].update({"x": "y"})),
        ("volumeMount", lambda: jd(find("Deployment"))["volumeMounts"][0].update({"name": "nope"})),
        ("ConfigMap", lambda: find("Deployment")["spec"]["template"]["spec"]["volumes"][0]["configMap"].update({"name": "nope"})),
        ("Secret has no key", lambda: find("Secret")["stringData"].clear()),
        ("probe port", lambda: jd(find("StatefulSet"))["livenessProbe"]["httpGet"].update({"port": "metrics"})),
        ("readiness path", lambda: jd(find("Deployment"))["readinessProbe"]["httpGet"].update({"path": "/ready"})),
        ("non-root", lambda: find("Deployment")["spec"]["template"]["spec"]["securityContext"].update({"runAsNonRoot": False})),
        ("readOnlyRootFilesystem", lambda: jd(find("StatefulSet"))["securityContext"].pop("readOnlyRootFilesystem")),
        ("requests", lambda: jd(find("Deployment"))["resources"]["requests"].update({"cpu": "500m"})),
        ("--listen port", lambda: setarg(jd(find("StatefulSet")), "--listen", "0.0.0.0:9999")),
        ("--shard N", lambda: find("StatefulSet")["spec"].update({"replicas": 4})),
        ("--shard index", lambda: jd(find("StatefulSet"))["env"][0]["valueFrom"]["fieldRef"].update({"fieldPath": "metadata.name"})),
        ("Job completions", lambda: find("Job", "journeyd-verify")["spec"].update({"completions": 2})),
        ("SHOP_URL", lambda: jd(find("Deployment"))["env"].pop(0)),
        ("secret file", lambda: find("Deployment")["spec"]["template"]["spec"]["volumes"][1]["secret"]["items"][0].update({"path": "pw"})),
        ("Service selector", lambda: find("Service", "journeyd")["spec"]["selector"].update({"app.kubernetes.io/name": "x"})),
        ("Service targetPort", lambda: find("Service", "shop-journeyd")["spec"]["ports"][0].update({"targetPort": "metrics"})),
        ("headless", lambda: find("Service", "journeyd")["spec"].pop("clusterIP")),
        ("ServiceMonitor selector", lambda: find("ServiceMonitor")["spec"]["selector"]["matchLabels"].update({"a": "b"})),
        ("ServiceMonitor port", lambda: find("ServiceMonitor")["spec"]["endpoints"][0].update({"port": "web"})),
        ("ServiceMonitor jobLabel", lambda: find("ServiceMonitor")["spec"].update({"jobLabel": "app.kubernetes.io/name"})),
        ("kind", lambda: find("Service", "shop").update({"apiVersion": "apps/v1"})),
        ("$(VAR)", lambda: setarg(jd(find("StatefulSet")), "--shard", "$(ORDINAL)/3")),
        ("write API without --web-config", lambda: jd(find("StatefulSet"))["args"].insert(1, "--enable-admin-api")),
        ("lifecycle by env without --web-config",
         lambda: jd(find("Deployment"))["env"].append({"name": "JOURNEYD_ENABLE_LIFECYCLE", "value": "true"})),
        ("web-config without users", lambda: enable_writes_with_web_config(users=False)),
    ]

    def enable_writes_with_web_config(users):
        """The recipe of web-config.example.yaml applied to the StatefulSet, with or without its users."""
        sts, secret = find("StatefulSet"), find("Secret", "journeyd-web-config")
        c = jd(sts)
        c["args"][1:1] = ["--enable-lifecycle", "--enable-admin-api", "--web-config", "/etc/journeyd/web/web.yml"]
        c.setdefault("volumeMounts", []).append({"name": "web-config", "mountPath": "/etc/journeyd/web", "readOnly": True})
        sts["spec"]["template"]["spec"]["volumes"].append({"name": "web-config", "secret": {"secretName": "journeyd-web-config"}})
        if not users:
            secret["stringData"]["web.yml"] = "http_server_config:\n  headers: {X-Frame-Options: deny}\n"

    # The recipe itself must pass: a checker that refuses every use of the write API proves nothing.
    pristine_for_recipe = copy.deepcopy(docs)
    enable_writes_with_web_config(users=True)
    recipe = check(docs)
    if recipe:
        print("  SELF-TEST the documented write-API recipe is refused: %s" % recipe)
    docs[:] = pristine_for_recipe
    pristine = copy.deepcopy(docs)
    failed = 0
    for name, mutate in mutations:
        docs[:] = copy.deepcopy(pristine)
        try:
            mutate()
        except (StopIteration, KeyError, IndexError, ValueError) as e:
            print("  SELF-TEST cannot apply %r: %r" % (name, e))
            failed += 1
            continue
        if not check(docs):
            print("  SELF-TEST the checker missed: %s" % name)
            failed += 1
    docs[:] = pristine
    print("  self-test: %d of %d deliberate mistakes caught" % (len(mutations) - failed, len(mutations)))
    return failed + (1 if recipe else 0)


def main(argv):
    selftest = "--self-test" in argv
    paths = [a for a in argv if a != "--self-test"]
    docs = load(paths)
    problems = check(docs)
    for p in problems:
        print("  PROBLEM " + p)
    print("  %d objects in %d files, cross-references checked: %s" % (len(docs), len(paths), "FAILED" if problems else "ok"))
    bad = bool(problems)
    if selftest and not problems:
        bad = self_test(docs) > 0
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: check_manifests.py [--self-test] MANIFEST.yaml...")
    sys.exit(main(sys.argv[1:]))
