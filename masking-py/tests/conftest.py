"""Shared fixtures: the policy of `baomi mask`'s tests, a key file, and the CLI binary."""

import os
from pathlib import Path

import pytest

POLICY = """
description = "test data for analysts"
[[rules]]
roles = ["analyst"]
[rules.types]
CN_MOBILE = { op = "hash" }
PERSON = { op = "replace" }
[[rules.fields]]
path = "$.birth"
type = "BIRTH_DATE"
operator = { op = "generalize", to = "year" }
"""

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    return path


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "mask.key"
    path.write_bytes(bytes(range(48)))
    return path


@pytest.fixture
def baomi_bin():
    """The release CLI (BAOMI_BIN, else the workspace's target directory): the tests that
    compare with it fail, never skip, without it."""
    candidates = [os.environ.get("BAOMI_BIN")]
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    candidates.append(str(Path(target) / "release" / "baomi"))
    for c in candidates:
        if c and Path(c).is_file():
            return c
    raise AssertionError(f"no baomi binary: set BAOMI_BIN (looked at {candidates})")
