"""The `asyncmcp` command: serve, proxy, provision, sweep, local, demo, secret.

Each subcommand lives in its own module; this one parses arguments, dispatches, and turns a user's
mistake into one or two lines that say what to do (`--debug` shows the traceback instead). Nothing
heavy is imported before a subcommand runs, so `asyncmcp --help` loads no AWS library or server.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncmcp.channels.base import ChannelTransport

__all__ = ["main"]

DEBUG_ENV = "ASYNCMCP_DEBUG"


def build_parser(argv: Sequence[str], prog: str = "asyncmcp") -> argparse.ArgumentParser:
    from asyncmcp.cli import demo, local, provision, proxy, secret, serve, sweep

    parser = argparse.ArgumentParser(prog=prog, description="MCP over asynchronous channels")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("--debug", action="store_true", help=f"show tracebacks of errors (env {DEBUG_ENV}=1)")
    commands = parser.add_subparsers(dest="command", required=True)
    command = next((item for item in argv if not item.startswith("-")), None)
    serve.add_parser(commands, _transport(serve.chosen_transport(argv), serve.TRANSPORT_ENV, command == "serve"))
    proxy.add_parser(commands, _transport(proxy.chosen_backend(argv), proxy.BACKEND_ENV, command == "proxy"))
    provision.add_parser(
        commands, _transport(serve.chosen_transport(argv), serve.TRANSPORT_ENV, command == "provision")
    )
    sweep.add_parser(commands, _transport(serve.chosen_transport(argv), serve.TRANSPORT_ENV, command == "sweep"))
    local.add_parser(commands)
    demo.add_parser(commands)
    secret.add_parser(commands)
    return parser


def _transport(chosen: tuple[str, bool], env: str, strict: bool) -> ChannelTransport:
    """The chosen transport. One named on the command line but unknown gives way to the default, so
    the parser can refuse the flag with the list of choices; one named in `env` is refused here
    when its command runs (`strict`)."""
    from asyncmcp.channels import registry
    from asyncmcp.cli.options import UsageError

    name, from_env = chosen
    try:
        transport = registry.get(name)
        if transport.cli:
            return transport
    except (registry.UnknownTransportError, ImportError):
        pass
    if from_env and strict:
        choices = ", ".join(registry.names(cli_only=True))
        raise UsageError(f"{env}={name!r} is not a transport this command can use; choose one of {choices}")
    return registry.get(registry.DEFAULT_TRANSPORT)


def main(argv: Sequence[str] | None = None, *, prog: str = "asyncmcp") -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Everything after `--` is a command line (`asyncmcp serve ... -- npx -y server`), never flags.
    upstream_command: list[str] = []
    if "--" in args_list:
        split = args_list.index("--")
        args_list, upstream_command = args_list[:split], args_list[split + 1 :]
    debug = "--debug" in args_list or bool(os.environ.get(DEBUG_ENV))
    try:
        parser = build_parser(args_list, prog)
        args = parser.parse_args(args_list)
        args.upstream_command = upstream_command
        level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if debug:
            raise
        from asyncmcp.cli.errors import describe

        message, code = describe(exc)
        print(message if message.startswith(f"{prog} ") else f"{prog}: {message}", file=sys.stderr)
        return code
