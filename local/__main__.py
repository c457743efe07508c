"""`python -m local run | token | reset | demo | anchor`: the local stack's commands (see
`make help`)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from typing import Any, NoReturn

from local.config import LocalConfig
from local.processes import StartupError


def _stop_on_sigterm() -> None:
    def raise_interrupt(_signum: int, _frame: Any) -> NoReturn:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)


def run(config: LocalConfig) -> int:
    from local.stack import LocalStack  # noqa: PLC0415 - imports the service; keep `token` light

    _stop_on_sigterm()
    stack = LocalStack(config)
    try:
        stack.start()
        stack.print_banner()
        stack.serve_forever()
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        stack.stop()
    return 0


def token(config: LocalConfig, scopes: str | None, subject: str) -> int:
    from local import auth  # noqa: PLC0415

    key = auth.signing_key(config.key_file)
    print(f"# scopes: {scopes or auth.ALL_SCOPES}; valid for one hour")
    print(auth.mint(key, scopes or auth.ALL_SCOPES, subject=subject))
    return 0


def reset(config: LocalConfig) -> int:
    shutil.rmtree(config.data_dir / "dynamodb", ignore_errors=True)
    # Anchors of wiped chains would contradict new ones recorded under the same ids.
    shutil.rmtree(config.anchor_folder, ignore_errors=True)
    print(f"local data under {config.data_dir} wiped (the signing key is kept)")
    return 0


def anchor(config: LocalConfig) -> int:
    """One anchoring run against the running local stack, as the hourly function does."""
    os.environ.update(config.handler_environment(audit_key_id=""))
    from refund_service.bootstrap import build_anchor  # noqa: PLC0415
    from refund_service.handlers import anchor as anchoring  # noqa: PLC0415

    run = build_anchor(anchoring.SETTINGS.from_environ())
    result = anchoring.run_once(run.ledger, run.anchors)
    print(f"anchored hours {result['anchors'] or 'none due'}: {result['heads']} chain heads")
    print(f"anchors are under {config.anchor_folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the whole service on this machine")
    token_parser = commands.add_parser("token", help="print a signed local token")
    token_parser.add_argument("--scopes", default=os.environ.get("SCOPES") or None)
    token_parser.add_argument("--subject", default="local-user")
    commands.add_parser("reset", help="wipe local data")
    commands.add_parser("demo", help="a narrated walk through the running stack")
    commands.add_parser("anchor", help="anchor the audit chain heads of each complete hour")
    args = parser.parse_args(argv)
    config = LocalConfig.from_env()
    if args.command == "run":
        return run(config)
    if args.command == "token":
        return token(config, args.scopes, args.subject)
    if args.command == "reset":
        return reset(config)
    if args.command == "anchor":
        return anchor(config)
    from local.demo import walk_through  # noqa: PLC0415

    return walk_through(config)


if __name__ == "__main__":
    sys.exit(main())
