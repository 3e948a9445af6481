"""Checks the CI examples under deploy/ci/: each file parses as YAML with the shape its CI system reads
(GitHub Actions: `on` and jobs whose steps each `run` or `uses`; GitLab: jobs with a `script`), and, given
a built journeyd, every journeyd command they run exists with every flag they pass (compared with the
binary's own `--help`).

    python3 check_ci.py [--journeyd BIN] FILE...

A Kubernetes manifest among the files (Argo's AnalysisTemplates) is checked the same way: every container
running a journeyd image, its `args` as the command line.
"""

import re
import shlex
import subprocess
import sys

import yaml

# How the examples call journeyd: directly, or through a variable holding its path.
INVOCATIONS = {"journeyd", "/journeyd", "./bin/journeyd", "$JOURNEYD", "${JOURNEYD}"}
FLAG = re.compile(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)")


def github_scripts(doc, where):
    problems, scripts = [], []
    if True not in doc and "on" not in doc:
        problems.append("%s: no `on:` (what triggers the workflow)" % where)
    jobs = doc.get("jobs") or {}
    if not jobs:
        problems.append("%s: no jobs" % where)
    for name, job in jobs.items():
        if "runs-on" not in job:
            problems.append("%s: job %s has no runs-on" % (where, name))
        for i, step in enumerate(job.get("steps") or []):
            if ("run" in step) == ("uses" in step):
                problems.append("%s: job %s step %d needs exactly one of run, uses" % (where, name, i))
            if "run" in step:
                scripts.append(("%s job %s step %r" % (where, name, step.get("name", i)), step["run"]))
    return problems, scripts


def gitlab_scripts(doc, where):
    problems, scripts = [], []
    jobs = {k: v for k, v in doc.items() if not k.startswith(".") and k not in ("stages", "variables", "include",
                                                                              "default", "workflow")}
    if not jobs:
        problems.append("%s: no jobs" % where)
    for name, job in jobs.items():
        script = job.get("script")
        if not isinstance(script, list) or not script:
            problems.append("%s: job %s has no script list" % (where, name))
            continue
        scripts += [("%s job %s" % (where, name), line) for line in script]
    return problems, scripts


def calls(script):
    """(subcommand, [flags]) of every journeyd command line in a shell script."""
    text = script.replace("\\\n", " ")
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        for i, w in enumerate(words):
            if w in INVOCATIONS:
                rest = words[i + 1:]
                sub = rest[0] if rest and not rest[0].startswith("-") else ""
                flags = [f.split("=")[0] for f in rest if FLAG.fullmatch(f.split("=")[0])]
                yield sub, flags
                break


def containers(node):
    """Every container spec (a mapping with `image` and `name`) anywhere in a manifest."""
    if isinstance(node, dict):
        if "image" in node and "name" in node:
            yield node
        for v in node.values():
            yield from containers(v)
    elif isinstance(node, list):
        for v in node:
            yield from containers(v)


def manifest_calls(path):
    for doc in yaml.safe_load_all(open(path)):
        for c in containers(doc or {}):
            if c["image"].split("/")[-1].startswith("journeyd:"):
                args = c.get("args") or []
                sub = args[0] if args and not args[0].startswith("-") else ""
                where = "%s %s/%s container %s" % (path, doc.get("kind"), doc["metadata"]["name"], c["name"])
                yield where, sub, [a for a in args if FLAG.fullmatch(a)]


def known_flags(binary, sub):
    args = [binary] + ([sub] if sub else []) + ["--help"]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return set(FLAG.findall(out.stdout)) | {"--help", "--version"}


def unknown(binary, used):
    """The commands and flags in `used` that the binary does not have (nothing to compare without one)."""
    problems = []
    for where, sub, flags in used if binary else []:
        known = known_flags(binary, sub)
        if known is None:
            problems.append("%s: journeyd has no command %r" % (where, sub))
            continue
        problems += ["%s: `journeyd %s` has no flag %s" % (where, sub, f) for f in flags if f not in known]
    return problems


def summary(used):
    return "; ".join(sorted({"journeyd %s %s" % (sub, " ".join(sorted(set(flags)))) for _, sub, flags in used}))


def main(args):
    binary = None
    if args[:1] == ["--journeyd"]:
        binary, args = args[1], args[2:]
    problems = []
    for path in args:
        docs = list(yaml.safe_load_all(open(path)))
        if any(isinstance(d, dict) and "apiVersion" in d for d in docs):
            used = list(manifest_calls(path))
            if not used:
                problems.append("%s: no container runs a journeyd image" % path)
            problems += unknown(binary, used)
            print("%s (Kubernetes): %s" % (path, summary(used)))
            continue
        doc = docs[0] if docs else None
        if not isinstance(doc, dict):
            problems.append("%s: not a YAML mapping" % path)
            continue
        github = "jobs" in doc
        found, scripts = (github_scripts if github else gitlab_scripts)(doc, path)
        problems += found
        used = [(where, sub, flags) for where, s in scripts for sub, flags in calls(s)]
        if not used:
            problems.append("%s: runs no journeyd command" % path)
        problems += unknown(binary, used)
        print("%s (%s): %s" % (path, "GitHub Actions" if github else "GitLab CI", summary(used)))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
