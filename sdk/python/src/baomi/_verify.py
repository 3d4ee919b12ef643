"""Verification on the client: checkpoints (C2SP signed notes), inclusion proofs
(RFC 9162) and signed documents (consent receipts, erasure certificates), with the log's
verifier key, so that a client need not take the server's word."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._errors import NotVerifiedError, UnsupportedKeyError

RECEIPT_FORMAT = "baomi-consent-receipt/1"
ERASURE_CERTIFICATE_FORMAT = "baomi-erasure-certificate/1"


def leaf_hash(event: bytes) -> bytes:
    """An event's leaf in the log's tree: SHA-256(0x00 ‖ the event's text)."""
    return hashlib.sha256(b"\x00" + event).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise NotVerifiedError("not base64") from e


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose signature verified: the log held `size` events with this root.
    Keep `note` to hold the log to it later (`get_consistency_proof(note=…)`)."""

    origin: str
    size: int
    root: bytes
    note: str


@dataclass(frozen=True)
class Inclusion:
    """An event proven to be in the log: the verified checkpoint and the proof."""

    checkpoint: Checkpoint
    proof: dict[str, Any]


class VerifierKey:
    """The public key the audit log signs with, in its published form
    `<name>+<key id>+<base64(0x01 ‖ Ed25519 key)>` (`list_signing_keys`, `get_checkpoint`).
    Take it once from a copy you trust, not from each answer."""

    def __init__(self, text: str) -> None:
        parts = text.split("+", 2)
        if len(parts) != 3 or not parts[0]:
            raise ValueError("a verifier key is <name>+<key id>+<key>")
        name, key_id, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ValueError("the verifier key's key is not base64") from e
        if not raw or raw[0] != 0x01:
            raise UnsupportedKeyError("only Ed25519 verifier keys are supported")
        if len(raw) != 33:
            raise ValueError("the verifier key's Ed25519 key is not 32 bytes")
        digest = hashlib.sha256(name.encode() + b"\n" + raw).digest()
        if digest[:4].hex() != key_id:
            raise ValueError("the verifier key's id does not match its key")
        self.name = name
        self._id = digest[:4]
        self._public = Ed25519PublicKey.from_public_bytes(raw[1:])
        self._text = text

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"VerifierKey({self._text!r})"

    def _verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            self._public.verify(signature, message)
            return True
        except InvalidSignature:
            return False

    def verify_checkpoint(self, note: str) -> Checkpoint:
        """Checks a checkpoint's signed note with this key and returns what it says."""
        end = note.find("\n\n")
        if end < 0:
            raise NotVerifiedError("the checkpoint has no signature block")
        body, signatures = note[: end + 1], note[end + 2 :]
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise NotVerifiedError("the checkpoint has no size or root")
        signed = False
        for line in signatures.split("\n"):
            if not line.startswith("\u2014 "):
                continue
            name, _, blob = line[2:].partition(" ")
            if name != self.name:
                continue
            try:
                raw = base64.b64decode(blob, validate=True)
            except (binascii.Error, ValueError):
                continue
            if len(raw) == 68 and raw[:4] == self._id and self._verifies(raw[4:], body.encode()):
                signed = True
                break
        if not signed:
            raise NotVerifiedError(f"no signature of {self.name} verifies the checkpoint")
        if lines[0] != self.name:
            raise NotVerifiedError(f"the checkpoint is of log {lines[0]!r}, not {self.name!r}")
        if not lines[1].isdigit():
            raise NotVerifiedError("the checkpoint's size is not a number")
        root = _b64(lines[2])
        if len(root) != 32:
            raise NotVerifiedError("the checkpoint's root is not a SHA-256 hash")
        return Checkpoint(lines[0], int(lines[1]), root, note)

    def verify_document(self, document: dict[str, Any] | str | bytes, format: str) -> dict[str, Any]:
        """Checks a signed JSON document of `format`: its `signature` (or one of its
        `signatures`) signs the format, a line break, and the rest of the document in
        canonical form. Returns the document without its signatures."""
        body = json.loads(document) if isinstance(document, (str, bytes)) else copy.deepcopy(document)
        if not isinstance(body, dict) or body.get("format") != format:
            raise NotVerifiedError(f"the document is not of format {format}")
        candidates = [body.pop("signature", None)] + list(body.pop("signatures", None) or [])
        message = format.encode() + b"\n" + canonical(body).encode()
        for candidate in candidates:
            value = candidate.get("value") if isinstance(candidate, dict) else None
            if not isinstance(value, str):
                continue
            try:
                signature = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
            if len(signature) == 64 and self._verifies(signature, message):
                return body
        raise NotVerifiedError("no signature of this key verifies the document")

    def verify_receipt(self, document: dict[str, Any] | str | bytes) -> dict[str, Any]:
        """Checks a consent receipt (`get_receipt`) and returns its body."""
        return self.verify_document(document, RECEIPT_FORMAT)

    def verify_erasure_certificate(self, document: dict[str, Any] | str | bytes) -> dict[str, Any]:
        """Checks an erasure certificate and returns its body."""
        return self.verify_document(document, ERASURE_CERTIFICATE_FORMAT)


def canonical(value: Any) -> str:
    """A JSON value as the server signs it: keys sorted, no whitespace, strings escaped as
    serde_json escapes them (control characters only)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def verify_inclusion(proof: dict[str, Any], checkpoint: Checkpoint) -> None:
    """Checks that an inclusion proof (`get_inclusion_proof`) puts its event in the tree of
    a verified checkpoint, and that the event, when the proof carries it, is its leaf."""
    index, size = proof["leaf_index"], proof["tree_size"]
    if size != checkpoint.size:
        raise NotVerifiedError(f"the proof is for a tree of {size} events, the checkpoint of {checkpoint.size}")
    leaf = _b64(proof["leaf_hash"])
    if len(leaf) != 32:
        raise NotVerifiedError("the leaf hash is not a SHA-256 hash")
    if proof.get("event") is not None and leaf_hash(proof["event"].encode()) != leaf:
        raise NotVerifiedError("the event is not the leaf the proof is for")
    if not 0 <= index < size:
        raise NotVerifiedError("the leaf index is outside the tree")
    fn, sn, r = index, size - 1, leaf
    for encoded in proof["proof"]:
        p = _b64(encoded)
        if len(p) != 32 or sn == 0:
            raise NotVerifiedError("the audit path is malformed")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != checkpoint.root:
        raise NotVerifiedError("the audit path does not lead to the checkpoint's root")
