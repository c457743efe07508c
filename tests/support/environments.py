"""The environment variables a service function and the API function read, for tests that build
handlers from the environment."""

from __future__ import annotations

SERVICE_ENVIRON = {
    "LEDGER_TABLE_NAME": "Ledger-1",
    "AUDIT_TABLE_NAME": "Audit-1",
    "IDEMPOTENCY_TABLE_NAME": "Idempotency-1",
    "PROCESSOR": "simulated",
    "PROCESSOR_SECRET_ARN": "",
}
API_ENVIRON = SERVICE_ENVIRON | {
    "AUDIT_KEY_ID": "key-1",
    "REFUND_WINDOW_DAYS": "90",
    "FEE_POLICY": "proportional",
    "CURRENCY_CONVERSION": "true",
}
