"""The release binary as a test server, for the SDK's tests against a real Baomi."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def server(
    database_url: str | None = None,
    settings: dict[str, str] | None = None,
    trusting: ssl.SSLContext | None = None,
) -> Iterator[tuple[str, str]]:
    """`baomi serve --dev` on a free port with a fresh data directory (or the fresh database
    `database_url` names): its base URL and the bootstrap admin key it printed. `settings`
    are more `BAOMI_` variables for it; with `trusting`, the context its certificate is
    checked with, it serves HTTPS."""
    binary = os.environ.get("SDK_SERVER_BIN")
    if not binary:
        pytest.fail("set SDK_SERVER_BIN to the release binary (cargo build --release; target/release/baomi)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    with tempfile.TemporaryDirectory() as data:
        args = [binary, "serve", "--dev", "--listen", address, "--data-dir", data]
        if database_url:
            args += ["--database-url", database_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAOMI_")}
        env.update(settings or {})
        log = Path(data) / "server.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=out, env=env)
        try:
            base = f"{'https' if trusting else 'http'}://{address}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(base + "/readyz", context=trusting) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not become ready:\n{log.read_text()}")
                time.sleep(0.1)
            admin = re.search(r"bm_[A-Za-z0-9_-]+", log.read_text())
            if admin is None:
                pytest.fail(f"no bootstrap admin key in the server's output:\n{log.read_text()}")
            yield base, admin.group(0)
        finally:
            process.kill()
            process.wait()
