"""`asyncmcp serve`: put an MCP server behind a channel, with N worker processes.

The server is a Python object (`module:attribute`), a stdio command (everything after `--`, run
as a pool of `--pool` children with the environment `--env` / `--pass-env` give), or a Streamable
HTTP URL (`--upstream-url`, with `--upstream-header`); the last two are bridged (`asyncmcp.bridge`).

The channel is chosen with `--transport` from the registry, and its own flags (for SQS:
`--request-queue-url`, `--allow-reply-queue`, `--visibility-timeout`) come with it. With
`--workers N` (N > 1) this process becomes a supervisor: it starts N single-worker processes that
share one state key (when the operator gave none, the channel's fleet secret, read or created here
once, else one generated here; so 2025 sessions and 2026 requestState verify on every worker),
forwards SIGINT/SIGTERM to them and exits when they have.
SIGINT/SIGTERM make a worker stop receiving and finish in-flight requests within `--grace` seconds;
whatever is unfinished then goes back to the channel for another worker.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from asyncmcp.channels import registry
from asyncmcp.channels.base import ChannelTransport
from asyncmcp.cli.options import (
    TRANSPORT_ENV,
    UsageError,
    add_transport_options,
    channel_values,
    chosen_transport_name,
    validated,
)
from asyncmcp.cli.running import run_service
from asyncmcp.cli.sweep import add_sweep_option, sweep_at_start

__all__ = ["add_parser", "build_config", "load_server"]

logger = logging.getLogger(__name__)


def add_parser(commands: Any, transport: ChannelTransport) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve an MCP server (a Python object, a stdio command after --, or a URL) on a channel",
        description=f"Serve an MCP server on a channel. Options below are those of --transport {transport.name}; "
        "`asyncmcp serve --transport NAME --help` lists another transport's.",
    )
    parser.add_argument(
        "target",
        metavar="module:attribute",
        nargs="?",
        help="the Server or MCPServer to serve, e.g. app:server; or give a command after -- "
        "(asyncmcp serve [options] -- npx -y @modelcontextprotocol/server-everything), or --upstream-url",
    )
    # Words after the target mean a command line given without `--`: refused with what to do
    # instead, rather than argparse's "unrecognized arguments".
    parser.add_argument("command_words", nargs="*", help=argparse.SUPPRESS)
    upstream = parser.add_argument_group("bridging a stdio command or a Streamable HTTP URL")
    upstream.add_argument("--upstream-url", metavar="URL", help="serve the Streamable HTTP MCP server at URL")
    upstream.add_argument(
        "--upstream-header",
        metavar="'NAME: VALUE'",
        action="append",
        default=[],
        help="a header sent to --upstream-url with every request (repeat as needed)",
    )
    upstream.add_argument("--pool", type=int, default=1, help="stdio children per worker (default 1)")
    upstream.add_argument(
        "--env", metavar="KEY=VALUE", action="append", default=[], help="set a variable in the children (repeat)"
    )
    upstream.add_argument(
        "--pass-env",
        metavar="KEY",
        action="append",
        default=[],
        help="pass this process's variable KEY on to the children (repeat); they get only PATH and HOME otherwise",
    )
    upstream.add_argument(
        "--upstream-session",
        choices=["per-child", "per-session"],
        default="per-child",
        help="for a 2025 upstream: initialize each child once and relay every caller through it (default), "
        "or open an upstream session per queue session, for servers that keep per-session state",
    )
    add_transport_options(parser, transport, transport.server_options, env=TRANSPORT_ENV, title="options")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--max-in-flight", type=int, default=64, help="requests one worker runs at once")
    parser.add_argument("--on-bad-message", choices=["delete", "dead-letter"], default="delete")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to finish in-flight requests on stop")
    add_sweep_option(parser)
    parser.set_defaults(run=run)


def chosen_transport(argv: Sequence[str]) -> tuple[str, bool]:
    return chosen_transport_name(argv, "--transport", TRANSPORT_ENV, registry.DEFAULT_TRANSPORT)


_SERVE_A_COMMAND = "put a command after `--` (asyncmcp serve [options] -- python server.py)"


def load_server(target: str, command_words: Sequence[str] = ()) -> Any:
    """Import `module:attribute`; the current directory is importable, as with uvicorn.

    The attribute may be a `Server`/`MCPServer` or a function that takes no arguments and returns
    one. A URL or a command line given in its place is refused with the way to serve it.
    """
    if "://" in target:
        raise UsageError(f"asyncmcp serve: {target!r} is a URL; serve it with --upstream-url {target}")
    module_name, _, attribute = target.partition(":")
    if command_words or " " in target or not attribute:
        shown = " ".join([target, *command_words])
        if command_words or " " in target or target.endswith(".py"):
            raise UsageError(f"asyncmcp serve: {shown!r} is a stdio command; " + _SERVE_A_COMMAND)
        raise UsageError(
            f"asyncmcp serve: {shown!r} is not module:attribute (for example app:server); to serve a command, "
            + _SERVE_A_COMMAND
        )
    if not module_name:
        raise UsageError(f"asyncmcp serve: {target!r} names no module; give module:attribute, for example app:server")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"asyncmcp serve: cannot import {module_name!r}: {exc}") from exc
    try:
        server = getattr(module, attribute)
    except AttributeError:
        raise UsageError(f"asyncmcp serve: {module_name!r} has no attribute {attribute!r}") from None
    from asyncmcp.server.engine import lowlevel_server

    if inspect.isfunction(server) or inspect.ismethod(server):
        server = _call_factory(target, server)
    try:
        lowlevel_server(server)
    except TypeError:
        raise UsageError(
            f"asyncmcp serve: {target} is a {type(server).__name__}, not an MCP Server or MCPServer; give "
            "module:attribute naming one (or a function returning one)"
        ) from None
    return server


def _call_factory(target: str, factory: Any) -> Any:
    """Build the server from a function `module:function` that takes no arguments."""
    if inspect.iscoroutinefunction(factory):
        raise UsageError(
            f"asyncmcp serve: {target} is an async function; give a plain function that returns the server, "
            "or the server object itself"
        )
    required = [
        name
        for name, parameter in inspect.signature(factory).parameters.items()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if required:
        raise UsageError(
            f"asyncmcp serve: {target} is a function that needs arguments ({', '.join(required)}); give a "
            "function that takes none and returns the server, or the server object itself"
        )
    return factory()


def build_config(transport: ChannelTransport, args: argparse.Namespace) -> Any:
    """The transport's server config from the flags and the environment."""
    values = channel_values(args, transport.server_options)
    values.update(max_in_flight=args.max_in_flight, on_bad_message=args.on_bad_message)
    return validated(transport.server_config, values, transport.server_options, "asyncmcp serve")


def chosen_server(args: argparse.Namespace) -> tuple[Any, str]:
    """The server to serve and how to name it: the object, or a bridge to the command or URL."""
    command: list[str] = getattr(args, "upstream_command", [])
    given = [
        what
        for what, present in (
            ("module:attribute", args.target),
            ("a command after --", command),
            ("--upstream-url", args.upstream_url),
        )
        if present
    ]
    if not given:
        raise UsageError(
            "asyncmcp serve: give what to serve: module:attribute, a command after -- "
            "(asyncmcp serve [options] -- npx -y @modelcontextprotocol/server-everything), or --upstream-url URL"
        )
    if len(given) > 1:
        raise UsageError(f"asyncmcp serve: give one of {' or '.join(given)}, not both")
    if args.target:
        return load_server(args.target, args.command_words), args.target
    from asyncmcp.bridge import HttpUpstream, StdioUpstream, bridge_server

    upstream: Any
    try:
        if command:
            upstream = StdioUpstream(command, env=_assignments(args.env), pass_env=list(args.pass_env), pool=args.pool)
        else:
            upstream = HttpUpstream(args.upstream_url, headers=_headers(args.upstream_header))
    except ValueError as exc:
        raise UsageError(f"asyncmcp serve: {exc}") from None
    return bridge_server(upstream, session_mode=args.upstream_session), upstream.describe()


def _assignments(items: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"asyncmcp serve: --env {item!r}: give KEY=VALUE")
        values[key] = value
    return values


def _headers(items: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"asyncmcp serve: --upstream-header {item!r}: give 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def run(args: argparse.Namespace) -> int:
    transport = registry.get(args.transport)
    server, shown = chosen_server(args)  # in a supervisor too: fail once, not in every worker
    config = build_config(transport, args)
    if args.workers < 1:
        raise UsageError("asyncmcp serve: --workers must be 1 or more")
    if args.sweep:
        sweep_at_start(transport, config)
    if args.workers > 1:
        if transport.serves_mcp:
            raise UsageError(
                f"asyncmcp serve: the {transport.name} transport serves from one process (its 2025 sessions and "
                "running calls live in it): run one per port behind a balancer with sticky sessions"
            )
        return _supervise(args, transport, config)
    from asyncmcp.serving import Worker

    worker = Worker(server, config, shutdown_grace_seconds=args.grace)

    def announce(_: Any) -> None:
        where = worker.endpoint or config.request_address
        # One write: workers of a supervisor share its stdout, and `print` writes the newline apart.
        sys.stdout.write(f"asyncmcp: serving {shown} on {where} (pid {os.getpid()})\n")
        sys.stdout.flush()

    run_service(worker.run, worker.stop, announce)
    return 0


def _fleet_key(transport: ChannelTransport, config: Any) -> str:
    """The key the supervisor hands its workers when the operator gave none: the channel's fleet
    secret (read or created once, here, so the workers do not race to create it), else a new one."""
    import anyio

    from asyncmcp.server.state_key import StateKey

    async def find() -> StateKey:
        async with transport.open_server(config, {}) as binding:
            return await StateKey.for_fleet(config.state_key, transport, binding)

    key = anyio.run(find)
    return key.secret.decode() if key.shared else secrets.token_hex(32)


def _supervise(args: argparse.Namespace, transport: ChannelTransport, config: Any) -> int:
    from asyncmcp.server.state_key import STATE_KEY_ENV

    env = dict(os.environ)
    if not env.get(STATE_KEY_ENV):
        env[STATE_KEY_ENV] = _fleet_key(transport, config)
    # The supervisor swept already: its children get neither --workers nor --sweep.
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)  # the upstream command keeps its words
    child_args = [sys.executable, "-m", "asyncmcp", *_without_workers(argv[:split]), "--workers", "1", *argv[split:]]
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
        if item.startswith("--workers=") or item == "--sweep":
            continue
        out.append(item)
    return out
