#!/usr/bin/env python3
"""Tests for the gateway-routed targets: the routes file covers every model the harness sends, without renaming
it (so the routed gateway forwards the same bytes as the unrouted one), and targets.sh starts gateway-routed*
as the gateway with that file and the same exporters as the unrouted counterpart. And for the gateway-keys-redis
targets: started with their own Redis and a virtual key that every sender then presents. And for the record
exporters (file, otlp, postgres): each gets a backend of its own in the output directory, which the harness counts.

Run: python3 -m unittest discover -s bench/lib -p '*_test.py'
"""
import json
import pathlib
import re
import shutil
import subprocess
import sys
import unittest

HERE = pathlib.Path(__file__).resolve().parent
BENCH = HERE.parent
ROUTES = BENCH / "gateway" / "routed.yaml"

# Every file that sends a request to a target in bench/run.sh (wrk's script, the response checks, the
# time-to-first-event and memory checkers).
SENDERS = [BENCH / "lua" / "chat.lua", BENCH / "run.sh", HERE / "ttfb.py", HERE / "memcheck.py"]
MODEL_IN_BODY = re.compile(r'\\?"model\\?"\s*:\s*\\?"([^"\\]+)')
PROVIDERS_CONFIGURED = {"openai", "anthropic"}  # start_gateway sets OPENAI_* and ANTHROPIC_BASE_URL


def parse_routes(text):
    """The routes of routed.yaml as [(model, [target flow maps as text])]. The file keeps to one shape (a
    '- model:' line, then a 'targets: [{...}, ...]' line), which this checks instead of parsing YAML."""
    routes = []
    body = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert body[0] == "routes:", body[0]
    for line in body[1:]:
        m = re.fullmatch(r"  - model: (\S+)", line)
        if m:
            routes.append((m.group(1), []))
            continue
        m = re.fullmatch(r"    targets: \[(.*)\]", line)
        assert m and routes, f"unexpected line in {ROUTES.name}: {line!r}"
        routes[-1][1].extend(re.findall(r"\{[^}]*\}", m.group(1)))
    return routes


class RoutesFileTest(unittest.TestCase):
    def setUp(self):
        self.routes = parse_routes(ROUTES.read_text())

    def test_every_model_the_harness_sends_is_a_route_name(self):
        sent = set()
        for path in SENDERS:
            sent.update(MODEL_IN_BODY.findall(path.read_text()))
        self.assertIn("gpt-4o-mini", sent)
        self.assertIn("claude-sonnet-4-5", sent)
        names = {model for model, _ in self.routes}
        for model in sent:
            self.assertIn(model, names, f"{model} (sent by the harness) has no route in {ROUTES.name}")
        self.assertFalse(any(c in name for name in names for c in "*?"), "exact names, not globs")

    def test_each_route_has_one_target_that_keeps_the_clients_model(self):
        for model, targets in self.routes:
            self.assertEqual(len(targets), 1, model)
            self.assertNotIn("model", targets[0], f"{model}: a target model would re-serialise the body")
            provider = re.search(r"provider:\s*(\w+)", targets[0])
            self.assertIsNotNone(provider, targets[0])
            self.assertIn(provider.group(1), PROVIDERS_CONFIGURED, model)

    def test_the_anthropic_model_goes_to_anthropic_and_the_openai_one_to_openai(self):
        providers = {model: re.search(r"provider:\s*(\w+)", targets[0]).group(1) for model, targets in self.routes}
        self.assertEqual(providers["gpt-4o-mini"], "openai")
        self.assertEqual(providers["claude-sonnet-4-5"], "anthropic")


@unittest.skipUnless(shutil.which("bash"), "needs bash")
class StartTargetTest(unittest.TestCase):
    def start(self, name):
        """What start_target NAME passes to start_gateway, which the script
        replaces by an echo of its arguments."""
        script = f"""
            set -euo pipefail
            source {HERE / "common.sh"}
            source {HERE / "targets.sh"}
            ROUTES_FILE=/routes.yaml
            start_gateway() {{ echo "$*"; }}
            start_target {name} 20000 18080
        """
        return subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True).stdout.strip()

    def test_gateway_routed_is_the_gateway_with_the_routes_file(self):
        self.assertEqual(self.start("gateway"), "gateway 20000 18080 none")
        self.assertEqual(self.start("gateway-routed"), "gateway-routed 20000 18080 none /routes.yaml")
        self.assertEqual(self.start("gateway-routed@ttfb"), "gateway-routed@ttfb 20000 18080 none /routes.yaml")

    def test_gateway_routed_with_exporters_matches_its_unrouted_counterpart(self):
        self.assertEqual(self.start("gateway-console+prometheus"), "gateway-console+prometheus 20000 18080 console,prometheus")
        self.assertEqual(self.start("gateway-routed-console+prometheus"),
                         "gateway-routed-console+prometheus 20000 18080 console,prometheus /routes.yaml")

    def test_gateway_nodashboard_is_the_same_gateway_with_the_dashboard_off(self):
        self.assertEqual(self.start("gateway-nodashboard-console+prometheus"),
                         "gateway-nodashboard-console+prometheus 20000 18080 console,prometheus  DASHBOARD_ENABLED=false")


@unittest.skipUnless(shutil.which("bash"), "needs bash")
class KeysTargetTest(unittest.TestCase):
    """gateway-keys-redis*: the gateway with REDIS_URL (its own redis-server) and an admin key, whose requests then
    all carry the virtual key created through the admin API; other targets keep the default headers."""

    def run_bash(self, body):
        script = f"""
            set -euo pipefail
            source {HERE / "common.sh"}
            source {HERE / "targets.sh"}
            RUN_DIR=/nonexistent
            start_redis() {{ echo "redis $*"; TARGET_REDIS_PORT[$1]=$2; TARGET_REDIS_PID[$1]=222; }}
            start_gateway() {{ echo "gateway $*"; TARGET_PID[$1]=111; }}
            create_bench_key() {{ echo gw-0123abcd; }}
            {body}
        """
        return subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True).stdout

    def test_keys_target_is_the_gateway_with_redis_an_admin_key_and_a_virtual_key(self):
        out = self.run_bash("""start_target gateway-keys-redis 20000 18080
            echo "pids ${TARGET_ALL_PIDS[gateway-keys-redis]}"
            echo "headers $(target_headers gateway-keys-redis)"
            echo "other [$(target_headers gateway)]" """).splitlines()
        self.assertEqual(out[0], "redis gateway-keys-redis 20100")
        self.assertRegex(out[1], r"^gateway gateway-keys-redis 20000 18080 none  "
                                 r"REDIS_URL=redis://127\.0\.0\.1:20100/0 GATEWAY_ADMIN_KEY=bench-admin-[0-9a-f]{32} "
                                 r"ANTHROPIC_API_KEY=sk-bench$")
        self.assertEqual(out[2], "pids 111 222", "stop_target stops the gateway and its redis-server")
        self.assertEqual(out[3], "headers Authorization: Bearer gw-0123abcd")
        self.assertEqual(out[4], "other []")

    def test_keys_target_with_exporters_matches_its_keyless_counterpart(self):
        out = self.run_bash("start_target gateway-keys-redis-console+prometheus@ttfb 20000 18080").splitlines()
        self.assertTrue(out[1].startswith("gateway gateway-keys-redis-console+prometheus@ttfb 20000 18080 console,prometheus "),
                        out[1])

    def test_target_headers_add_the_targets_own_after_bench_headers(self):
        out = self.run_bash("""BENCH_HEADERS='x-a: 1'
            TARGET_HEADERS[t]='Authorization: Bearer gw-x'
            target_headers t; target_headers u
            stop_target t; echo "[$(target_headers t)]" """).splitlines()
        self.assertEqual(out, ["x-a: 1|Authorization: Bearer gw-x", "x-a: 1", "[x-a: 1]"])

    def test_every_sender_replaces_the_default_authorization_with_a_targets_key(self):
        # chat.lua and the Python checkers replace the header by name (any case) instead of sending two.
        lua = (BENCH / "lua" / "chat.lua").read_text()
        self.assertIn("string.lower(known) == string.lower(name)", lua)
        for name in ("ttfb.py", "memcheck.py"):
            script = f"""
import sys; sys.path.insert(0, {str(HERE)!r}); sys.dont_write_bytecode = True
import {name[:-3]} as m
m.add_headers(["authorization: Bearer gw-x", "x-b: 2"])
print(sorted(m.HEADERS.items()))"""
            out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
            self.assertEqual(out.strip(), "[('Content-Type', 'application/json'), ('authorization', 'Bearer gw-x'), "
                                          "('x-b', '2')]", name)


@unittest.skipUnless(shutil.which("bash"), "needs bash")
class RecordBackendsTest(unittest.TestCase):
    """gateway-*file*, *otlp*, *postgres*: the exporter is pointed at a backend of the run (never at the defaults,
    which would write into the caller's directory or reach for localhost:4318), and TARGET_RECORDS names what
    records_delivered counts."""

    def run_bash(self, body, gateway_env=""):
        script = f"""
            set -euo pipefail
            source {HERE / "common.sh"}
            source {HERE / "targets.sh"}
            RUN_DIR=/run-dir
            GATEWAY_ENV='{gateway_env}'
            start_otlp_receiver() {{ echo "otlp $*"; TARGET_OTLP_PORT[$1]=$2; TARGET_OTLP_PID[$1]=333; }}
            start_postgres() {{ echo "postgres $*"; TARGET_PG_URL[$1]=postgresql://gw@127.0.0.1:5/postgres; }}
            start_redis() {{ echo "redis $*"; TARGET_REDIS_PORT[$1]=$2; TARGET_REDIS_PID[$1]=222; }}
            start_gateway() {{ echo "gateway $*"; TARGET_PID[$1]=111; }}
            create_bench_key() {{ echo gw-0123abcd; }}
            {body}
        """
        return subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True).stdout.splitlines()

    def test_file_goes_to_the_output_directory_never_rotated(self):
        out = self.run_bash('start_target gateway-prometheus+file 20000 18080; echo "records ${TARGET_RECORDS[gateway-prometheus+file]}"')
        self.assertEqual(out, ["gateway gateway-prometheus+file 20000 18080 prometheus,file  "
                               "FILE_EXPORTER_PATH=/run-dir/gateway-prometheus+file.records.jsonl FILE_EXPORTER_MAX_BYTES=0",
                               "records file"])

    def test_a_file_path_in_gateway_env_is_kept(self):
        # bench/soak.sh: its own path and rotation; the harness counts that file.
        out = self.run_bash('start_target gateway-file+prometheus 20000 18080; echo "file ${TARGET_FILE[gateway-file+prometheus]}"',
                            gateway_env="FILE_EXPORTER_PATH=/soak/records.jsonl FILE_EXPORTER_MAX_BYTES=1")
        self.assertEqual(out, ["gateway gateway-file+prometheus 20000 18080 file,prometheus ", "file /soak/records.jsonl"])

    def test_otlp_gets_a_receiver_on_the_targets_port_plus_200_in_protobuf(self):
        out = self.run_bash('start_target gateway-prometheus+otlp 20000 18080; echo "records ${TARGET_RECORDS[gateway-prometheus+otlp]}"')
        self.assertEqual(out, ["otlp gateway-prometheus+otlp 20200",
                               "gateway gateway-prometheus+otlp 20000 18080 prometheus,otlp  "
                               "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:20200 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
                               "records otlp"])

    def test_postgres_gets_a_server_of_its_own_unless_gateway_env_names_one(self):
        out = self.run_bash('start_target gateway-prometheus+postgres 20000 18080; echo "records ${TARGET_RECORDS[gateway-prometheus+postgres]}"')
        self.assertEqual(out, ["postgres gateway-prometheus+postgres",
                               "gateway gateway-prometheus+postgres 20000 18080 prometheus,postgres  "
                               "POSTGRES_URL=postgresql://gw@127.0.0.1:5/postgres",
                               "records postgres"])
        out = self.run_bash('start_target gateway-postgres 20000 18080; echo "url ${TARGET_PG_URL[gateway-postgres]}"',
                            gateway_env="A=1 POSTGRES_URL=postgresql://x@127.0.0.1:7/db")
        self.assertEqual(out, ["gateway gateway-postgres 20000 18080 postgres ", "url postgresql://x@127.0.0.1:7/db"])

    def test_console_is_counted_on_stdout_and_the_plain_gateway_exports_nothing(self):
        out = self.run_bash("""start_target gateway-console+prometheus 20000 18080
            start_target gateway 20001 18080
            echo "records [${TARGET_RECORDS[gateway-console+prometheus]}] [${TARGET_RECORDS[gateway]:-}]" """)
        self.assertEqual(out[-1], "records [console] []")

    def test_keyed_and_routed_targets_get_the_same_backends(self):
        out = self.run_bash("""start_target gateway-keys-redis-prometheus+otlp 20000 18080
            echo "pids ${TARGET_ALL_PIDS[gateway-keys-redis-prometheus+otlp]}"
            ROUTES_FILE=/routes.yaml
            start_target gateway-routed-file+prometheus 20001 18080""")
        self.assertEqual(out[0], "otlp gateway-keys-redis-prometheus+otlp 20200")
        self.assertRegex(out[2], r"^gateway gateway-keys-redis-prometheus\+otlp 20000 18080 prometheus,otlp  REDIS_URL=.* "
                                 r"OTEL_EXPORTER_OTLP_ENDPOINT=http://127\.0\.0\.1:20200 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf$")
        self.assertEqual(out[3], "pids 111 333 222", "stop_target stops the gateway, its receiver and its redis-server")
        self.assertEqual(out[4], "gateway gateway-routed-file+prometheus 20001 18080 file,prometheus /routes.yaml "
                                 "FILE_EXPORTER_PATH=/run-dir/gateway-routed-file+prometheus.records.jsonl FILE_EXPORTER_MAX_BYTES=0")


class OtlpReceiverTest(unittest.TestCase):
    def test_counts_log_records_spans_and_data_points(self):
        sys.path.insert(0, str(HERE))
        import otlp_receiver
        logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{}, {}]}, {"logRecords": [{}]}]}]}
        spans = {"resourceSpans": [{"scopeSpans": [{"spans": [{}]}]}, {"scopeSpans": [{"spans": [{}, {}]}]}]}
        metrics = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"histogram": {"dataPoints": [{}, {}]}},
                                                                       {"histogram": {}}]}]}]}
        self.assertEqual(otlp_receiver.count_items("logs", False, json.dumps(logs)), 3)
        self.assertEqual(otlp_receiver.count_items("traces", False, json.dumps(spans)), 3)
        self.assertEqual(otlp_receiver.count_items("metrics", False, json.dumps(metrics)), 2)


if __name__ == "__main__":
    unittest.main()
