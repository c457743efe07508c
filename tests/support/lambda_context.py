"""The Lambda context the tests hand to handlers: the local stack's own."""

from __future__ import annotations

from local.lambda_context import LocalLambdaContext as FakeLambdaContext

__all__ = ["FakeLambdaContext"]
