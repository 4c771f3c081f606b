"""`asyncmcp provision --transport T NAME`: create what a deployment on channel T needs, idempotently.

Each channel says what it provisions (SQS: request queue, dead-letter queue, reply queue; SNS+SQS:
topics, queues, subscriptions and queue policies) and which options it takes; this command
prints the result as `export` lines that point `asyncmcp serve` and clients at it.
"""

from __future__ import annotations

import argparse
from typing import Any

from asyncmcp.channels import registry
from asyncmcp.channels.base import ChannelTransport
from asyncmcp.cli.options import UsageError, add_channel_options, channel_values

__all__ = ["add_parser"]


def add_parser(commands: Any, transport: ChannelTransport) -> None:
    parser = commands.add_parser(
        "provision",
        help="create the queues/topics a deployment needs (idempotent)",
        description=f"Create what a deployment named NAME needs. Options below are those of --transport "
        f"{transport.name}; `asyncmcp provision --transport NAME --help` lists another transport's.",
    )
    parser.add_argument("name", metavar="NAME", help="prefix of everything created, e.g. reports")
    parser.add_argument(
        "--transport",
        choices=registry.names(cli_only=True),
        default=transport.name,
        help=f"the channel (default {registry.DEFAULT_TRANSPORT})",
    )
    add_channel_options(parser.add_argument_group(f"{transport.name} options"), transport.provision_options)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import anyio

    transport = registry.get(args.transport)
    values = channel_values(args, transport.provision_options)
    clients: dict[str, Any] = {}
    try:
        exports = anyio.run(transport.provision, args.name, values, clients)
    except NotImplementedError as exc:
        raise UsageError(f"asyncmcp provision: {exc}") from None
    for variable, value in exports:
        print(f"export {variable}={value}")
    return 0
