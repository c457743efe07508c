"""Envelope encryption of sensitive fields (the initiator's e-mail and address) under KMS.

One data key is asked of KMS per process and reused for a bounded time and number of uses,
so a request makes at most one KMS call and almost always none. A SnapStart restore must not
carry a key over from the snapshot: every restored copy would seal under the same key, and
its use limit would no longer bound how many random GCM nonces the key sees. The restore hook
calls `forget_data_keys()`, and nothing caches a key before the snapshot. Each field is sealed with
AES-256-GCM; the encrypted data key travels with it, and the field's purpose is bound as
associated data so a ciphertext cannot be moved to another field.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

VERSION = "v1"
# Bound to every data key, so KMS (and CloudTrail) say what a key was for.
ENCRYPTION_CONTEXT = {"purpose": "refund-service-audit-fields"}
_NONCE_BYTES = 12
# Every live encryptor, so a restore hook can reach the keys they cache.
_ENCRYPTORS: weakref.WeakSet[KmsEnvelopeEncryptor] = weakref.WeakSet()


@dataclass
class _DataKey:
    plaintext: bytes
    encrypted: bytes
    created: float
    uses: int = 0


class KmsEnvelopeEncryptor:
    def __init__(
        self, kms_client: Any, key_id: str, max_age_seconds: float = 300.0, max_uses: int = 10_000
    ):
        self._kms = kms_client
        self._key_id = key_id
        self._max_age = max_age_seconds
        self._max_uses = max_uses
        self._key: _DataKey | None = None
        self._lock = threading.Lock()
        _ENCRYPTORS.add(self)

    def forget_data_key(self) -> None:
        """The next encryption asks KMS for a new data key."""
        with self._lock:
            self._key = None

    def _data_key(self) -> _DataKey:
        with self._lock:
            key = self._key
            fresh = (
                key and key.uses < self._max_uses and time.monotonic() - key.created < self._max_age
            )
            if not fresh:
                answer = self._kms.generate_data_key(
                    KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=ENCRYPTION_CONTEXT
                )
                key = _DataKey(answer["Plaintext"], answer["CiphertextBlob"], time.monotonic())
                self._key = key
            assert key is not None
            key.uses += 1
            return key

    def encrypt(self, plaintext: str, purpose: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

        key = self._data_key()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(key.plaintext).encrypt(nonce, plaintext.encode(), purpose.encode())
        parts = (key.encrypted, nonce, sealed)
        return ".".join([VERSION, *(base64.urlsafe_b64encode(p).decode() for p in parts)])


def forget_data_keys() -> int:
    """Drops the data key every encryptor in this process holds; returns how many held one."""
    held = 0
    for encryptor in list(_ENCRYPTORS):
        held += encryptor._key is not None
        encryptor.forget_data_key()
    return held


def decrypt(kms_client: Any, token: str, purpose: str) -> str:
    """For authorized tooling only: the API never shows these fields in clear."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

    version, *encoded = token.split(".")
    if version != VERSION or len(encoded) != 3:
        raise ValueError("not an envelope-encrypted field")
    encrypted_key, nonce, sealed = (base64.urlsafe_b64decode(p) for p in encoded)
    data_key = kms_client.decrypt(
        CiphertextBlob=encrypted_key, EncryptionContext=ENCRYPTION_CONTEXT
    )["Plaintext"]
    return AESGCM(data_key).decrypt(nonce, sealed, purpose.encode()).decode()
