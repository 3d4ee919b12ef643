"""Masking a Spark DataFrame with ``mapInArrow``: each executor builds its own Masker from
the policy text and key bytes (a Masker holds native state and is not pickled), and masks
its partitions' Arrow batches as ``baomi mask`` masks CSV rows. The schema is unchanged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from . import Masker


def mask_dataframe(
    df,
    policy_file: str | Path,
    role: Optional[str] = None,
    purpose: Optional[str] = None,
    key_file: Optional[str | Path] = None,
    subject: Optional[str] = None,
    year: Optional[int] = None,
):
    """``df`` with its string columns masked under the policy's rule for ``role`` and
    ``purpose``. With ``key_file`` (the CLI's key file) pseudonyms are consistent with
    ``baomi mask --consistent --key-file``; without it, with nothing else."""
    policy = Path(policy_file).read_text(encoding="utf-8")
    key = Path(key_file).read_bytes() if key_file is not None else None
    if key is None:
        # One random key for the whole job, not one per executor: a value gets one
        # pseudonym across the table.
        key = os.urandom(32)

    def mask_partition(batches):
        masker = Masker(policy, role, purpose, key, year)
        yield from masker.mask_batches(batches, subject)

    return df.mapInArrow(mask_partition, df.schema)
