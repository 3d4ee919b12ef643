"""What the synchronous and asynchronous clients share: how a call is described, sent,
retried, chunked and answered."""

from __future__ import annotations

import json
import random
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._errors import BaomiError, BatchError, problem_error

VERSION = "0.1.0"
#: The batch size used when the server does not say its own (`max_batch_items`).
DEFAULT_BATCH_LIMIT = 1000


def quote(value: object) -> str:
    """A path parameter, escaped."""
    return urllib.parse.quote(str(value), safe="")


@dataclass
class Call:
    """One call of the API, as a generated method describes it."""

    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    idempotent: bool = False
    # "json", "object" (a signed document), "text" (JSON Lines, as bytes) or "none".
    response: str = "json"
    # A batch: the request's array member and the answer's.
    batch: tuple[str, str] | None = None
    request_id: str | None = None
    operator: str | None = None
    operator_role: str | None = None


@dataclass
class Settings:
    """A client's settings; derived clients share the connections and the batch limit."""

    credential: str | None = None
    operator: str | None = None
    retries: int = 3
    backoff: float = 0.2
    max_retry_wait: float = 30.0
    batch_limit: int | None = None

    def headers(self, call: Call) -> dict[str, str]:
        headers = {
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"baomi-python/{VERSION}",
        }
        if self.credential:
            headers["Authorization"] = f"Bearer {self.credential}"
        operator = call.operator or self.operator
        if operator:
            headers["X-Baomi-Operator"] = operator
        if call.operator_role:
            headers["X-Baomi-Operator-Role"] = call.operator_role
        if call.request_id:
            headers["X-Request-Id"] = call.request_id
        return headers

    def wait(self, attempt: int, error: BaomiError | None) -> float | None:
        """How long to wait before sending again, or None not to: only after a 503, a 429 or
        a failed connection (`error` None), while retries remain, and never longer than
        `max_retry_wait` (a quota spent for the hour is the caller's to handle)."""
        if attempt >= self.retries:
            return None
        if error is not None and error.status not in (429, 503):
            return None
        if error is not None and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_wait else None
        pause = self.backoff * (1 << min(attempt, 10))
        return pause + random.uniform(0, pause / 2)


def request(call: Call, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    """The arguments of httpx's `request` for a call (None query values left out)."""
    query = {k: _query_value(v) for k, v in call.query.items() if v is not None}
    args: dict[str, Any] = {"method": call.method, "url": call.path, "params": query, "headers": headers}
    if body is not None:
        args["content"] = json.dumps(body, ensure_ascii=False).encode()
        args["headers"] = {**headers, "Content-Type": "application/json"}
    return args


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def answer(call: Call, response: httpx.Response) -> Any:
    """A 2xx answer decoded, or the error of any other."""
    if response.is_success:
        if call.response == "none":
            return None
        if call.response == "text":
            return response.content
        return response.json()
    raise problem_error(
        response.status_code,
        response.content,
        response.headers.get("x-request-id"),
        response.headers.get("retry-after"),
    )


class Batch:
    """The bodies one call is sent as (chunks of a batch, in order, or the one body) and the
    answers gathered from them; the same for the synchronous and the asynchronous client."""

    def __init__(self, call: Call, limit: int) -> None:
        self.call = call
        self.bodies = chunks(call, limit) if call.batch else [call.body]
        self.answer: Any = None
        self.sent = 0

    def done(self, body: Any, part: Any) -> None:
        """One body's answer, added to those before it."""
        if self.call.batch is None:
            self.answer = part
            return
        self.answer = merge(self.answer, part, self.call.batch[1])
        self.sent += len(body[self.call.batch[0]])

    def failed(self, error: BaomiError) -> Exception:
        """What to raise for a body's error: a `BatchError` with the answers before it when
        the batch went in chunks, else the error itself."""
        if self.call.batch is not None and len(self.bodies) > 1:
            return BatchError(self.sent, self.answer, error)
        return error


def chunks(call: Call, limit: int) -> list[Any]:
    """The bodies of a batch call, at most `limit` items each, in order (one body when it
    fits, or when it is empty: the server says why it refuses that)."""
    if call.batch is None:
        return [call.body]
    member = call.batch[0]
    items = call.body[member]
    if len(items) <= limit:
        return [call.body]
    return [{**call.body, member: items[i : i + limit]} for i in range(0, len(items), limit)]


def merge(merged: Any, part: Any, member: str) -> Any:
    """A chunk's answer appended to the answers so far."""
    if merged is None:
        return part
    merged[member].extend(part[member])
    return merged


def limit_from_openapi(document: Any) -> int:
    """The server's `max_batch_items`, as its OpenAPI document states it."""
    try:
        value = document["components"]["schemas"]["EncryptRequest"]["properties"]["items"]["maxItems"]
        return int(value) if int(value) > 0 else DEFAULT_BATCH_LIMIT
    except (KeyError, TypeError, ValueError):
        return DEFAULT_BATCH_LIMIT
