"""The conformance scenario (sdk/conformance/scenario.json) against a real server: the
release binary named by SDK_SERVER_BIN, on a random port, with a fresh SQLite database
(the synchronous and the asynchronous client each get one), and with the fresh PostgreSQL
database SDK_DATABASE_URL names (CI sets it, and REQUIRE_POSTGRES=1 so that its absence
fails). Not BAOMI_ variables: the server takes those as settings."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from baomi import AsyncClient, BaomiError, Client, NotVerifiedError, VerifierKey, leaf_hash, verify_inclusion
from baomi_server import server

SCENARIO = json.loads((Path(__file__).resolve().parents[2] / "conformance" / "scenario.json").read_text())
HEADER_ARGS = ("request_id", "operator", "operator_role")


def substitute(value: Any, saved: dict[str, Any]) -> Any:
    """`${name}`: a whole string becomes the saved value as it is, a part of one its text."""
    if isinstance(value, dict):
        return {k: substitute(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, saved) for v in value]
    if isinstance(value, str):
        whole = re.fullmatch(r"\$\{(\w+)\}", value)
        if whole:
            return saved[whole.group(1)]
        return re.sub(r"\$\{(\w+)\}", lambda m: str(saved[m.group(1)]), value)
    return value


def arg(name: str) -> str:
    """A parameter's name in the SDK (`from` is `from_`, the `operator` filter `operator_`)."""
    import keyword

    return name + "_" if keyword.iskeyword(name) or name in HEADER_ARGS else name


def arguments(step: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {arg(k): v for k, v in (step.get("path") or {}).items()}
    kwargs.update({arg(k): v for k, v in (step.get("query") or {}).items()})
    if "body" in step:
        kwargs["body"] = step["body"]
    for header in HEADER_ARGS:
        if step.get(header):
            kwargs[header] = step[header]
    return kwargs


def tampered(proof: dict[str, Any]) -> dict[str, Any]:
    """The event altered, and its leaf hash with it: only the path to the root can tell."""
    forged = dict(proof)
    forged["event"] = proof["event"] + " "
    forged["leaf_hash"] = base64.b64encode(leaf_hash(forged["event"].encode())).decode()
    return forged


def verify_receipt(step: dict[str, Any]) -> Any:
    args = step["args"]
    document = copy.deepcopy(args["document"])
    document.update(args.get("tamper") or {})
    return VerifierKey(args["verifier_key"]).verify_receipt(document)


def run_sync(base: str, admin: str) -> None:
    settings = SCENARIO["client"]
    root = Client(
        base,
        batch_limit=settings["batch_limit"],
        retries=settings["retries"],
        backoff=0.1,
        max_retry_wait=settings["max_retry_wait_seconds"],
    )
    saved: dict[str, Any] = {"admin": admin}
    with root:
        for i, raw in enumerate(SCENARIO["steps"], 1):
            step = substitute(raw, saved)
            client = root if step["as"] == "none" else root.with_credential(api_key=saved[step["as"]])
            try:
                result, error = call_sync(client, step), None
            except (BaomiError, NotVerifiedError) as e:
                result, error = None, e
            check(f"step {i} ({step['call']}: {step['name']})", step, result, error, saved)


def call_sync(client: Client, step: dict[str, Any]) -> Any:
    name = step["call"]
    if name == "verify_receipt":
        return verify_receipt(step)
    if name == "prove_inclusion":
        key = VerifierKey(step["args"]["verifier_key"])
        inclusion = client.prove_inclusion(int(step["args"]["seq"]), key)
        if step["args"].get("tamper"):
            verify_inclusion(tampered(inclusion.proof), inclusion.checkpoint)
        return inclusion.proof
    if name == "all_events":
        return list(client.all_events(**arguments(step)))
    return getattr(client, name)(**arguments(step))


async def run_async(base: str, admin: str) -> None:
    settings = SCENARIO["client"]
    root = AsyncClient(
        base,
        batch_limit=settings["batch_limit"],
        retries=settings["retries"],
        backoff=0.1,
        max_retry_wait=settings["max_retry_wait_seconds"],
    )
    saved: dict[str, Any] = {"admin": admin}
    async with root:
        for i, raw in enumerate(SCENARIO["steps"], 1):
            step = substitute(raw, saved)
            client = root if step["as"] == "none" else root.with_credential(api_key=saved[step["as"]])
            try:
                result, error = await call_async(client, step), None
            except (BaomiError, NotVerifiedError) as e:
                result, error = None, e
            check(f"step {i} ({step['call']}: {step['name']})", step, result, error, saved)


async def call_async(client: AsyncClient, step: dict[str, Any]) -> Any:
    name = step["call"]
    if name == "verify_receipt":
        return verify_receipt(step)
    if name == "prove_inclusion":
        key = VerifierKey(step["args"]["verifier_key"])
        inclusion = await client.prove_inclusion(int(step["args"]["seq"]), key)
        if step["args"].get("tamper"):
            verify_inclusion(tampered(inclusion.proof), inclusion.checkpoint)
        return inclusion.proof
    if name == "all_events":
        return [event async for event in client.all_events(**arguments(step))]
    return await getattr(client, name)(**arguments(step))


def at(tree: Any, path: str) -> Any:
    """The value at a dotted path (`items.0.value`; empty: the value itself)."""
    for part in path.split(".") if path else []:
        tree = tree[int(part)] if isinstance(tree, list) else tree[part]
    return tree


def check(label: str, step: dict[str, Any], result: Any, error: Exception | None, saved: dict[str, Any]) -> None:
    expect = step.get("expect", {})
    want = expect.get("error")
    if want is not None:
        assert error is not None, f"{label}: succeeded, expected {want['code']}"
        if isinstance(error, NotVerifiedError):
            assert want["code"] == "not_verified", f"{label}: {error}"
            return
        assert isinstance(error, BaomiError)
        assert error.code == want["code"], f"{label}: {error}"
        assert "status" not in want or error.status == want["status"], f"{label}: {error}"
        for member in expect.get("members", []):
            assert member in error.problem, f"{label}: the problem has no {member}: {error.problem}"
        return
    assert error is None, f"{label}: {error!r}"
    for path, value in expect.get("result", {}).items():
        assert at(result, path) == value, f"{label}: {path} is {at(result, path)!r}, expected {value!r}"
    for path, n in expect.get("count", {}).items():
        assert len(at(result, path)) == n, f"{label}: {path} has {len(at(result, path))} items, expected {n}"
    for path, n in expect.get("min_count", {}).items():
        assert len(at(result, path)) >= n, f"{label}: {path} has {len(at(result, path))} items, expected {n}+"
    for name, path in step.get("save", {}).items():
        saved[name] = at(result, path)


def test_the_scenario_on_sqlite() -> None:
    with server() as (base, admin):
        run_sync(base, admin)


def test_the_scenario_on_sqlite_asynchronously() -> None:
    with server() as (base, admin):
        asyncio.run(run_async(base, admin))


def test_the_scenario_on_postgresql() -> None:
    url = os.environ.get("SDK_DATABASE_URL")
    if not url:
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail("REQUIRE_POSTGRES is set but SDK_DATABASE_URL is not")
        pytest.skip("SDK_DATABASE_URL names no fresh PostgreSQL database")
    with server(url) as (base, admin):
        run_sync(base, admin)
