"""Starting, serving and stopping the local stack."""

from __future__ import annotations

import os
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from local import auth
from local.config import HOST, LocalConfig
from local.functions import LocalFunctions
from local.gateway import Gateway, make_server
from local.processes import (
    confirm_own_data,
    require_distinct_ports,
    require_free,
    spawn_dynamodb_local,
    spawn_moto,
    stop,
    wait_until_listening,
)
from local.provision import DemoPayment
from local.simulator import local_simulator
from local.stream import LocalStreamRunner

PROCESSOR_WINDOW = timedelta(hours=48)  # what `POST /local/reconcile` compares


class LocalStack:
    def __init__(self, config: LocalConfig):
        self.config = config
        self.processes: list[subprocess.Popen[bytes]] = []
        self.demo: list[DemoPayment] = []
        self._server: Any = None
        self._functions: LocalFunctions | None = None
        self._stopping = threading.Event()
        self._scheduled: Any = None

    def start(self) -> None:
        config = self.config
        require_distinct_ports(config)
        for port, what in (
            (config.port, "the API"),
            (config.dynamodb_port, "DynamoDB Local"),
            (config.moto_port, "moto server"),
        ):
            require_free(port, what)
        print("starting DynamoDB Local and moto server...", flush=True)
        dynamodb = spawn_dynamodb_local(config)
        self.processes.append(dynamodb.process)
        moto = spawn_moto(config)
        self.processes.append(moto.process)
        wait_until_listening(dynamodb, config.dynamodb_url, timeout=60)
        confirm_own_data(config.dynamodb_port, config.data_dir / "dynamodb")
        wait_until_listening(moto, config.moto_url, timeout=60)
        os.environ.update(config.handler_environment(audit_key_id=""))
        self._provision()
        key = auth.signing_key(config.key_file)
        environment = {name: os.environ[name] for name in config.handler_environment("")}
        self._functions = LocalFunctions(environment, config.workers)
        self.change_stream = LocalStreamRunner.start(
            config.dynamodb_url, self._stopping, config.stream_seconds
        )
        local_routes = {
            ("POST", "/local/reconcile"): lambda _query: self.reconcile_now(),
            ("GET", "/local/events"): self.change_stream.sink.route,
        }
        gateway = Gateway(key, self._functions.api, self._functions.webhooks, local_routes)
        self._server = make_server(HOST, config.port, gateway)
        threading.Thread(target=self._reconcile_forever, name="reconciler", daemon=True).start()
        threading.Thread(target=self._simulate_forever, name="simulator", daemon=True).start()

    def _scheduled_runs(self) -> tuple[Any, Any]:
        """The two reconcilers, built by the composition root as their functions are, on one
        Services: they run in this process, one after the other."""
        if self._scheduled is None:
            from refund_service.bootstrap import (  # noqa: PLC0415
                build_processor_reconciler,
                build_reconciler,
            )
            from refund_service.settings import (  # noqa: PLC0415
                ProcessorReconcilerSettings,
                ReconcilerSettings,
            )

            pending = build_reconciler(ReconcilerSettings.from_environ())
            processor = build_processor_reconciler(
                ProcessorReconcilerSettings.from_environ(), services=pending.services
            )
            self._scheduled = (pending, processor)
        return self._scheduled

    def _provision(self) -> None:
        from local import provision  # noqa: PLC0415
        from refund_service.bootstrap import aws_client  # noqa: PLC0415
        from refund_service.storage.schema import ALL_TABLES  # noqa: PLC0415

        os.environ["AUDIT_KEY_ID"] = provision.audit_key(aws_client("kms"))
        # Every table of the shared schema, as the stack has them. The FX rates table stays
        # empty locally (no feed offline): refunds quote from the bundled history.
        names = {spec.construct_id: spec.default_name for spec in ALL_TABLES} | {
            "PaymentLedger": os.environ["LEDGER_TABLE_NAME"],
            "PaymentAuditTrail": os.environ["AUDIT_TABLE_NAME"],
            "Idempotency": os.environ["IDEMPOTENCY_TABLE_NAME"],
        }
        provision.create_tables(aws_client("dynamodb"), names)
        # The reconcilers' services run in this process anyway; the API's live in the workers.
        self.demo = provision.demo_payments(self._scheduled_runs()[0].services)

    def reconcile_now(self) -> dict[str, Any]:
        """Both reconciliations now (local only): every pending refund whatever its age, then
        the processor's payouts of the last two days, up to this moment, against the ledger."""
        from refund_service.service.processor_reconciliation import (  # noqa: PLC0415
            reconcile_processor,
        )
        from refund_service.service.reconciler import reconcile  # noqa: PLC0415

        services = self._scheduled_runs()[0].services
        report = reconcile(services, timedelta(0), timedelta(hours=1))
        pending = {
            "examined": report.examined,
            "succeeded": report.succeeded,
            "voided": report.voided,
            "still_pending": report.still_pending,
        }
        until = datetime.now(UTC)
        processor = reconcile_processor(services, until - PROCESSOR_WINDOW, until)
        return {"pending_refunds": pending, "processor": processor.as_dict()}

    def _reconcile_forever(self) -> None:
        """The two scheduled functions, one after the other, as their schedules run them."""
        from refund_service.handlers import processor_reconciler, reconciler  # noqa: PLC0415

        pending, processor = self._scheduled_runs()
        runs = (
            ("reconciler", lambda: reconciler.run_once(pending)),
            ("processor_reconciler", lambda: processor_reconciler.run_once(processor)),
        )
        while not self._stopping.wait(self.config.reconcile_seconds):
            for name, run in runs:
                try:
                    run()
                except Exception as error:  # keep the timer alive; the next run tries again
                    print(f"{name} run failed: {type(error).__name__}: {error}", flush=True)

    def _simulate_forever(self) -> None:
        """The simulated processor's clock: pending refunds decided, webhooks delivered."""
        simulator = local_simulator(self.config)
        while not self._stopping.wait(self.config.simulator_seconds):
            try:
                report = simulator.decide_due()
            except Exception as error:  # a processor hiccup never stops the stack
                print(f"simulated processor failed: {type(error).__name__}: {error}", flush=True)
                continue
            if report.undelivered:
                print(f"simulated webhooks not delivered: {report.undelivered}", flush=True)

    def print_banner(self) -> None:
        url = self.config.base_url
        lines = [
            "",
            f"refund service running at {url}",
            f"  DynamoDB Local {self.config.dynamodb_url} (data in {self.config.data_dir})",
            f"  moto server (KMS, CloudWatch) {self.config.moto_url}",
            f"  JWKS {url}/.well-known/jwks.json; reconciler every "
            f"{self.config.reconcile_seconds:.0f} s",
            f"  simulated processor: pending refunds decided after "
            f"{self.config.pending_seconds:g} s, webhooks to {url}/webhooks/simulated",
            "",
            "demo payments:",
            *(f"  {d.command.transaction_id:<22} {d.label}" for d in self.demo),
            "",
            "try:",
            "  TOKEN=$(make -s token | tail -n 1)",
            f'  curl -s {url}/transactions/demo-usd-001/ledger -H "Authorization: Bearer $TOKEN"',
            f'  curl -s -X POST {url}/refunds -H "Authorization: Bearer $TOKEN" '
            "-H 'Idempotency-Key: try-1' -H 'Content-Type: application/json' "
            '-d \'{"transaction_id": "demo-usd-001", "amount": 2500, '
            '"reason": "requested_by_customer"}\'',
            f'  curl -s {url}/transactions/demo-usd-001/audit -H "Authorization: Bearer $TOKEN"',
            "",
            "Ctrl-C stops everything.",
        ]
        print("\n".join(lines), flush=True)

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.server_close()
        if self._functions is not None:
            self._functions.close()
        stop(self.processes)
