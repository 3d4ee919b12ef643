"""The synchronous and asynchronous clients."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from typing import Any

import httpx

from ._errors import BaomiError, NotVerifiedError
from ._operations import AsyncOperations, SyncOperations
from ._transport import DEFAULT_BATCH_LIMIT, Batch, Call, Settings, answer, limit_from_openapi, request
from ._verify import Inclusion, VerifierKey, verify_inclusion

_NOT_YET = ("audit.no_checkpoint", "audit.not_in_tree")
_PROOF_WAIT_SECONDS = 10.0


class _Limit:
    """The server's largest batch, asked once and shared by derived clients."""

    def __init__(self, fixed: int | None) -> None:
        if fixed is not None and fixed < 1:
            raise ValueError("a batch limit must be positive")
        self.value = fixed
        self.lock = threading.Lock()


def _tls(client_cert: tuple[str, str] | None, ca_file: str | None, verify: bool) -> ssl.SSLContext | bool:
    if client_cert is None and ca_file is None:
        return verify
    context = ssl.create_default_context(cafile=ca_file)
    if client_cert is not None:
        context.load_cert_chain(client_cert[0], client_cert[1])
    return context


class _Base:
    def __init__(
        self,
        *,
        api_key: str | None,
        subject_token: str | None,
        operator: str | None,
        retries: int,
        backoff: float,
        max_retry_wait: float,
        batch_limit: int | None,
    ) -> None:
        if api_key and subject_token:
            raise ValueError("an API key or a subject token, not both")
        if retries < 0 or backoff < 0 or max_retry_wait < 0:
            raise ValueError("negative retry settings")
        self._settings = Settings(
            credential=api_key or subject_token,
            operator=operator,
            retries=retries,
            backoff=backoff,
            max_retry_wait=max_retry_wait,
        )
        self._limit = _Limit(batch_limit)

    def _derive(self, api_key: str | None, subject_token: str | None, operator: str | None) -> Any:
        derived = object.__new__(type(self))
        derived.__dict__.update(self.__dict__)
        settings = Settings(**self._settings.__dict__)
        if api_key is not None or subject_token is not None:
            settings.credential = api_key or subject_token
        if operator is not None:
            settings.operator = operator
        derived._settings = settings
        return derived


class Client(_Base, SyncOperations):
    """Calls one Baomi server with one credential; one method per call of the v1 API.

    Idempotent calls are sent again after a 503, a 429 or a failed connection (`retries`
    times, waiting `backoff` seconds doubled each time, or what Retry-After says, up to
    `max_retry_wait`). Batches larger than the server's limit are sent in chunks, in order.
    Errors are `BaomiError`s typed by status, with the stable `code`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        subject_token: str | None = None,
        operator: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.2,
        max_retry_wait: float = 30.0,
        batch_limit: int | None = None,
        client_cert: tuple[str, str] | None = None,
        ca_file: str | None = None,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            subject_token=subject_token,
            operator=operator,
            retries=retries,
            backoff=backoff,
            max_retry_wait=max_retry_wait,
            batch_limit=batch_limit,
        )
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            verify=_tls(client_cert, ca_file, verify),
            transport=transport,
        )

    def with_credential(
        self, *, api_key: str | None = None, subject_token: str | None = None, operator: str | None = None
    ) -> Client:
        """A client with another credential or operator, sharing this one's connections."""
        return self._derive(api_key, subject_token, operator)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _batch_limit(self) -> int:
        with self._limit.lock:
            if self._limit.value is None:
                try:
                    self._limit.value = limit_from_openapi(self._http.get("/openapi.json").json())
                except (httpx.HTTPError, ValueError):
                    self._limit.value = DEFAULT_BATCH_LIMIT
            return self._limit.value

    def _send(self, call: Call) -> Any:
        batch = Batch(call, self._batch_limit() if call.batch else 0)
        for body in batch.bodies:
            try:
                batch.done(body, self._attempts(call, body))
            except BaomiError as error:
                failure = batch.failed(error)
                if failure is error:
                    raise
                raise failure from error
        return batch.answer

    def _attempts(self, call: Call, body: Any) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(**request(call, body, self._settings.headers(call)))
                return answer(call, response)
            except httpx.TransportError:
                wait = self._settings.wait(attempt, None) if call.idempotent else None
                if wait is None:
                    raise
            except BaomiError as error:
                wait = self._settings.wait(attempt, error) if call.idempotent else None
                if wait is None:
                    raise
            time.sleep(wait)
            attempt += 1

    def prove_inclusion(self, seq: int, key: VerifierKey) -> Inclusion:
        """Proves, without trusting the server, that audit event `seq` is in the log: verifies
        the newest checkpoint with `key`, asks for the inclusion proof against it and checks
        the proof. An event not yet under a signed checkpoint is waited for, up to ten
        seconds."""
        deadline = time.monotonic() + _PROOF_WAIT_SECONDS
        while True:
            try:
                checkpoint = key.verify_checkpoint(self.get_checkpoint()["note"])
                proof = self.get_inclusion_proof(seq=seq, size=checkpoint.size)
            except BaomiError as e:
                if e.code in _NOT_YET and time.monotonic() < deadline:
                    time.sleep(0.25)
                    continue
                raise
            if proof["seq"] != seq:
                raise NotVerifiedError(f"the proof is for event {proof['seq']}, not {seq}")
            verify_inclusion(dict(proof), checkpoint)
            return Inclusion(checkpoint, dict(proof))


class AsyncClient(_Base, AsyncOperations):
    """The asynchronous `Client`: the same methods, awaited."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        subject_token: str | None = None,
        operator: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.2,
        max_retry_wait: float = 30.0,
        batch_limit: int | None = None,
        client_cert: tuple[str, str] | None = None,
        ca_file: str | None = None,
        verify: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            subject_token=subject_token,
            operator=operator,
            retries=retries,
            backoff=backoff,
            max_retry_wait=max_retry_wait,
            batch_limit=batch_limit,
        )
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            verify=_tls(client_cert, ca_file, verify),
            transport=transport,
        )
        self._limit_lock = asyncio.Lock()

    def with_credential(
        self, *, api_key: str | None = None, subject_token: str | None = None, operator: str | None = None
    ) -> AsyncClient:
        """A client with another credential or operator, sharing this one's connections."""
        return self._derive(api_key, subject_token, operator)  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _batch_limit(self) -> int:
        async with self._limit_lock:
            if self._limit.value is None:
                try:
                    self._limit.value = limit_from_openapi((await self._http.get("/openapi.json")).json())
                except (httpx.HTTPError, ValueError):
                    self._limit.value = DEFAULT_BATCH_LIMIT
            return self._limit.value

    async def _send(self, call: Call) -> Any:
        batch = Batch(call, await self._batch_limit() if call.batch else 0)
        for body in batch.bodies:
            try:
                batch.done(body, await self._attempts(call, body))
            except BaomiError as error:
                failure = batch.failed(error)
                if failure is error:
                    raise
                raise failure from error
        return batch.answer

    async def _attempts(self, call: Call, body: Any) -> Any:
        attempt = 0
        while True:
            try:
                response = await self._http.request(**request(call, body, self._settings.headers(call)))
                return answer(call, response)
            except httpx.TransportError:
                wait = self._settings.wait(attempt, None) if call.idempotent else None
                if wait is None:
                    raise
            except BaomiError as error:
                wait = self._settings.wait(attempt, error) if call.idempotent else None
                if wait is None:
                    raise
            await asyncio.sleep(wait)
            attempt += 1

    async def prove_inclusion(self, seq: int, key: VerifierKey) -> Inclusion:
        """`Client.prove_inclusion`, awaited."""
        deadline = time.monotonic() + _PROOF_WAIT_SECONDS
        while True:
            try:
                checkpoint = key.verify_checkpoint((await self.get_checkpoint())["note"])
                proof = await self.get_inclusion_proof(seq=seq, size=checkpoint.size)
            except BaomiError as e:
                if e.code in _NOT_YET and time.monotonic() < deadline:
                    await asyncio.sleep(0.25)
                    continue
                raise
            if proof["seq"] != seq:
                raise NotVerifiedError(f"the proof is for event {proof['seq']}, not {seq}")
            verify_inclusion(dict(proof), checkpoint)
            return Inclusion(checkpoint, dict(proof))
