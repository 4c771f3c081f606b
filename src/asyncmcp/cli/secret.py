"""`asyncmcp secret`: print a new webhook signing secret.

Webhook servers and clients share Standard Webhooks secrets (`whsec_` and 32 random bytes). This
prints one, with how to hand it to both sides; nothing is stored, so the operator decides where it
lives (a secrets manager, the environment of both processes).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("secret", help="print a new webhook signing secret (whsec_...)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print the secret alone")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from asyncmcp.channels.webhook.config import SECRETS_ENV
    from asyncmcp.channels.webhook.signing import generate_secret

    secret = generate_secret()
    if args.quiet:
        print(secret)
    else:
        print(f"{SECRETS_ENV}={secret}")
        print(
            f"# give the same value to the webhook server and its clients; to rotate, set {SECRETS_ENV}=NEW,OLD "
            "on both until every side has the new one",
        )
    return 0
