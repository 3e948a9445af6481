"""The readers of every tool's output, against outputs recorded from real runs on this machine.

Run: `cd bench && python3 -m unittest harness.test_parsers` (stdlib only; no tool needs to be installed).
"""

import json
import tempfile
import unittest
from pathlib import Path

from . import journeyd, peers, scenarios_rate
from .report import cell
from .targets import parse_stub_status

DATA = Path(__file__).resolve().parent / "testdata"


class PeerParsers(unittest.TestCase):
    def test_wrk(self):
        f = peers.parse_wrk((DATA / "wrk.txt").read_text())
        self.assertEqual(f.requests, 36135)
        self.assertAlmostEqual(f.elapsed_s, 1.08)
        self.assertAlmostEqual(f.rps, 33383.34)
        self.assertAlmostEqual(f.p50, 0.02715)
        self.assertAlmostEqual(f.p90, 0.03445)
        self.assertAlmostEqual(f.p99, 0.03983)
        self.assertEqual(f.errors, 0)

    def test_wrk_counts_socket_errors_and_bad_statuses(self):
        text = (DATA / "wrk.txt").read_text().replace(
            "Requests/sec:", "  Socket errors: connect 3, read 2, write 0, timeout 5\n"
            "  Non-2xx or 3xx responses: 7\nRequests/sec:")
        self.assertEqual(peers.parse_wrk(text).errors, 17)

    def test_wrk_without_summary_is_an_error(self):
        with self.assertRaises(peers.ParseError):
            peers.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")

    def test_oha(self):
        f = peers.parse_oha(DATA / "oha.json")
        self.assertEqual(f.requests, 5068)
        self.assertAlmostEqual(f.p50, 0.006023129)
        self.assertAlmostEqual(f.p99, 0.062643788)
        self.assertAlmostEqual(f.rps, 5068 / 1.006399099)
        # The 50 requests cut off by -z are not the target's errors.
        self.assertEqual(f.errors, 0)

    def test_oha_counts_non_2xx_and_connection_errors(self):
        doc = json.loads((DATA / "oha.json").read_text())
        doc["statusCodeDistribution"]["503"] = 4
        doc["errorDistribution"]["connection refused"] = 6
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "oha.json"
            p.write_text(json.dumps(doc))
            f = peers.parse_oha(p)
        self.assertEqual((f.requests, f.errors), (5072, 10))

    def test_drill(self):
        f = peers.parse_drill((DATA / "drill.txt").read_text())
        self.assertEqual(f.journeys, 800)
        self.assertEqual(f.journey_failures, 0)
        self.assertEqual(f.requests, 3200)
        self.assertIsNotNone(f.p50)

    def test_drill_with_colours(self):
        text = (DATA / "drill.txt").read_text().replace("checkout ", "\x1b[32mcheckout\x1b[0m ")
        self.assertEqual(peers.parse_drill(text).journeys, 800)

    def test_artillery(self):
        f = peers.parse_artillery(DATA / "artillery.json")
        self.assertEqual(f.journeys, 170)
        self.assertEqual(f.requests, 680)
        self.assertEqual(f.journey_failures, 0)
        self.assertEqual(f.errors, 0)
        self.assertAlmostEqual(f.p50, 0.018)

    def test_locust(self):
        f = peers.parse_locust(DATA / "locust")
        entries = json.loads((DATA / "locust.json").read_text())
        chk = next(e for e in entries if e["name"] == "checkout")
        self.assertEqual(f.journeys, chk["num_requests"] - chk["num_failures"])
        self.assertEqual(f.requests, sum(e["num_requests"] for e in entries))
        self.assertLessEqual(f.p50, f.p90)
        self.assertLessEqual(f.p90, f.p99)

    def test_k6_summary_export(self):
        # `k6 run --summary-export` of peers/k6-checkout.js at 800/s for 3 s with 200 VUs on a busy machine
        # (k6 v1.1.0): k6 printed "journeys_completed: 1662 532.23/s", "dropped_iterations: 756",
        # "http_reqs: 6648", "iteration_duration: … med=232.26ms … p(99)=854.65ms".
        f = peers.parse_k6(DATA / "k6-summary.json")
        self.assertEqual((f.journeys, f.journey_failures, f.dropped, f.requests, f.errors), (1662, 0, 756, 6648, 0))
        self.assertAlmostEqual(f.elapsed_s, 1662 / 532.2343198894549)
        self.assertAlmostEqual(f.p50, 0.232261613)
        self.assertAlmostEqual(f.p99, 0.8546591111)
        self.assertAlmostEqual(f.rps, 2128.9372795578197)

    def test_k6_failed_journeys(self):
        # The same script with a wrong password and 2 VUs for 2 s: every login answered 401, so no
        # journeys_completed counter at all (k6 leaves out counters never added to).
        f = peers.parse_k6(DATA / "k6-summary-failed.json")
        self.assertEqual((f.journeys, f.journey_failures, f.dropped, f.errors), (0, 1492, 111, 1492))

    def test_k6_without_metrics_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "k6.json"
            p.write_text(json.dumps({"root_group": {}, "metrics": {"vus": {"value": 0}}}))
            with self.assertRaises(peers.ParseError):
                peers.parse_k6(p)
            with self.assertRaises(peers.ParseError):
                peers.parse_k6(Path(d) / "absent.json")

    def test_k6_sends_nothing_off_the_machine(self):
        argv = peers.k6_argv(Path("out.json"))
        self.assertIn("--no-usage-report", argv)
        self.assertEqual(argv[argv.index("--address") + 1], "")
        self.assertEqual(peers.k6_env("http://x", "pw", 800, 3, 200)["DURATION"], "3s")

    def test_nginx_stub_status(self):
        # nginx 1.22's stub_status after two readiness checks, three https GETs and this request.
        self.assertEqual(parse_stub_status((DATA / "nginx-stub-status.txt").read_text()), 6)
        self.assertIsNone(parse_stub_status("<html>404 Not Found</html>"))


class FloorParser(unittest.TestCase):
    def test_floor_summary(self):
        out = '{"journeys": 15998, "failed": 2, "dropped": 1, "late": 3, "user_s": 0.095173, "system_s": 1.142081}\n'
        f = scenarios_rate.parse_floor(out, 20)
        self.assertEqual((f.journeys, f.journey_failures, f.requests, f.dropped), (15998, 2, 64000, 1))
        self.assertEqual(f.notes, ["3 arrivals started more than one gap late"])

    def test_floor_without_summary_is_an_error(self):
        with self.assertRaises(peers.ParseError):
            scenarios_rate.parse_floor("connect 127.0.0.1:1: Connection refused\n", 20)


class JourneydReport(unittest.TestCase):
    def test_list_of_journeys(self):
        r = journeyd.parse_report(DATA / "journeyd-report.json", "checkout")
        self.assertEqual((r.journey.runs, r.journey.failures, r.journey.requests), (1200, 3, 4791))
        self.assertEqual(r.journey.p99, 0.052)
        self.assertEqual(r.steps["login"].failures, 1)
        self.assertEqual(r.elapsed_s, 20.01)

    def test_journeys_keyed_by_name_with_nested_latency(self):
        doc = {"journeys": {"get-static": {"runs": 10, "failures": 0, "requests": 10,
                                           "latency": {"p50": 0.001, "p90": 0.002, "p99": 0.5, "max": 0.9}}}}
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "r.json"
            p.write_text(json.dumps(doc))
            r = journeyd.parse_report(p, "get-static")
        self.assertEqual((r.journey.runs, r.journey.p99, r.elapsed_s), (10, 0.5, None))

    def test_verify_report_schema_1(self):
        # Written by `journeyd verify --users 4 --for 2s --report` (checkout journey against the shop);
        # its terminal summary said: checkout p50 11.9ms, p90 16.0ms, p99 35.7ms, max 73.0ms; login p50 3.14ms.
        r = journeyd.parse_report(DATA / "journeyd-verify-checkout.json", "checkout")
        self.assertEqual((r.journey.runs, r.journey.failures, r.journey.requests), (618, 0, 4 * 618))
        self.assertAlmostEqual(r.journey.p50, 0.0119, delta=0.0001)
        self.assertAlmostEqual(r.journey.p90, 0.0160, delta=0.0001)
        self.assertAlmostEqual(r.journey.p99, 0.0357, delta=0.0001)
        self.assertAlmostEqual(r.journey.max, 0.0730, delta=0.0001)
        self.assertAlmostEqual(r.steps["login"].p50, 0.00314, delta=0.00001)
        self.assertAlmostEqual(r.elapsed_s, 2.021, delta=0.001)

    def test_hist_quantile(self):
        buckets = [[100, 50], [200, 40], [1000, 9], [5000, 1]]
        self.assertEqual(journeyd.hist_quantile(buckets, 0.5), 100e-6)
        self.assertEqual(journeyd.hist_quantile(buckets, 0.9), 200e-6)
        self.assertEqual(journeyd.hist_quantile(buckets, 0.99), 1000e-6)
        self.assertEqual(journeyd.hist_quantile(buckets, 1.0), 5000e-6)
        self.assertIsNone(journeyd.hist_quantile([], 0.5))

    def test_missing_journey_and_missing_file_are_errors(self):
        with self.assertRaises(journeyd.ReportError):
            journeyd.parse_report(DATA / "journeyd-report.json", "nope")
        with self.assertRaises(journeyd.ReportError):
            journeyd.parse_report(DATA / "absent.json", "checkout")

    def test_runs_by_outcome_from_metrics(self):
        # /metrics of `journeyd run` with one journey answered 200 and one whose connection was refused (the
        # runs counter and its neighbours; other families left out).
        runs = journeyd.runs_by_outcome((DATA / "journeyd-metrics.txt").read_text())
        self.assertEqual(runs, {"cancelled": 0.0, "failure": 2.0, "success": 2.0})
        self.assertEqual(journeyd.runs_by_outcome("up 1\n"), {})

    def test_command_lines(self):
        argv = journeyd.verify_open_argv("http://x", 200, 2000, 30, Path("r.json"), Path("j.yml"))
        self.assertEqual(argv[1:], ["verify", "--target", "http://x", "--rate", "200/s", "--max-users", "2000",
                                    "--for", "30s", "--report", "r.json", "j.yml"])
        argv = journeyd.verify_closed_argv("http://x", 50, 1.5, Path("r.json"), Path("j.yml"))
        self.assertEqual(argv[argv.index("--for") + 1], "1500ms")


class Report(unittest.TestCase):
    def test_cells_cannot_break_tables(self):
        self.assertEqual(cell("exit 2; a | b\n c"), "exit 2; a / b c")


if __name__ == "__main__":
    unittest.main()
