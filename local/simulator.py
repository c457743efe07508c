"""The simulated processor's own side of the local stack: it decides pending refunds when
their time comes and posts its signed webhooks to the gateway, like a processor would."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from local.config import LocalConfig

if TYPE_CHECKING:
    from refund_service.adapters.processors.simulated import SimulatedProcessor

WEBHOOK_PATH = "/webhooks/simulated"


def http_sender(url: str, timeout: float = 30.0) -> Callable[[dict[str, str], bytes], int]:
    """POSTs one delivery to `url` (the local gateway) and answers its HTTP status."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"refusing a non-loopback webhook target: {url}")

    def send(headers: dict[str, str], body: bytes) -> int:
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    return send


def local_simulator(config: LocalConfig) -> SimulatedProcessor:
    """The simulated processor on the stack's memory, delivering to the stack's gateway."""
    from refund_service.adapters.processors.simulated import (  # noqa: PLC0415
        DynamoDBSimulatorMemory,
        SimulatedProcessor,
    )
    from refund_service.bootstrap import aws_client  # noqa: PLC0415
    from refund_service.settings import ServiceSettings  # noqa: PLC0415

    table = ServiceSettings.from_environ().idempotency_table
    memory = DynamoDBSimulatorMemory(aws_client("dynamodb"), table)
    return SimulatedProcessor(
        memory,
        announce=True,
        sender=http_sender(config.base_url + WEBHOOK_PATH),
        webhook_secret=config.webhook_secret,
        pending_after=timedelta(seconds=config.pending_seconds),
    )
