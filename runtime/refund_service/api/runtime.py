"""What the API's routes run with, built once per process on first use (bootstrap.py)."""

from __future__ import annotations

from dataclasses import dataclass

from refund_service.api.auth import Principal
from refund_service.api.refund_creation import RefundCreator
from refund_service.domain.audit import Initiator
from refund_service.service.context import Caller, Services
from refund_service.service.ports import FieldEncryptor


@dataclass
class ApiRuntime:
    services: Services
    refunds: RefundCreator
    encryptor: FieldEncryptor

    def caller(
        self, principal: Principal, source_ip: str | None, correlation_id: str | None
    ) -> Caller:
        """The initiator for the audit trail, its e-mail and address sealed before storage."""
        email = self.encryptor.encrypt(principal.email, "email") if principal.email else None
        address = self.encryptor.encrypt(source_ip, "source_ip") if source_ip else None
        kind = "user" if principal.is_user else "system"
        return Caller(Initiator(kind, principal.subject, email, address), correlation_id)
