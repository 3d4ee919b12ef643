"""Mutual TLS against the release binary serving HTTPS with the test certificates of
sdk/conformance/tls and requiring client certificates signed by their CA: the client
presents its certificate, and checks the server's against the CA it is given."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from baomi import AuthenticationError, Client, codes
from baomi_server import server

TLS = Path(__file__).resolve().parents[2] / "conformance" / "tls"


def test_a_client_certificate_is_presented_and_the_server_checked() -> None:
    ca = str(TLS / "ca.pem")
    settings = {
        "BAOMI_TLS__CERT_FILE": str(TLS / "server.pem"),
        "BAOMI_TLS__KEY_FILE": str(TLS / "server.key"),
        "BAOMI_TLS__CLIENT_CA_FILE": ca,
    }
    with server(settings=settings, trusting=ssl.create_default_context(cafile=ca)) as (base, key):
        with Client(base, api_key=key, client_cert=(str(TLS / "client.pem"), str(TLS / "client.key")), ca_file=ca) as c:
            assert "purposes" in c.list_purposes()
        with Client(base, api_key=key, ca_file=ca, retries=0) as c, pytest.raises(AuthenticationError) as refused:
            c.list_purposes()
        assert refused.value.code == codes.AUTH_CLIENT_CERTIFICATE_REQUIRED
        # The server's certificate is checked: without the test CA, no connection.
        with Client(base, api_key=key, retries=0) as c, pytest.raises(httpx.ConnectError):
            c.list_purposes()
