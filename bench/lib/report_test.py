#!/usr/bin/env python3
"""Tests for report.py: medians over rounds, ratios paired within a round, added latency, bars, warnings.

Run: python3 -m unittest discover -s bench/lib -p '*_test.py'
"""
import json
import pathlib
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # keep bench/lib free of __pycache__
sys.path.insert(0, str(HERE))
import report  # noqa: E402

COLUMNS = ("round target mode conns requests duration_s rps p50_us p90_us p99_us p999_us errors "
           "proxy_cpu_us_per_req mock_cpu_us_per_req telemetry_dropped").split()


def row(rnd, target, mode, conns, rps, p50, cpu, errors=0, dropped=""):
    values = dict(round=rnd, target=target, mode=mode, conns=conns, requests=int(rps * 10), duration_s="10.000",
                  rps=rps, p50_us=p50, p90_us=p50 * 2, p99_us=p50 * 3, p999_us=p50 * 4, errors=errors,
                  proxy_cpu_us_per_req="" if cpu is None else cpu, mock_cpu_us_per_req=10.0,
                  telemetry_dropped=dropped)
    return "\t".join(str(values[c]) for c in COLUMNS)


class ReportTest(unittest.TestCase):
    def write(self, rows, **extra):
        self.tmp = tempfile.TemporaryDirectory()
        out = pathlib.Path(self.tmp.name)
        (out / "results.tsv").write_text("\t".join(COLUMNS) + "\n" + "\n".join(rows) + "\n")
        (out / "meta.env").write_text("cpu_at=32\ndate=test\n")
        for name, text in extra.items():
            (out / name).write_text(text)
        return out

    def tearDown(self):
        if hasattr(self, "tmp"):
            self.tmp.cleanup()

    def test_ratios_are_paired_within_a_round_before_the_median(self):
        # Round 2 runs on a machine twice as slow for everyone: paired ratios stay 0.5, while the ratio of
        # medians over rounds would be 0.75 / 1.5 = 0.5 only by luck; with three rounds they differ.
        rows = []
        for rnd, scale in ((1, 1.0), (2, 0.5), (3, 0.25)):
            rows.append(row(rnd, "nginx", "nonstream", 32, 1000 * scale, 100, 40.0))
            rows.append(row(rnd, "gateway", "nonstream", 32, 500 * scale, 100, 20.0 / scale))
        res = report.Results(report.load_results(self.write(rows) / "results.tsv"))
        self.assertAlmostEqual(res.ratio("gateway", "nginx", "nonstream", 32, "rps"), 0.5)
        self.assertAlmostEqual(res.median("gateway", "nonstream", 32, "rps"), 250)
        self.assertAlmostEqual(res.ratio("gateway", "nginx", "nonstream", 32, "proxy_cpu_us_per_req"), 1.0)

    def test_added_latency_is_target_minus_direct_in_the_same_round(self):
        rows = [row(1, "direct", "stream", 1, 9000, 30, None), row(1, "nginx", "stream", 1, 5000, 110, 50.0),
                row(2, "direct", "stream", 1, 9000, 90, None), row(2, "nginx", "stream", 1, 5000, 150, 50.0),
                row(3, "direct", "stream", 1, 9000, 40, None), row(3, "nginx", "stream", 1, 5000, 100, 50.0)]
        res = report.Results(report.load_results(self.write(rows) / "results.tsv"))
        self.assertEqual(res.added("nginx", "stream", 1, "p50_us"), 60)   # 80, 60, 60

    def test_report_renders_tables_bars_and_warnings(self):
        rows = []
        for rnd in (1, 2):
            for mode in ("nonstream", "stream"):
                for conns in (1, 32):
                    rows.append(row(rnd, "direct", mode, conns, 10000, 30, None))
                    rows.append(row(rnd, "nginx", mode, conns, 8000, 110, 45.0))
                    rows.append(row(rnd, "gateway", mode, conns, 8400, 100, 40.0, dropped=0))
                    rows.append(row(rnd, "gateway-prometheus", mode, conns, 8300, 105, 50.0,
                                    errors=3 if rnd == 2 else 0, dropped=7 if rnd == 1 else 0))
        first_event = ("direct\t" + json.dumps(dict(n=40, errors=0, median_ms=50.2, p90_ms=50.5, min_ms=50, max_ms=51))
                       + "\ngateway\t" + json.dumps(dict(n=40, errors=0, median_ms=50.9, p90_ms=51, min_ms=50, max_ms=52))
                       + "\n")
        memory = "gateway\tidle\t" + json.dumps(dict(connections=1000, ok=1000, failed=0, rss_before_kb=10240,
                                                     rss_peak_kb=20480, fds_peak=1010)) + "\n"
        out = self.write(rows, **{"first_event.tsv": first_event, "memory.tsv": memory})
        text = subprocess.run([sys.executable, str(HERE / "report.py"), str(out)], check=True,
                              capture_output=True, text=True).stdout
        self.assertIn("| gateway | 100 | 70 | 300 | 210 | 8,400 | 1.05x | 40.0 | 0.89x |", text)
        self.assertIn("| gateway nonstream: CPU per request vs nginx | 0.89x | <= 1.00x | pass |", text)
        self.assertIn("| gateway-prometheus nonstream: CPU per request vs gateway | 1.25x | <= 1.15x | **FAIL** |", text)
        self.assertIn("| gateway: time to first event vs direct | +0.700 ms | <= 0.5 ms | **FAIL** |", text)
        self.assertIn("| gateway: RSS with 1000 idle connections | 20.0 MB (0 failed) | < 50 MB | pass |", text)
        self.assertIn("run(s) had errors", text)
        self.assertIn("dropped telemetry records (28 in all", text)

    def test_record_export_bars_are_against_nginx_per_exporter_set_and_missing_records_are_flagged(self):
        columns = COLUMNS + ["records"]
        lines = []
        for mode in ("nonstream", "stream"):
            for target, cpu, records in (("nginx", 20.0, ""), ("gateway-file+prometheus", 25.0, 80),
                                         ("gateway-prometheus+otlp", 30.0, 100), ("gateway-prometheus", 21.0, ""),
                                         ("gateway-routed-prometheus+otlp", 90.0, 100)):
                values = dict(round=1, target=target, mode=mode, conns=32, requests=100, duration_s="10.000", rps=10,
                              p50_us=100, p90_us=100, p99_us=100, p999_us=100, errors=0, proxy_cpu_us_per_req=cpu,
                              mock_cpu_us_per_req=10.0, telemetry_dropped="", records=records)
                lines.append("\t".join(str(values[c]) for c in columns))
        out = self.write([])
        (out / "results.tsv").write_text("\t".join(columns) + "\n" + "\n".join(lines) + "\n")
        (out / "rss.tsv").write_text("target\tvmhwm_kb\tvmrss_kb\ngateway-file+prometheus\t102400\t1\n"
                                     "gateway-prometheus+otlp\t204800\t1\ngateway-prometheus\t307200\t1\n")
        text = subprocess.run([sys.executable, str(HERE / "report.py"), str(out)], check=True,
                              capture_output=True, text=True).stdout
        self.assertIn("| gateway-file+prometheus nonstream: CPU per request @32c vs nginx | 1.25x | <= 1.30x | pass |", text)
        self.assertIn("| gateway-file+prometheus stream: CPU per request @32c vs nginx | 1.25x | <= 1.20x | **FAIL** |", text)
        self.assertIn("| gateway-prometheus+otlp nonstream: CPU per request @32c vs nginx | 1.50x | <= 1.30x | **FAIL** |", text)
        self.assertIn("| gateway-file+prometheus: peak RSS over the load | 100.0 MB | < 150 MB | pass |", text)
        self.assertIn("| gateway-prometheus+otlp: peak RSS over the load | 200.0 MB | < 150 MB | **FAIL** |", text)
        self.assertNotIn("gateway-prometheus: peak RSS", text)  # no record exporter
        self.assertNotIn("gateway-routed-prometheus+otlp nonstream: CPU per request @32c vs nginx", text)
        self.assertIn("in 2 run(s) a gateway's record exporters delivered fewer records than requests were answered "
                      "(gateway-file+prometheus;", text)

    def test_routed_targets_are_compared_with_their_unrouted_counterpart(self):
        self.assertEqual(report.routed_pairs(["nginx", "gateway", "gateway-routed"]), [("gateway-routed", "gateway")])
        self.assertEqual(report.routed_pairs(["gateway-prometheus", "gateway-routed-prometheus", "gateway-routed"]),
                         [("gateway-routed-prometheus", "gateway-prometheus")])

    def test_report_shows_routed_vs_unrouted_ratios_and_bars(self):
        rows = []
        # Routed CPU 1.05x and 1.15x unrouted in the two modes at 32c; p50 @1c 1.02x and 1.10x, paired per round.
        for rnd, scale in ((1, 1.0), (2, 2.0), (3, 1.5)):
            for mode, cpu_x, p50_x in (("nonstream", 1.05, 1.02), ("stream", 1.15, 1.10)):
                for conns in (1, 32):
                    rows.append(row(rnd, "nginx", mode, conns, 8000, 110 * scale, 40.0 * scale))
                    rows.append(row(rnd, "gateway", mode, conns, 8000, 100 * scale, 40.0 * scale))
                    rows.append(row(rnd, "gateway-routed", mode, conns, 7900, 100 * scale * p50_x,
                                    40.0 * scale * cpu_x))
        out = self.write(rows)
        (out / "meta.env").write_text("cpu_at=32\ndate=test\nroutes_file=bench/gateway/routed.yaml\n")
        text = subprocess.run([sys.executable, str(HERE / "report.py"), str(out)], check=True,
                              capture_output=True, text=True).stdout
        self.assertIn("#### Routed vs unrouted", text)
        self.assertIn("`bench/gateway/routed.yaml`", text)
        # mode, conns, routed, vs, CPU, routed CPU, x, p50, routed p50, x, difference (median of 2, 4, 3)
        self.assertIn("| nonstream | 1 | gateway-routed | gateway | 60.0 | 63.0 | 1.05x | 150 | 153 | 1.02x | 3 |", text)
        self.assertIn("| gateway-routed nonstream: CPU per request @32c vs gateway | 1.05x | <= 1.10x | pass |", text)
        self.assertIn("| gateway-routed stream: CPU per request @32c vs gateway | 1.15x | <= 1.10x | **FAIL** |", text)
        self.assertIn("| gateway-routed nonstream: p50 @1c vs gateway | 1.02x | <= 1.05x | pass |", text)
        self.assertIn("| gateway-routed stream: p50 @1c vs gateway | 1.10x | <= 1.05x | **FAIL** |", text)
        # ... and the vs-nginx columns of the summary for the routed target as for any other
        self.assertIn("| gateway-routed | 153 |", text)

    def test_keys_targets_are_compared_with_the_gateway_without_a_key(self):
        self.assertEqual(report.keys_pairs(["nginx", "gateway", "gateway-keys-redis"]), [("gateway-keys-redis", "gateway")])
        self.assertEqual(report.keys_pairs(["gateway-prometheus", "gateway-keys-redis-prometheus", "gateway-keys-redis"]),
                         [("gateway-keys-redis-prometheus", "gateway-prometheus")])

    def test_report_shows_keyed_vs_keyless_and_vs_nginx_with_redis_figures_and_bars(self):
        columns = COLUMNS + ["state_calls_per_req", "state_cpu_us_per_req", "state_errors"]
        lines = []
        # Keyed CPU 1.20x and 1.40x nginx's at 32c; keyed p50 @1c +30 / +60 / +45 µs (nonstream) and +150 µs
        # (stream) over the gateway's, paired per round.
        for rnd, scale, d in ((1, 1.0, 30), (2, 2.0, 60), (3, 1.5, 45)):
            for mode, cpu_x, extra in (("nonstream", 1.20, d), ("stream", 1.40, 150)):
                for conns in (1, 32):
                    for target, p50, cpu in (("nginx", 110 * scale, 40.0 * scale),
                                             ("gateway", 100 * scale, 40.0 * scale),
                                             ("gateway-keys-redis", 100 * scale + extra, 40.0 * scale * cpu_x)):
                        values = dict(zip(COLUMNS, row(rnd, target, mode, conns, 8000, p50, cpu).split("\t")))
                        keyed = target == "gateway-keys-redis"
                        values.update(state_calls_per_req="1.010" if keyed else "",
                                      state_cpu_us_per_req="12.50" if keyed else "",
                                      state_errors=("1" if keyed and rnd == 2 and conns == 32 else "0") if keyed else "")
                        lines.append("\t".join(str(values[c]) for c in columns))
        self.tmp = tempfile.TemporaryDirectory()
        out = pathlib.Path(self.tmp.name)
        (out / "results.tsv").write_text("\t".join(columns) + "\n" + "\n".join(lines) + "\n")
        (out / "meta.env").write_text("cpu_at=32\ndate=test\nredis=7.0.15, pinned to CPU 0, no persistence\n"
                                      "keys_limits=rpm 1000000000, tpm 1000000000000\n")
        text = subprocess.run([sys.executable, str(HERE / "report.py"), str(out)], check=True,
                              capture_output=True, text=True).stdout
        self.assertIn("#### Virtual key with limits enforced through Redis vs no key", text)
        self.assertIn("rpm 1000000000, tpm 1000000000000", text)
        # mode, conns, keyed, vs, CPU, keyed CPU, x no key, keyed x nginx, p50, keyed p50, difference, EVALSHA, Redis CPU
        self.assertIn("| nonstream | 1 | gateway-keys-redis | gateway | 60.0 | 72.0 | 1.20x | 1.20x | 150 | 195 | 45 "
                      "| 1.01 | 12.5 |", text)
        self.assertIn("| gateway-keys-redis nonstream: CPU per request @32c vs nginx | 1.20x | <= 1.30x | pass |", text)
        self.assertIn("| gateway-keys-redis stream: CPU per request @32c vs nginx | 1.40x | <= 1.30x | **FAIL** |", text)
        self.assertIn("| gateway-keys-redis nonstream: p50 @1c minus gateway's | +45 µs | <= 100 µs | pass |", text)
        self.assertIn("| gateway-keys-redis stream: p50 @1c minus gateway's | +150 µs | <= 100 µs | **FAIL** |", text)
        self.assertIn("state-store (Redis) errors", text)

    def test_results_without_the_state_columns_still_load(self):
        text = subprocess.run([sys.executable, str(HERE / "report.py"),
                               str(self.write([row(1, "gateway", "stream", 1, 10, 100, 5.0)]))],
                              check=True, capture_output=True, text=True).stdout
        self.assertIn("| gateway | 100 |", text)
        self.assertNotIn("state-store", text)


if __name__ == "__main__":
    unittest.main()
