"""Names the functions emit and the CDK stack watches, defined once for both sides.

Every custom metric goes to METRICS_NAMESPACE with the single dimension `service` =
SERVICE_NAME (Powertools' default dimension); the alarms and the dashboard match on exactly
that, so a metric emitted with other dimensions is a different metric to CloudWatch.
"""

from __future__ import annotations

SERVICE_NAME = "refund-service"
METRICS_NAMESPACE = "RefundService"

REFUNDS_REQUESTED = "RefundsRequested"
REFUNDS_SUCCEEDED = "RefundsSucceeded"
REFUNDS_FAILED = "RefundsFailed"
REFUNDS_PENDING = "RefundsPending"
DUPLICATE_BLOCKED = "DuplicateBlocked"
CHARGEBACK_CONFLICT = "ChargebackConflict"
REFUND_AMOUNT = "RefundAmount"
PROCESSOR_LATENCY = "ProcessorLatency"
PROCESSOR_FAILURES = "ProcessorFailures"
STALE_PENDING_REFUNDS = "StalePendingRefunds"
PENDING_REFUND_AGE = "PendingRefundAge"
LEDGER_MISMATCH = "LedgerMismatch"
LEDGER_VERIFIED = "LedgerVerified"
# A processor reports success for a refund the ledger recorded as failed: someone must look.
REFUND_OUTCOME_CONFLICT = "RefundOutcomeConflict"
UNMATCHED_DISPUTES = "UnmatchedDisputes"
# The ledger booked more refunds (and standing chargebacks) than the payment captured.
OVER_REFUNDED = "OverRefunded"
# Processor reconciliation found a refund the processor and the ledger disagree on.
PROCESSOR_MISMATCH = "ProcessorMismatch"
# Processor reconciliation booked a payout the ledger lacked.
PROCESSOR_PAYOUTS_BOOKED = "ProcessorPayoutsBooked"
# A request refused for a transaction that does not exist: counted, not stored.
REJECTED_UNKNOWN_TRANSACTION = "RejectedUnknownTransaction"
# Anchoring: the chain heads one run committed to.
ANCHORED_HEADS = "AnchoredHeads"
# Verify: transactions whose audit chain disagrees with the anchor that covers them.
ANCHOR_MISMATCH = "AnchorMismatch"
