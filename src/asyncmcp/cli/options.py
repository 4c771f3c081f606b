"""Command-line options from the channel registry: each channel's `Option`s become flags.

`asyncmcp serve --transport T` and `asyncmcp proxy --backend T` add the options of channel T (so a
new channel brings its own flags), read the environment variables an option names when its flag is
absent, and build that channel's config. A value that does not parse is a `UsageError` naming the
flag or the variable, never a traceback.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from asyncmcp.channels.base import Option

__all__ = [
    "TRANSPORT_ENV",
    "UsageError",
    "add_channel_options",
    "add_transport_options",
    "channel_values",
    "chosen_transport_name",
    "env_value",
    "peek",
    "validated",
]


TRANSPORT_ENV = "ASYNCMCP_TRANSPORT"
"""The channel `asyncmcp serve` and `asyncmcp sweep` use when `--transport` is not given."""


class UsageError(Exception):
    """A mistake in the command line or the environment; printed as one line, with what to do."""


def peek(argv: Sequence[str], flag: str) -> str | None:
    """The value of `flag` in `argv` (`--flag V` or `--flag=V`) before the parser exists, else None."""
    for index, item in enumerate(argv):
        if item == "--":
            return None
        if item == flag and index + 1 < len(argv):
            return argv[index + 1]
        if item.startswith(flag + "="):
            return item.split("=", 1)[1]
    return None


def chosen_transport_name(argv: Sequence[str], flag: str, env: str, default: str) -> tuple[str, bool]:
    """The transport named by `flag` on the command line, else in `env`, else `default`; and whether
    it came from the environment (the parser validates only what the command line says)."""
    given = peek(argv, flag)
    if given:
        return given, False
    found = env_value(env)
    return (found[1], True) if found else (default, False)


def env_value(*names: str) -> tuple[str, str] | None:
    """The first of `names` set (non-empty) in the environment, as (name, value)."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return name, value
    return None


def add_transport_options(
    parser: argparse.ArgumentParser, transport: Any, options: Sequence[Option], *, env: str, title: str
) -> None:
    """`--transport NAME` (its default read from `env` by the caller) and the chosen transport's own flags."""
    from asyncmcp.channels import registry

    parser.add_argument(
        "--transport",
        choices=registry.names(cli_only=True),
        default=transport.name,
        help=f"the channel (env {env}; default {registry.DEFAULT_TRANSPORT})",
    )
    add_channel_options(parser.add_argument_group(f"{transport.name} {title}"), options)


def add_channel_options(parser: argparse.ArgumentParser | Any, options: Sequence[Option]) -> None:
    """Add one flag per option; defaults stay None so the environment and the config's own defaults apply."""
    for option in options:
        extra = f" (env {' or '.join(option.env)})" if option.env else ""
        if option.switch:
            parser.add_argument(option.flag, dest=option.field, action="store_true", default=None, help=option.help)
            continue
        parser.add_argument(
            option.flag,
            dest=option.field,
            action="append" if option.repeat else "store",
            default=None,
            choices=option.choices,
            metavar=option.metavar,
            help=option.help + extra,
        )


def _parse(option: Option, raw: str, source: str) -> Any:
    try:
        return option.parse(raw)
    except (TypeError, ValueError):
        raise UsageError(f"{source}={raw!r} is not valid for {option.flag}: {option.help}") from None


def channel_values(args: argparse.Namespace, options: Sequence[Option]) -> dict[str, Any]:
    """Config fields from the flags given, else from the environment; unset options are left out."""
    values: dict[str, Any] = {}
    for option in options:
        given = getattr(args, option.field, None)
        if option.switch:
            if given:
                values[option.field] = True
            continue
        if given is not None:
            if option.repeat:
                values[option.field] = tuple(_parse(option, item, option.flag) for item in given)
            else:
                values[option.field] = _parse(option, given, option.flag)
            continue
        found = env_value(*option.env)
        if found is not None:
            name, raw = found
            if option.repeat:
                values[option.field] = tuple(_parse(option, item.strip(), name) for item in raw.split(",") if item)
            else:
                values[option.field] = _parse(option, raw, name)
    return values


def validated(config_type: type[Any], values: dict[str, Any], options: Sequence[Any], command: str) -> Any:
    """Build a config; a validation error becomes a one-line `UsageError` naming the flag."""
    try:
        return config_type(**values)
    except ValidationError as exc:
        flags = {option.field: option for option in options}
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else "?"
        option = flags.get(field)
        reason = str(first["msg"]).removeprefix("Value error, ")
        if option is None:
            raise UsageError(f"{command}: {field}: {reason}") from None
        where = option.flag + (f" (or set {option.env[0]})" if option.env else "")
        if first.get("type") == "missing":
            raise UsageError(f"{command}: give {where}") from None
        raise UsageError(f"{command}: {option.flag}: {reason}") from None
