"""DynamoDB Streams records of the ledger table, read as ledger changes.

The same record shape arrives in a Lambda event and from `dynamodbstreams.get_records`
(DynamoDB Local's stream included): `dynamodb.Keys`, `dynamodb.NewImage`,
`dynamodb.SequenceNumber`, in low-level attribute-value form.
"""

from __future__ import annotations

from typing import Any

from refund_service.adapters.dynamodb import codec
from refund_service.service.change_stream import StreamChange

_TRANSACTION_PREFIX = "TXN#"


def change_from_record(record: dict[str, Any]) -> StreamChange:
    """The ledger change a record carries; raises on a record that cannot be read."""
    data = record["dynamodb"]
    sequence_number = str(data["SequenceNumber"])
    keys = codec.deserialize(data["Keys"])
    pk, sk = str(keys["pk"]), str(keys["sk"])
    if not pk.startswith(_TRANSACTION_PREFIX):
        return StreamChange(sequence_number, None)
    transaction_id = pk.removeprefix(_TRANSACTION_PREFIX)
    image = data.get("NewImage")
    entry = None
    if sk.startswith(codec.ENTRY_PREFIX) and image is not None:
        entry = codec.entry_from_item(codec.deserialize(image))
    return StreamChange(sequence_number, transaction_id, entry)
