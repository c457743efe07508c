"""The few attributes of a Lambda context that the handlers and Powertools read."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class LocalLambdaContext:
    function_name: str = "refund-service-local"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:refund-service"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_millis: int = 29_000  # the API function's timeout in AWS

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis
