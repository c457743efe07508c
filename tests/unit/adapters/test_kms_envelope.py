"""Envelope encryption of audit fields: sealed, bound to their purpose, one KMS call per key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cryptography.exceptions import InvalidTag
from moto import mock_aws

from refund_service.adapters.kms_envelope import KmsEnvelopeEncryptor, decrypt


@pytest.fixture
def kms() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


def counting(client: Any) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call.kms.*", lambda model, **_: calls.append(model.name))
    return calls


def test_fields_are_sealed_and_only_authorized_tooling_opens_them(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    token = KmsEnvelopeEncryptor(kms, key_id).encrypt("ops@example.com", "email")
    assert "ops@example.com" not in token and token.startswith("v1.")
    assert decrypt(kms, token, "email") == "ops@example.com"
    with pytest.raises(InvalidTag):  # a ciphertext moved to another field does not open
        decrypt(kms, token, "source_ip")


def test_many_requests_share_one_data_key(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    calls = counting(kms)
    encryptor = KmsEnvelopeEncryptor(kms, key_id)
    tokens = [encryptor.encrypt(f"user{i}@example.com", "email") for i in range(50)]
    assert calls == ["GenerateDataKey"]
    assert len(set(tokens)) == 50  # fresh nonce every time


def test_a_key_is_replaced_after_its_uses_run_out(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    calls = counting(kms)
    encryptor = KmsEnvelopeEncryptor(kms, key_id, max_uses=3)
    for i in range(7):
        encryptor.encrypt(str(i), "email")
    assert calls == ["GenerateDataKey"] * 3


def test_forgetting_data_keys_makes_every_encryptor_ask_for_a_new_one(kms: Any) -> None:
    from refund_service.adapters.kms_envelope import forget_data_keys

    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    calls = counting(kms)
    used, unused = KmsEnvelopeEncryptor(kms, key_id), KmsEnvelopeEncryptor(kms, key_id)
    first = used.encrypt("a", "email").split(".")[1]
    assert forget_data_keys() >= 1  # `used` held one; `unused` none
    second = used.encrypt("a", "email").split(".")[1]
    assert calls == ["GenerateDataKey", "GenerateDataKey"]
    assert first != second
    assert unused._key is None
