"""The API's types (typed dictionaries), one per schema of its OpenAPI document:
`from baomi.models import EncryptRequest`."""

from ._models import *  # noqa: F403
from ._models import __all__ as __all__
