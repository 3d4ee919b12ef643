"""Baomi's masking library for pandas, Arrow and Spark.

The same policy files as ``baomi mask``, the same detectors and operators, and with the
same key file the same pseudonyms: a table masked on Spark joins with one masked by the
CLI or read masked from the service's policies.

    from baomi_masking import Masker
    masker = Masker.from_files("policy.toml", role="analyst", key_file="mask.key")
    masked = masker.mask_frame(df)                # pandas: string columns, as CSV rows
    masked = masker.mask_batch(record_batch)      # Arrow: string columns masked, others kept

    from baomi_masking.spark import mask_dataframe
    masked_df = mask_dataframe(df, "policy.toml", role="analyst", key_file="mask.key")
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

import pyarrow as pa

from ._native import Masker as _Native

__all__ = ["Masker"]


class Masker:
    """A policy's rule for one role and purpose.

    ``policy`` is the TOML text of a ``baomi mask`` policy. ``key`` is the secret of
    consistent pseudonyms (the bytes of the CLI's key file, at least 32); without it each
    Masker draws its own random key, so its pseudonyms join nothing. ``year`` (default: this
    year) is the year age bands are counted from.
    """

    def __init__(
        self,
        policy: str,
        role: Optional[str] = None,
        purpose: Optional[str] = None,
        key: Optional[bytes] = None,
        year: Optional[int] = None,
    ) -> None:
        self._native = _Native(policy, role, purpose, key, year)

    @classmethod
    def from_files(
        cls,
        policy_file: str | Path,
        role: Optional[str] = None,
        purpose: Optional[str] = None,
        key_file: Optional[str | Path] = None,
        year: Optional[int] = None,
    ) -> "Masker":
        """A Masker from a policy file and, for consistent pseudonyms, a key file."""
        policy = Path(policy_file).read_text(encoding="utf-8")
        key = Path(key_file).read_bytes() if key_file is not None else None
        return cls(policy, role, purpose, key, year)

    def mask_text(self, text: str) -> str:
        """Free text, every finding masked by the rule's operator for its type."""
        return self._native.mask_text(text)

    def detect(self, text: str) -> List[Tuple[str, int, int, float]]:
        """The PI in ``text``: (type, start, end, score), offsets in characters."""
        return self._native.detect(text)

    def mask_texts(self, texts: Sequence[Optional[str]]) -> List[Optional[str]]:
        """Many texts; ``None`` stays ``None``."""
        return self._native.mask_texts(list(texts))

    def mask_series(self, series):
        """A pandas Series of free text, masked cell by cell; missing values stay missing."""
        import pandas as pd

        cells = [None if pd.isna(v) else str(v) for v in series.tolist()]
        return pd.Series(self.mask_texts(cells), index=series.index, name=series.name, dtype=object)

    def mask_array(self, array: pa.Array) -> pa.Array:
        """An Arrow string array (``string``, ``large_string``, ``string_view``, or a
        dictionary of them) of free text, masked cell by cell in its own buffers; nulls stay
        null."""
        return self._native.mask_array(array)

    def mask_columns(
        self, names: Sequence[str], columns: Sequence[Sequence[Optional[str]]], subject: Optional[str] = None
    ) -> List[List[Optional[str]]]:
        """Rows as ``baomi mask`` masks CSV rows: each row is the object of the named string
        columns, so the policy's ``fields`` paths name columns. ``subject`` names the column
        that holds the subject (for ``date_shift``)."""
        names = list(names)
        index = names.index(subject) if subject is not None else None
        return self._native.mask_columns(names, [list(c) for c in columns], index)

    def mask_batch(self, batch: pa.RecordBatch, subject: Optional[str] = None) -> pa.RecordBatch:
        """An Arrow record batch: its string columns masked as CSV rows, the others kept,
        the schema unchanged. The cells are read from the batch's buffers and written to new
        ones without becoming Python objects."""
        return self._native.mask_batch(batch, subject)

    def mask_batches(self, batches: Iterable[pa.RecordBatch], subject: Optional[str] = None):
        """Record batches one by one (the shape of a Spark ``mapInArrow`` function)."""
        for batch in batches:
            yield self.mask_batch(batch, subject)

    def mask_frame(self, frame, subject: Optional[str] = None):
        """A pandas DataFrame: its string columns masked as CSV rows, the others kept."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        masked = [self.mask_batch(b, subject) for b in table.to_batches()]
        out = pa.Table.from_batches(masked, schema=table.schema).to_pandas()
        out.index = frame.index
        return out
