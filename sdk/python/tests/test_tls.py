"""Mutual TLS against the release binary serving HTTPS with the test certificates of
sdk/conformance/tls and requiring client certificates signed by their CA: the client
presents its certificate, and checks the server's against the CA it is given."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from baomi import AuthenticationError, Client, codes

TLS = Path(__file__).resolve().parents[2] / "conformance" / "tls"


def test_a_client_certificate_is_presented_and_the_server_checked() -> None:
    binary = os.environ.get("SDK_SERVER_BIN")
    if not binary:
        pytest.fail("set SDK_SERVER_BIN to the release binary (cargo build --release; target/release/baomi)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    ca = str(TLS / "ca.pem")
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAOMI_")}
        env.update({
            "BAOMI_TLS__CERT_FILE": str(TLS / "server.pem"),
            "BAOMI_TLS__KEY_FILE": str(TLS / "server.key"),
            "BAOMI_TLS__CLIENT_CA_FILE": ca,
        })
        log = Path(data) / "server.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [binary, "serve", "--dev", "--listen", address, "--data-dir", data], stdout=out, stderr=out, env=env)
        try:
            base = f"https://{address}"
            trusting = ssl.create_default_context(cafile=ca)
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(base + "/readyz", context=trusting) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            admin = re.search(r"bm_[A-Za-z0-9_-]+", log.read_text())
            assert admin is not None

            key = admin.group(0)
            with Client(base, api_key=key, client_cert=(str(TLS / "client.pem"), str(TLS / "client.key")), ca_file=ca) as c:
                assert "purposes" in c.list_purposes()
            with Client(base, api_key=key, ca_file=ca, retries=0) as c, pytest.raises(AuthenticationError) as refused:
                c.list_purposes()
            assert refused.value.code == codes.AUTH_CLIENT_CERTIFICATE_REQUIRED
            # The server's certificate is checked: without the test CA, no connection.
            with Client(base, api_key=key, retries=0) as c, pytest.raises(httpx.ConnectError):
                c.list_purposes()
        finally:
            process.kill()
            process.wait()
