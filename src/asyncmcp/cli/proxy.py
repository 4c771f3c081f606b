"""`asyncmcp proxy` (also `python -m asyncmcp.proxy`): a Streamable HTTP or stdio front for a server behind a channel.

The backend is chosen with `--backend` from the registry, and its own flags (for SQS:
`--request-queue-url`, `--response-queue-url`) come with it. Every setting a container needs has
an environment variable, so the same image runs anywhere (the original documents' Docker example
sets BACKEND_TRANSPORT and AWS_REGION); the allowlists and `--stdio` are flags only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from asyncmcp.channels import registry
from asyncmcp.channels.base import ChannelTransport
from asyncmcp.channels.config import DEFAULT_CLIENT_TIMEOUT_SECONDS
from asyncmcp.cli.options import (
    UsageError,
    add_channel_options,
    channel_values,
    chosen_transport_name,
    env_value,
    validated,
)
from asyncmcp.cli.running import run_service
from asyncmcp.cli.sweep import add_sweep_option, sweep_at_start

__all__ = ["add_arguments", "add_parser", "build_config", "chosen_backend", "run"]

BACKEND_ENV = "BACKEND_TRANSPORT"
DEFAULT_TIMEOUT_SECONDS = DEFAULT_CLIENT_TIMEOUT_SECONDS
"""Below the TypeScript SDK's 60 s request timeout (channels/config.py says why)."""


def chosen_backend(argv: Sequence[str]) -> tuple[str, bool]:
    return chosen_transport_name(argv, "--backend", BACKEND_ENV, registry.DEFAULT_TRANSPORT)


def _number(name: str, parse: type[int] | type[float], default: float, *env: str) -> Any:
    found = env_value(*env)
    if found is None:
        return default
    try:
        return parse(found[1])
    except ValueError:
        raise UsageError(f"{found[0]}={found[1]!r} is not a number; {name} takes one") from None


def add_arguments(parser: argparse.ArgumentParser, transport: ChannelTransport) -> None:
    parser.add_argument(
        "--backend",
        default=transport.name,
        choices=registry.names(cli_only=True),
        help=f"backend transport (env {BACKEND_ENV}; default {registry.DEFAULT_TRANSPORT})",
    )
    parser.add_argument("--host", default=None, help="address to bind (env PROXY_HOST; default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="port to listen on (env PROXY_PORT or PORT; default 8080)"
    )
    parser.add_argument("--auth-token", default=None, help="require 'Authorization: Bearer TOKEN' (env AUTH_TOKEN)")
    add_channel_options(parser.add_argument_group(f"{transport.name} backend options"), transport.client_options)
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds a backend request may go without progress or answer (env PROXY_TIMEOUT; "
        f"default {DEFAULT_TIMEOUT_SECONDS:g})",
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
    parser.add_argument(
        "--grace",
        type=float,
        default=None,
        help="seconds in-flight calls may finish on stop (env PROXY_GRACE; default 10)",
    )
    parser.add_argument("--stdio", action="store_true", help="serve one client on stdin/stdout instead of HTTP")
    add_sweep_option(parser)


def add_parser(commands: Any, transport: ChannelTransport) -> None:
    parser = commands.add_parser("proxy", help="let standard MCP clients reach a server behind a channel")
    add_arguments(parser, transport)
    parser.set_defaults(run=run)


def build_config(transport: ChannelTransport, args: argparse.Namespace) -> Any:
    """The backend's client config from the flags and the environment.

    Only the variables the backend's options name are read: `ASYNCMCP_REPLY_QUEUE_URL`, which
    `asyncmcp local` prints for the demo client, is not one of them, so proxies started in that
    shell each make their own reply queue instead of silently sharing one.
    """
    values = channel_values(args, transport.client_options)
    timeout = (
        args.timeout
        if args.timeout is not None
        else _number("--timeout", float, DEFAULT_TIMEOUT_SECONDS, "PROXY_TIMEOUT")
    )
    values["transport_timeout_seconds"] = timeout
    return validated(transport.client_config, values, transport.client_options, "asyncmcp proxy")


def run(args: argparse.Namespace) -> int:
    from asyncmcp.proxy import GRACEFUL_SHUTDOWN_SECONDS, create_proxy_server

    transport = registry.get(args.backend)
    config = build_config(transport, args)
    if args.sweep:
        sweep_at_start(transport, config)
    found_host = env_value("PROXY_HOST")
    found_token = env_value("AUTH_TOKEN", "ASYNCMCP_PROXY_TOKEN")
    proxy = create_proxy_server(
        backend_transport=transport.name,
        backend_config=config,
        port=args.port if args.port is not None else _number("--port", int, 8080, "PROXY_PORT", "PORT"),
        auth_token=args.auth_token or (found_token[1] if found_token else None),
        host=args.host or (found_host[1] if found_host else "127.0.0.1"),
        allowed_hosts=args.allowed_host,
        allowed_origins=args.allowed_origin,
        graceful_shutdown_seconds=(
            args.grace
            if args.grace is not None
            else _number("--grace", float, GRACEFUL_SHUTDOWN_SECONDS, "PROXY_GRACE")
        ),
    )
    if args.stdio:
        # SIGTERM (the TypeScript SDK's way to stop a stdio server) and Ctrl-C stop it like EOF does:
        # the backend closes and its temporary reply queue is deleted. Nothing is announced: stdout
        # is the protocol.
        run_service(proxy.run_stdio, proxy.stop, lambda _: None)
        return 0

    def announce(url: Any) -> None:
        sys.stdout.write(f"asyncmcp proxy: {url} -> {transport.name} {config.server_address}\n")
        sys.stdout.flush()

    run_service(proxy.run, proxy.stop, announce)
    return 0
