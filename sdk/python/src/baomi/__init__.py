"""Client of Baomi, the personal-data protection service.

    from baomi import Client

    with Client("https://baomi.internal:8443", api_key="bm_…", operator="cs-agent-017") as baomi:
        sealed = baomi.encrypt({"items": [{"subject_id": "u-10086", "field": "mobile", "value": "13800138000"}]})
        shown = baomi.decrypt({"purpose": "loan_underwriting", "view": "masked", "items": [...]})

One method per call of the v1 API (`Client`, and `AsyncClient` for asyncio), generated from
the server's OpenAPI document; requests and answers are typed dictionaries
(`baomi.models`); errors are `BaomiError`s with the stable `code` (`baomi.codes`).
"""

from . import codes, models
from ._client import AsyncClient, Client
from ._errors import (
    AuthenticationError,
    BadRequestError,
    BaomiError,
    BatchError,
    ConflictError,
    GoneError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    NotVerifiedError,
    PermissionDeniedError,
    QuotaExceededError,
    ServiceUnavailableError,
    UnsupportedKeyError,
)
from ._transport import VERSION as __version__
from ._verify import (
    ERASURE_CERTIFICATE_FORMAT,
    RECEIPT_FORMAT,
    Checkpoint,
    Inclusion,
    VerifierKey,
    canonical,
    leaf_hash,
    verify_inclusion,
)

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BaomiError",
    "BatchError",
    "Checkpoint",
    "Client",
    "ConflictError",
    "ERASURE_CERTIFICATE_FORMAT",
    "GoneError",
    "Inclusion",
    "InternalServerError",
    "InvalidRequestError",
    "NotFoundError",
    "NotVerifiedError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RECEIPT_FORMAT",
    "ServiceUnavailableError",
    "UnsupportedKeyError",
    "VerifierKey",
    "__version__",
    "canonical",
    "codes",
    "leaf_hash",
    "models",
    "verify_inclusion",
]
