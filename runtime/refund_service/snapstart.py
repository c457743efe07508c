"""Lambda SnapStart runtime hooks for the API function (docs/decisions/0024-snapstart.md).

Before the snapshot, the hook does the work every first request would otherwise repeat: the
imports, the boto3 clients (their service models and endpoint rules) and the resolver's
validation models. It makes no AWS call, so the snapshot holds no connection, no processor
secret and no KMS data key.

After a restore, many execution environments resume from the same memory. Each drops what
must stay unique to it:
- the KMS data key, so restored copies never seal under one key and its use limit keeps
  bounding how many random GCM nonces it sees (none is cached at snapshot time; this holds
  even if one were);
- `random`'s state, which drives retry jitter: copies with one state would retry in step;
- the boto3 connection pools, whose sockets belong to an environment that no longer exists.

`snapshot_restore_py` exists only in Lambda's Python runtime. Elsewhere the hooks are not
registered, and stay plain functions that tests and the benchmark call.
"""

from __future__ import annotations

import random
from typing import Any

from refund_service.adapters.kms_envelope import forget_data_keys

# The clients a refund uses; building them loads their models, which is most of their cost.
PRIMED_SERVICES = ("dynamodb", "kms")
_primed_clients: list[Any] = []


def before_snapshot() -> None:
    """Imports, clients and resolver models, as a first request would build them."""
    from refund_service.api.openapi_document import openapi_json  # noqa: PLC0415
    from refund_service.bootstrap import aws_client  # noqa: PLC0415
    from refund_service.handlers import api  # noqa: PLC0415

    _primed_clients[:] = [aws_client(service) for service in PRIMED_SERVICES]
    if api.SETTINGS.from_environ().processor == "simulated":
        # A vendor processor reads its secret when built: that stays for the first request,
        # so no secret is frozen into a snapshot that outlives its rotation.
        api.runtime()
    openapi_json(api.app)  # builds every route's validation models
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415, F401


def after_restore() -> None:
    """What must differ between environments restored from one snapshot."""
    forget_data_keys()
    random.seed()  # from os.urandom
    empty_connection_pools(_primed_clients)


def empty_connection_pools(clients: list[Any]) -> int:
    """Closes every pooled connection of `clients`; they open new ones on their next call.

    Returns how many pools were emptied.
    """
    emptied = 0
    for client in clients:
        session = client._endpoint.http_session
        emptied += len(session._manager.pools)
        emptied += sum(len(proxy.pools) for proxy in session._proxy_managers.values())
        client.close()
    return emptied


def register() -> bool:
    """Registers the hooks with the Lambda runtime, where there is one."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]  # noqa: PLC0415
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


registered = register()
