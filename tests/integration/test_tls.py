"""Upstream TLS through the real binary: certificate and host-name verification
are on, UPSTREAM_CA_FILE adds a private CA. Certificates are made at test time
with the openssl CLI in a temporary directory."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import RUN_DIR, TEST_KEY, Gateway, MockUpstream, http_request

CHAT_BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def run(*args):
    subprocess.run(args, check=True, capture_output=True, timeout=60)


def make_pki(d, san):
    """A throwaway CA and a server certificate signed by it for `san`."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
        "-days", "2", "-subj", "/CN=gateway-test-ca")
    key, csr, crt = os.path.join(d, "srv.key"), os.path.join(d, "srv.csr"), os.path.join(d, "srv.crt")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=upstream")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san)
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
        "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


class UpstreamTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="gw-tls-", dir=RUN_DIR)
        cls.ca, crt, key = make_pki(cls.dir, "IP:127.0.0.1")
        cls.mock = MockUpstream(["--tls-cert", crt, "--tls-key", key])
        wrong = os.path.join(cls.dir, "wrong")
        os.makedirs(wrong)
        _, wcrt, wkey = make_pki(wrong, "DNS:not-this-host.example")
        cls.wrong_ca = os.path.join(wrong, "ca.crt")
        cls.wrong_mock = MockUpstream(["--tls-cert", wcrt, "--tls-key", wkey])

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()
        cls.wrong_mock.stop()

    def gateway(self, mock, ca=None):
        env = {"OPENAI_BASE_URL": "https://127.0.0.1:%d/v1" % mock.port, "OPENAI_API_KEY": TEST_KEY}
        if ca:
            env["UPSTREAM_CA_FILE"] = ca
        gw = Gateway(env)
        self.addCleanup(gw.stop)
        return gw

    def test_private_ca_is_trusted_with_upstream_ca_file(self):
        gw = self.gateway(self.mock, self.ca)
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT_BODY)
        self.assertEqual(s, 200, b)
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", dict(CHAT_BODY, stream=True))
        self.assertEqual(s, 200)
        self.assertIn(b"data: [DONE]", b)

    def test_unknown_ca_is_refused(self):
        gw = self.gateway(self.mock)
        before = len(self.mock.events())
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT_BODY)
        self.assertEqual(s, 502)
        self.assertEqual(json.loads(b)["error"]["code"], "upstream_unreachable")
        self.assertEqual(len(self.mock.events()), before, "no request may cross an unverified connection")

    def test_certificate_for_another_host_is_refused(self):
        gw = self.gateway(self.wrong_mock, self.wrong_ca)
        before = len(self.wrong_mock.events())
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT_BODY)
        self.assertEqual(s, 502)
        self.assertIn("TLS", json.loads(b)["error"]["message"])
        self.assertEqual(len(self.wrong_mock.events()), before, "nothing was sent to the wrong host")

    def test_missing_ca_file_is_a_config_error(self):
        gw = Gateway({"UPSTREAM_CA_FILE": "/nonexistent/ca.pem"}, expect_start=False)
        self.assertEqual(gw.proc.wait(timeout=20), 2)
        gw.stop()
        self.assertIn(b"UPSTREAM_CA_FILE", gw.stderr_seen)


if __name__ == "__main__":
    unittest.main(verbosity=2)
