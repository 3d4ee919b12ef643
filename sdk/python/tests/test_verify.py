"""Verification on the client: inclusion proofs of every leaf of small trees against a
reference written from RFC 9162, checkpoints, verifier keys and signed documents."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from baomi import NotVerifiedError, RECEIPT_FORMAT, UnsupportedKeyError, VerifierKey, canonical, leaf_hash, verify_inclusion


def make_key(name: str = "test/log") -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    raw = b"\x01" + private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex()
    return private, f"{name}+{key_id}+{base64.b64encode(raw).decode()}"


def sign_note(private: Ed25519PrivateKey, verifier: str, body: str) -> str:
    name, key_id, _ = verifier.split("+", 2)
    blob = bytes.fromhex(key_id) + private.sign(body.encode())
    return f"{body}\n\u2014 {name} {base64.b64encode(blob).decode()}\n"


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, recursively."""
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1, recursively."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def test_inclusion_proofs_of_every_leaf_of_small_trees() -> None:
    private, verifier = make_key()
    key = VerifierKey(verifier)
    for size in range(1, 10):
        leaves = [f'{{"seq":{i}}}'.encode() for i in range(size)]
        checkpoint = key.verify_checkpoint(sign_note(private, verifier, f"test/log\n{size}\n{b64(mth(leaves))}\n"))
        for i in range(size):
            proof = {"seq": i, "leaf_index": i, "tree_size": size, "event": leaves[i].decode(),
                     "leaf_hash": b64(leaf_hash(leaves[i])), "proof": [b64(h) for h in path(i, leaves)], "pruned": False}
            verify_inclusion(proof, checkpoint)
            forged = [
                {**proof, "event": proof["event"] + " "},
                {**proof, "tree_size": size + 1},
            ]
            if size > 1:
                forged.append({**proof, "leaf_index": (i + 1) % size})
            if proof["proof"]:
                forged.append({**proof, "proof": proof["proof"][:-1]})
            for f in forged:
                with pytest.raises(NotVerifiedError):
                    verify_inclusion(f, checkpoint)


def test_checkpoints_verify_only_with_their_key() -> None:
    private, verifier = make_key()
    _, stranger = make_key()
    note = sign_note(private, verifier, f"test/log\n3\n{b64(bytes(32))}\n")
    checkpoint = VerifierKey(verifier).verify_checkpoint(note)
    assert (checkpoint.origin, checkpoint.size, checkpoint.note) == ("test/log", 3, note)
    with pytest.raises(NotVerifiedError):
        VerifierKey(stranger).verify_checkpoint(note)
    with pytest.raises(NotVerifiedError):
        VerifierKey(verifier).verify_checkpoint(note.replace("\n3\n", "\n4\n", 1))
    _, other_log = make_key("other/log")
    with pytest.raises(NotVerifiedError):
        VerifierKey(other_log).verify_checkpoint(note)


def test_verifier_keys_are_checked() -> None:
    _, verifier = make_key()
    name, _, key = verifier.split("+", 2)
    with pytest.raises(ValueError):
        VerifierKey(f"{name}+00000000+{key}")
    with pytest.raises(UnsupportedKeyError):
        VerifierKey(f"{name}+01020304+{b64(bytes([0xFF, 0x04]) + bytes(64))}")


def test_signed_documents() -> None:
    private, verifier = make_key()
    key = VerifierKey(verifier)
    body = {"format": RECEIPT_FORMAT, "subject": "u-1", "at": 1796579659136,
            "purpose": {"id": "marketing", "version": 2}, "evidence": '开关 "on"\n', "guardian": None}
    signature = b64(private.sign(RECEIPT_FORMAT.encode() + b"\n" + canonical(body).encode()))
    document = {**body, "signature": {"alg": "Ed25519", "key": verifier, "value": signature}}
    assert key.verify_receipt(document)["subject"] == "u-1"
    # As text too, and with another algorithm's signature first.
    both = {**body, "signature": {"alg": "SM2", "value": "AAAA"},
            "signatures": [{"alg": "SM2", "value": b64(bytes(64))}, document["signature"]]}
    assert key.verify_receipt(json.dumps(both))["purpose"]["version"] == 2
    with pytest.raises(NotVerifiedError):
        key.verify_receipt({**document, "subject": "u-2"})
    with pytest.raises(NotVerifiedError):
        key.verify_erasure_certificate(document)


def test_canonical_text_is_serde_jsons() -> None:
    value = {"b": 'a\x01"\\\n\t<>&é\u2028\x7f', "a": [1, True, None], "é": {}}
    assert canonical(value) == '{"a":[1,true,null],"b":"a\\u0001\\"\\\\\\n\\t<>&é\u2028\x7f","é":{}}'
