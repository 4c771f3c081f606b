"""`asyncmcp serve`: put an MCP server object behind a request queue, with N worker processes.

With `--workers N` (N > 1) this process becomes a supervisor: it starts N single-worker
processes that share one state key (generated here when the operator gave none, so 2025 sessions
and 2026 requestState verify on every worker), forwards SIGINT/SIGTERM to them and exits when
they have. SIGINT/SIGTERM make a worker stop receiving and finish in-flight requests within
`--grace` seconds; whatever is unfinished then goes back to the queue for another worker.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import secrets
import signal
import subprocess
import sys
from typing import Any

import anyio
import anyio.abc

from asyncmcp.server.state_key import STATE_KEY_ENV

__all__ = ["add_parser", "load_server"]

logger = logging.getLogger(__name__)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("serve", help="serve an MCP server object on a request queue")
    parser.add_argument("target", metavar="module:attribute", help="the Server or MCPServer to serve, e.g. app:server")
    parser.add_argument("--transport", choices=["sqs"], default="sqs")
    parser.add_argument(
        "--request-queue-url",
        default=os.environ.get("ASYNCMCP_REQUEST_QUEUE_URL"),
        help="the queue to read requests from (env ASYNCMCP_REQUEST_QUEUE_URL)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--max-in-flight", type=int, default=64, help="requests one worker runs at once")
    parser.add_argument(
        "--allow-reply-queue",
        action="append",
        default=None,
        metavar="GLOB",
        help="reply queue URLs the server may answer (repeatable); default: same account and region",
    )
    parser.add_argument("--on-bad-message", choices=["delete", "dead-letter"], default="delete")
    parser.add_argument("--visibility-timeout", type=int, default=30)
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to finish in-flight requests on stop")
    parser.set_defaults(run=run)


def load_server(target: str) -> Any:
    """Import `module:attribute`; the current directory is importable, as with uvicorn."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"asyncmcp serve: expected module:attribute (for example app:server), got {target!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"asyncmcp serve: cannot import {module_name!r}: {exc}") from exc
    try:
        server = getattr(module, attribute)
    except AttributeError:
        raise SystemExit(f"asyncmcp serve: {module_name!r} has no attribute {attribute!r}") from None
    return server() if callable(server) and not hasattr(server, "run") else server


def run(args: argparse.Namespace) -> int:
    if not args.request_queue_url:
        raise SystemExit("asyncmcp serve: give --request-queue-url (or set ASYNCMCP_REQUEST_QUEUE_URL)")
    if args.workers > 1:
        return _supervise(args)
    from asyncmcp.sqs import SqsServerConfig, SqsWorker

    config = SqsServerConfig(
        read_queue_url=args.request_queue_url,
        max_in_flight=args.max_in_flight,
        allowed_reply_queues=tuple(args.allow_reply_queue) if args.allow_reply_queue else None,
        on_bad_message=args.on_bad_message,
        visibility_timeout_seconds=args.visibility_timeout,
    )
    worker = SqsWorker(load_server(args.target), config, shutdown_grace_seconds=args.grace)

    async def main() -> None:
        async with anyio.create_task_group() as tg:

            async def watch_signals() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    count = 0
                    async for _ in signals:
                        count += 1
                        if count == 1:
                            logger.info("stopping: finishing in-flight requests (signal again to abort)")
                            worker.stop()
                        else:
                            tg.cancel_scope.cancel()

            async def run_worker(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
                await worker.run(task_status=task_status)
                tg.cancel_scope.cancel()  # stopped and drained

            tg.start_soon(watch_signals)
            await tg.start(run_worker)
            print(f"asyncmcp: serving {args.target} on {args.request_queue_url} (pid {os.getpid()})", flush=True)

    anyio.run(main)
    return 0


def _supervise(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    env.setdefault(STATE_KEY_ENV, secrets.token_hex(32))
    child_args = [sys.executable, "-m", "asyncmcp", *_without_workers(sys.argv[1:]), "--workers", "1"]
    # Own sessions: a terminal's Ctrl-C or a service manager signals the whole process group, and a
    # worker takes a second signal as "abort"; only the supervisor's forwarded signal must reach them.
    children = [subprocess.Popen(child_args, env=env, start_new_session=True) for _ in range(args.workers)]

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    codes = [child.wait() for child in children]
    return max(codes, default=0)


def _without_workers(argv: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
            continue
        if item == "--workers":
            skip = True
            continue
        if item.startswith("--workers="):
            continue
        out.append(item)
    return out
