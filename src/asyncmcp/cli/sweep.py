"""`asyncmcp sweep`: delete the temporary queues that crashed processes left behind.

A client or proxy that names no reply queue makes a temporary one (`asyncmcp-reply-*`,
`asyncmcp-proxy-*`) and deletes it when it closes; a process killed with SIGKILL cannot. Each such
queue is tagged when it is made and re-tagged by its owner every `TEMPORARY_ALIVE_SECONDS`, so a
queue whose tag is older than `--idle` belongs to nobody. Queues without the tag (yours, or made
by an older asyncmcp) are never touched. The same sweep runs once at start with `serve --sweep`
and `proxy --sweep`. It goes through the channel (`ChannelTransport.sweep`), so each transport
decides what its temporary addresses are.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from asyncmcp.channels import registry
from asyncmcp.channels.base import TEMPORARY_ALIVE_SECONDS, ChannelTransport
from asyncmcp.cli.options import TRANSPORT_ENV, UsageError, add_transport_options, channel_values, validated
from asyncmcp.errors import ChannelError

__all__ = ["DEFAULT_IDLE_SECONDS", "add_parser", "add_sweep_option", "sweep_at_start"]

logger = logging.getLogger(__name__)

DEFAULT_IDLE_SECONDS = 3600.0
"""A temporary queue whose owner has not marked it alive for this long is a leftover (six times
the marking interval, so a busy or briefly throttled owner is never swept)."""


def add_parser(commands: Any, transport: ChannelTransport) -> None:
    parser = commands.add_parser(
        "sweep",
        help="delete temporary queues that crashed processes left behind",
        description="Delete temporary reply queues (asyncmcp-*) whose owner has not been seen for --idle seconds.",
    )
    add_transport_options(parser, transport, transport.client_options, env=TRANSPORT_ENV, title="options")
    parser.add_argument(
        "--idle",
        type=float,
        default=DEFAULT_IDLE_SECONDS,
        metavar="SECONDS",
        help=f"delete those idle longer than this (default {DEFAULT_IDLE_SECONDS:g}; at least "
        f"{TEMPORARY_ALIVE_SECONDS:g}, how often owners mark theirs alive)",
    )
    parser.set_defaults(run=run)


def add_sweep_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sweep",
        action="store_true",
        help=f"first delete temporary queues that crashed processes left behind (idle over {DEFAULT_IDLE_SECONDS:g} s)",
    )


def run(args: argparse.Namespace) -> int:
    import anyio

    if args.idle < TEMPORARY_ALIVE_SECONDS:
        raise UsageError(
            f"asyncmcp sweep: --idle {args.idle:g} would delete queues still in use; "
            f"give at least {TEMPORARY_ALIVE_SECONDS:g}"
        )
    transport = registry.get(args.transport)
    values = channel_values(args, transport.client_options)
    config = validated(transport.client_config, values, transport.client_options, "asyncmcp sweep")
    try:
        deleted = anyio.run(_sweep, transport, config, args.idle)
    except NotImplementedError as exc:
        raise UsageError(f"asyncmcp sweep: {exc}") from None
    for address in deleted:
        print(f"deleted {address}")
    print(f"asyncmcp sweep: {len(deleted)} temporary queue(s) deleted", flush=True)
    return 0


def sweep_at_start(transport: ChannelTransport, config: Any) -> None:
    """`--sweep` of serve and proxy: best effort, a failure is a warning, never a reason not to start."""
    import anyio

    try:
        deleted = anyio.run(_sweep, transport, config, DEFAULT_IDLE_SECONDS)
    except (ChannelError, NotImplementedError) as exc:
        logger.warning("--sweep skipped: %s", exc)
        return
    if deleted:
        logger.warning("--sweep deleted %d temporary queue(s) left behind: %s", len(deleted), ", ".join(deleted))


async def _sweep(transport: ChannelTransport, config: Any, idle_seconds: float) -> list[str]:
    return await transport.sweep(config, {}, idle_seconds=idle_seconds)
