"""`asyncmcp proxy` (also `python -m asyncmcp.proxy`): a Streamable HTTP or stdio front for a queue-backed server.

Every setting a container needs has an environment variable, so the same image runs anywhere (the
original documents' Docker example sets BACKEND_TRANSPORT and AWS_REGION); the allowlists and
`--stdio` are flags only.
"""

from __future__ import annotations

import argparse
import os
import signal
from typing import Any

import anyio
import anyio.abc

__all__ = ["add_arguments", "add_parser", "run"]


def _env(*names: str, default: str | None = None) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        default=_env("BACKEND_TRANSPORT", default="sqs"),
        choices=["sqs"],
        help="backend transport (env BACKEND_TRANSPORT)",
    )
    parser.add_argument(
        "--host", default=_env("PROXY_HOST", default="127.0.0.1"), help="address to bind (env PROXY_HOST)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(_env("PROXY_PORT", "PORT", default="8080") or 8080),
        help="port to listen on (env PROXY_PORT or PORT)",
    )
    parser.add_argument(
        "--auth-token",
        default=_env("AUTH_TOKEN", "ASYNCMCP_PROXY_TOKEN"),
        help="require 'Authorization: Bearer TOKEN' (env AUTH_TOKEN)",
    )
    parser.add_argument(
        "--request-queue-url",
        default=_env("REQUEST_QUEUE_URL", "ASYNCMCP_REQUEST_QUEUE_URL"),
        help="the backend server's request queue (env REQUEST_QUEUE_URL)",
    )
    parser.add_argument(
        "--response-queue-url",
        default=_env("RESPONSE_QUEUE_URL", "ASYNCMCP_REPLY_QUEUE_URL"),
        help="reply queue shared by all sessions; default: a temporary queue (env RESPONSE_QUEUE_URL)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(_env("PROXY_TIMEOUT", default="300") or 300),
        help="seconds a backend request may go without progress or answer (env PROXY_TIMEOUT)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=None,
        metavar="HOST",
        help="accepted Host header (repeatable; host:* for any port)",
    )
    parser.add_argument(
        "--allowed-origin", action="append", default=None, metavar="ORIGIN", help="accepted Origin header (repeatable)"
    )
    parser.add_argument("--stdio", action="store_true", help="serve one client on stdin/stdout instead of HTTP")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("proxy", help="let standard MCP clients reach a server behind a queue")
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from asyncmcp.proxy import create_proxy_server
    from asyncmcp.sqs.config import SqsClientConfig

    if not args.request_queue_url:
        raise SystemExit("asyncmcp proxy: give --request-queue-url (or set REQUEST_QUEUE_URL)")
    config = SqsClientConfig(
        read_queue_url=args.request_queue_url,
        response_queue_url=args.response_queue_url,
        transport_timeout_seconds=args.timeout,
    )
    proxy = create_proxy_server(
        backend_transport=args.backend,
        backend_config=config,
        port=args.port,
        auth_token=args.auth_token,
        host=args.host,
        allowed_hosts=args.allowed_host,
        allowed_origins=args.allowed_origin,
    )
    if args.stdio:
        anyio.run(proxy.run_stdio)
        return 0

    async def main() -> None:
        async with anyio.create_task_group() as tg:

            async def serve(*, task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
                await proxy.run(task_status=task_status)
                tg.cancel_scope.cancel()

            async def watch_signals() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        proxy.stop()

            tg.start_soon(watch_signals)
            url = await tg.start(serve)
            print(f"asyncmcp proxy: {url} -> {args.backend} {args.request_queue_url}", flush=True)

    anyio.run(main)
    return 0
