"""The transport, against scripted answers (httpx's MockTransport): retries, Retry-After,
errors, chunking, headers, escaping and paging."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from baomi import (
    AsyncClient,
    BatchError,
    Client,
    InvalidRequestError,
    PermissionDeniedError,
    QuotaExceededError,
    ServiceUnavailableError,
    codes,
)

Answer = Callable[[httpx.Request], httpx.Response]


def problem(status: int, code: str, retry_after: int | None = None) -> Answer:
    def answer(_: httpx.Request) -> httpx.Response:
        headers = {"X-Request-Id": "req-1"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        body = {"type": f"urn:baomi:problem:{code}", "title": "t", "status": status, "code": code,
                "detail": "what went wrong", "scope": "key"}
        return httpx.Response(status, json=body, headers=headers)

    return answer


def ok(body: Any) -> Answer:
    return lambda _: httpx.Response(200, json=body)


def echo_items(request: httpx.Request) -> httpx.Response:
    items = json.loads(request.content)["items"]
    return httpx.Response(200, json={"items": [{"ciphertext": f"ct:{i['value']}"} for i in items]})


def echo_values(request: httpx.Request) -> httpx.Response:
    items = json.loads(request.content)["items"]
    return httpx.Response(200, json={"view": "masked", "items": [{"value": i["ciphertext"]} for i in items]})


class Script:
    """Answers each request with the next scripted answer; a server whose batches hold two."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json={"components": {"schemas": {"EncryptRequest": {
                "properties": {"items": {"maxItems": 2}}}}}})
        self.requests.append(request)
        if not self.answers:
            return httpx.Response(418)
        return self.answers.pop(0)(request)


def client(script: Script, **options: Any) -> Client:
    options.setdefault("backoff", 0.001)
    options.setdefault("max_retry_wait", 2)
    return Client("http://baomi.test", api_key="bm_k_secret", transport=httpx.MockTransport(script), **options)


def test_idempotent_calls_are_retried_on_503() -> None:
    script = Script(problem(503, codes.SERVICE_DATABASE_UNAVAILABLE), ok({"status": "ok", "version": "1"}))
    assert client(script).healthz()["status"] == "ok"
    assert len(script.requests) == 2


def test_other_calls_are_not_retried() -> None:
    script = Script(problem(503, codes.SERVICE_DATABASE_UNAVAILABLE), ok({"items": []}))
    with pytest.raises(ServiceUnavailableError):
        client(script).encrypt({"items": [{"subject_id": "u", "field": "mobile", "value": "1"}]})
    assert len(script.requests) == 1


def test_retry_after_is_honoured_up_to_the_longest_wait() -> None:
    script = Script(problem(429, codes.QUOTA_RATE_LIMITED, retry_after=1), ok({"status": "ok"}))
    start = time.monotonic()
    client(script).healthz()
    assert time.monotonic() - start >= 1 and len(script.requests) == 2

    script = Script(problem(429, codes.QUOTA_EXCEEDED, retry_after=3600))
    start = time.monotonic()
    with pytest.raises(QuotaExceededError) as refused:
        client(script).healthz()
    assert refused.value.retry_after == 3600 and refused.value.code == codes.QUOTA_EXCEEDED
    assert len(script.requests) == 1 and time.monotonic() - start < 1


def test_retries_stop() -> None:
    script = Script(*[problem(503, codes.SERVICE_NOT_READY, retry_after=0)] * 5)
    with pytest.raises(ServiceUnavailableError):
        client(script, retries=3).healthz()
    assert len(script.requests) == 4


def test_problems_are_typed_by_status_and_code() -> None:
    with pytest.raises(PermissionDeniedError) as refused:
        client(Script(problem(403, codes.AUTH_VIEW_NOT_GRANTED))).list_purposes()
    e = refused.value
    assert (e.status, e.code, e.detail, e.request_id) == (403, "auth.view_not_granted", "what went wrong", "req-1")
    assert e.problem["scope"] == "key"

    with pytest.raises(InvalidRequestError) as refused:
        client(Script(lambda _: httpx.Response(431))).list_purposes()
    assert refused.value.code == "http.431"


def test_batches_are_chunked_to_the_servers_limit_in_order() -> None:
    script = Script(echo_items, echo_items, echo_items)
    values = ["a", "b", "c", "d", "e"]
    got = client(script).encrypt(
        {"keyring": "k", "items": [{"subject_id": "u", "field": "text", "value": v} for v in values]}
    )
    assert [i["ciphertext"] for i in got["items"]] == [f"ct:{v}" for v in values]
    assert len(script.requests) == 3
    last = json.loads(script.requests[2].content)
    assert last["keyring"] == "k" and len(last["items"]) == 1


def test_a_failed_chunk_keeps_the_results_before_it() -> None:
    script = Script(echo_items, problem(413, codes.REQUEST_TOO_LARGE))
    with pytest.raises(BatchError) as failed:
        client(script).encrypt({"items": [{"subject_id": "u", "field": "text", "value": v} for v in "abc"]})
    assert failed.value.sent == 2 and len(failed.value.results["items"]) == 2
    assert failed.value.error.code == codes.REQUEST_TOO_LARGE


def test_headers() -> None:
    script = Script(ok({"purposes": []}), ok({"purposes": []}))
    c = client(script).with_credential(operator="agent-1")
    c.list_purposes(request_id="corr-7", operator_role="fraud")
    c.list_purposes(operator="agent-2")
    first, second = script.requests[0].headers, script.requests[1].headers
    assert first["authorization"] == "Bearer bm_k_secret" and first["x-baomi-operator"] == "agent-1"
    assert first["x-request-id"] == "corr-7" and first["x-baomi-operator-role"] == "fraud"
    assert second["x-baomi-operator"] == "agent-2" and "x-request-id" not in second


def test_path_and_query_are_escaped() -> None:
    script = Script(ok({}))
    client(script).get_data("u/1 ?", purpose="loan", view="plain")
    url = script.requests[0].url
    assert url.raw_path.decode().startswith("/v1/subjects/u%2F1%20%3F/data?")
    assert url.params["purpose"] == "loan" and url.params["view"] == "plain" and "fields" not in url.params


def test_pages_are_walked_by_cursor() -> None:
    def page(seqs: list[int], cursor: int | None) -> Answer:
        return ok({"events": [{"seq": s, "event": {}} for s in seqs], "next_cursor": cursor})

    script = Script(page([9, 8], 8), page([7], 7), page([], None))
    assert [e["seq"] for e in client(script).all_events(limit=2, operator_="cs")] == [9, 8, 7]
    assert script.requests[1].url.params["cursor"] == "8"
    assert script.requests[1].url.params["operator"] == "cs"

    script = Script(page([9, 8], 8), page([7], None))
    next(iter(client(script).all_events()))
    assert len(script.requests) == 1


def test_the_async_client_retries_chunks_and_pages_alike() -> None:
    script = Script(problem(503, codes.SERVICE_NOT_READY), echo_values, echo_values)
    pages = Script(ok({"events": [{"seq": 2}], "next_cursor": 2}), ok({"events": [{"seq": 1}]}))

    async def run() -> None:
        async with AsyncClient("http://baomi.test", transport=httpx.MockTransport(script), backoff=0.001) as c:
            got = await c.decrypt({"purpose": "p", "items": [
                {"subject_id": "u", "field": "text", "ciphertext": v} for v in "abc"]})
            # decrypt is a read: the 503 was retried; three items, two chunks.
            assert [i["value"] for i in got["items"]] == ["a", "b", "c"] and len(script.requests) == 3
        async with AsyncClient("http://baomi.test", transport=httpx.MockTransport(pages)) as c:
            assert [e["seq"] async for e in c.all_events()] == [2, 1]

    asyncio.run(run())


def test_timeouts_are_retried_for_idempotent_calls_only() -> None:
    def timing_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    script = Script(timing_out, ok({"status": "ok"}))
    assert client(script, timeout=0.05).healthz()["status"] == "ok"
    assert len(script.requests) == 2

    script = Script(timing_out, ok({"items": []}))
    with pytest.raises(httpx.ReadTimeout):
        client(script).encrypt({"items": [{"subject_id": "u", "field": "text", "value": "a"}]})
    assert len(script.requests) == 1
