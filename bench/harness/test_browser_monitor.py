"""The browser-monitor scenario's readers, against process tables recorded from real runs on this machine.

Run: `cd bench && python3 -m unittest harness.test_browser_monitor` (stdlib only; no Chromium needed).

Each `procs-*.tsv` holds one line per process of a `journeyd run` cgroup during the scenario:
`comm`, the command line (NULs as spaces, cut at 600 characters) and the `/proc/PID/stat` line, tab-separated.
"""

import tempfile
import unittest
from pathlib import Path

from . import scenarios_browser_monitor as bm

DATA = Path(__file__).resolve().parent / "testdata"


def recorded(name: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in (DATA / name).read_text().splitlines():
        comm, cmdline, stat = line.split("\t")
        rows.append((comm, cmdline, stat))
    return rows


class Kinds(unittest.TestCase):
    def kinds(self, name: str) -> list[str]:
        return [bm.kind_of(cmdline, comm) for comm, cmdline, _ in recorded(name)]

    def test_headless_shell_tree(self):
        kinds = self.kinds("procs-chromium-headless-shell.tsv")
        # journeyd; Debian's wrapper script and the browser itself (no --type); the lifeline shell; two
        # zygotes (they reap the renderers); the GPU process; the network service; one live renderer.
        self.assertEqual(sorted(kinds), sorted(["journeyd", "browser", "other", "browser", "renderer", "renderer",
                                                "gpu", "network", "renderer"]))

    def test_full_chromium_tree(self):
        kinds = self.kinds("procs-chromium.tsv")
        # Full Chromium (Debian's wrapper execs it) adds two crash reporters and the storage service; its
        # renderers include one for its own (headless) browser UI.
        self.assertEqual(sorted(kinds), sorted(["journeyd", "browser", "other", "other", "renderer", "other",
                                                "renderer", "gpu", "network", "storage", "renderer", "renderer"]))

    def test_kind_of_without_chromium_names(self):
        self.assertEqual(bm.kind_of("/usr/bin/python3 x.py", "python3"), "other")
        self.assertEqual(bm.kind_of("/opt/chrome/chrome --type=utility --utility-sub-type=audio.mojom.AudioService",
                                    "chrome"), "utility")
        self.assertEqual(bm.kind_of("/opt/chrome/chrome --type=crashpad-handler", "chrome"), "other")


class Stat(unittest.TestCase):
    def test_own_and_reaped_ticks(self):
        browser = next(stat for comm, cmd, stat in recorded("procs-chromium-headless-shell.tsv")
                       if cmd.startswith("/usr/lib/chromium/chromium-headless-shell --headless"))
        self.assertEqual(bm.parse_stat(browser), (96 + 42, 0))
        zygote = next(stat for comm, cmd, stat in recorded("procs-chromium-headless-shell.tsv")
                      if "--type=zygote --no-sandbox" in cmd)
        # The zygote that forks renderers has reaped the renderers of closed contexts: cutime 170, cstime 77.
        self.assertEqual(bm.parse_stat(zygote), (2 + 26, 170 + 77))

    def test_command_with_parentheses_and_spaces(self):
        line = "42 (a (b) c) S 1 42 42 0 -1 4194304 0 0 0 0 7 3 5 1 20 0 1 0 100 0 0"
        self.assertEqual(bm.parse_stat(line), (10, 6))


class Metrics(unittest.TestCase):
    def test_runs_and_failures_from_journeyd_metrics(self):
        text = (DATA / "journeyd-metrics.txt").read_text()
        # Recorded: journey "ok" 2 successes, "refused" 2 failures.
        self.assertEqual(bm.runs_and_failures(text), (4.0, 2.0))

    def test_no_runs_yet(self):
        self.assertEqual(bm.runs_and_failures("# HELP up x\nup 1\n"), (0.0, 0.0))


class Journeys(unittest.TestCase):
    def test_ten_named_copies_every_30s_with_their_accounts(self):
        with tempfile.TemporaryDirectory() as d:
            bm.write_journeys(Path(d))
            files = sorted(p.name for p in Path(d).glob("*.yml"))
            self.assertEqual(files, [f"browser-monitor-{i:02d}.yml" for i in range(1, 11)])
            text = (Path(d) / "browser-monitor-07.yml").read_text()
            self.assertIn("\nname: browser-monitor-07\n", text)
            self.assertIn("\nevery: 30s\n", text)
            self.assertNotIn("every: 60s", text)
            # Everything else is the checkout journey's, steps and checks included.
            original = bm.BROWSER_JOURNEY.read_text()
            self.assertEqual(text.count("\n"), original.count("\n"))
            self.assertIn("- name: checkout", text)
            self.assertTrue((Path(d) / "accounts.csv").exists())


if __name__ == "__main__":
    unittest.main()
