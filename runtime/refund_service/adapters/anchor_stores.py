"""Where anchors are kept: an S3 bucket under Object Lock in AWS, a folder locally."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ANCHOR_PREFIX = "anchors/"


def _key(anchor_id: str) -> str:
    # Anchor ids are hours in ISO form: their names sort as their times do.
    return f"{ANCHOR_PREFIX}{anchor_id}.json"


def _body(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class S3AnchorStore:
    """The bucket's default retention (compliance mode) locks each object as it is written:
    no one, the account root included, can change or delete it before the retention ends."""

    def __init__(self, client: Any, bucket: str):
        self._client = client
        self._bucket = bucket

    def put(self, document: dict[str, Any]) -> None:
        # Object Lock refuses a write without an integrity checksum.
        self._client.put_object(
            Bucket=self._bucket,
            Key=_key(document["anchor_id"]),
            Body=_body(document),
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
        )

    def _keys(self) -> list[str]:
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=ANCHOR_PREFIX):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys, reverse=True)

    def newest_first(self) -> Iterator[dict[str, Any]]:
        for key in self._keys():
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            yield json.loads(body)


class FolderAnchorStore:
    """Locally: one file per anchor under `.local/anchors/`, never overwritten."""

    def __init__(self, folder: Path):
        self._folder = folder

    def put(self, document: dict[str, Any]) -> None:
        path = self._folder / _key(document["anchor_id"]).removeprefix(ANCHOR_PREFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as file:  # "x": an anchor once written is never replaced
            file.write(_body(document))

    def newest_first(self) -> Iterator[dict[str, Any]]:
        if not self._folder.is_dir():
            return
        for path in sorted(self._folder.glob("*.json"), reverse=True):
            yield json.loads(path.read_bytes())
