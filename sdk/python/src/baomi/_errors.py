"""Errors: a problem the server answered, typed by its status and carrying its stable code."""

from __future__ import annotations

import json
from typing import Any


class BaomiError(Exception):
    """A problem the server answered (`application/problem+json`).

    `code` is the stable, machine-readable code (compare it with the constants of
    `baomi.codes`); the subclass says the kind (`PermissionDeniedError` for 403, …).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str = "",
        request_id: str | None = None,
        retry_after: float | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail} (request {request_id})")
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.request_id = request_id
        self.retry_after = retry_after
        self.problem = problem or {}


class BadRequestError(BaomiError):
    """400: unreadable input (a malformed operator header, query or path)."""


class AuthenticationError(BaomiError):
    """401: no credential, or one the server does not know (revoked, expired)."""


class PermissionDeniedError(BaomiError):
    """403: the credential's role or grants do not allow it, or the subject's consent."""


class NotFoundError(BaomiError):
    """404: nothing there."""


class ConflictError(BaomiError):
    """409: the state does not allow it now."""


class GoneError(BaomiError):
    """410: erased (the subject's data) or pruned (an event)."""


class InvalidRequestError(BaomiError):
    """413, 414, 415, 422, 431: well-formed but not acceptable."""


class QuotaExceededError(BaomiError):
    """429: a quota of the key or of its operator is spent; `retry_after` says for how long."""


class ServiceUnavailableError(BaomiError):
    """503: try again later."""


class InternalServerError(BaomiError):
    """500: a bug on the server; its log has it under the request id."""


_BY_STATUS: dict[int, type[BaomiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: InvalidRequestError,
    414: InvalidRequestError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    431: InvalidRequestError,
    429: QuotaExceededError,
    500: InternalServerError,
    503: ServiceUnavailableError,
}


def problem_error(
    status: int, body: bytes, request_id: str | None, retry_after: str | None
) -> BaomiError:
    """The error of a non-2xx answer: its problem document, or (an answer from a proxy, or
    the HTTP library's refusal before Baomi) the status alone, as the code `http.<status>`."""
    problem: dict[str, Any] = {}
    try:
        decoded = json.loads(body)
        if isinstance(decoded, dict):
            problem = decoded
    except ValueError:
        pass
    code = problem.get("code") if isinstance(problem.get("code"), str) else None
    wait: float | None = None
    if retry_after is not None and retry_after.strip().isdigit():
        wait = float(retry_after.strip())
    kind = _BY_STATUS.get(status, BaomiError)
    return kind(
        status,
        code or f"http.{status}",
        str(problem.get("detail", "")),
        title=str(problem.get("title", "")),
        request_id=problem.get("request_id") or request_id,
        retry_after=wait,
        problem=problem,
    )


class BatchError(Exception):
    """One chunk of a batch larger than the server's limit failed: `results` holds the
    answers of the chunks before it (the items before `sent`), the rest were not sent;
    `error` is the chunk's error."""

    def __init__(self, sent: int, results: Any, error: BaomiError) -> None:
        super().__init__(f"the batch failed after {sent} items: {error}")
        self.sent = sent
        self.results = results
        self.error = error


class NotVerifiedError(Exception):
    """A signature, a proof or a signed document that does not hold."""


class UnsupportedKeyError(ValueError):
    """A verifier key of an algorithm this SDK cannot check (SM2: check with
    `baomi audit verify`)."""
