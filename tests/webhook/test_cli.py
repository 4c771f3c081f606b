"""The webhook transport from the shell: a secret to share, one-line errors, the flags it takes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from asyncmcp.channels.webhook.signing import Signer


def asyncmcp(
    *argv: str, env: dict[str, str] | None = None, without: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    dropped = {"ASYNCMCP_WEBHOOK_SECRETS", *without}
    environment = {key: value for key, value in os.environ.items() if key not in dropped}
    command = [sys.executable, "-m", "asyncmcp", *argv]
    return subprocess.run(
        command, env={**environment, **(env or {})}, capture_output=True, text=True, check=False, timeout=60
    )


def test_asyncmcp_secret_prints_a_secret_both_sides_accept() -> None:
    quiet = asyncmcp("secret", "-q")
    assert quiet.returncode == 0
    Signer([quiet.stdout.strip()])  # a valid whsec_ secret
    told = asyncmcp("secret")
    name, value = told.stdout.splitlines()[0].split("=", 1)
    assert name == "ASYNCMCP_WEBHOOK_SECRETS" and value.startswith("whsec_") and value != quiet.stdout.strip()


def test_serving_without_a_secret_is_one_line_saying_how_to_get_one() -> None:
    done = asyncmcp("serve", "--transport", "webhook", "--port", "0", "tests.servers:server")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "ASYNCMCP_WEBHOOK_SECRETS" in done.stderr and "asyncmcp secret" in done.stderr


def test_a_server_needs_a_port_or_an_app() -> None:
    done = asyncmcp(
        "serve", "--transport", "webhook", "tests.servers:server", env={"ASYNCMCP_WEBHOOK_SECRETS": _secret()}
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "--port" in done.stderr


@pytest.mark.parametrize(
    ("argv", "flags"),
    [
        (
            ["serve", "--transport", "webhook", "--help"],
            ["--port", "--queue", "--allow-webhook-url", "--allow-loopback"],
        ),
        (["proxy", "--backend", "webhook", "--help"], ["--server-url", "--webhook-url"]),
    ],
)
def test_the_cli_takes_the_webhook_flags_from_the_channel(argv: list[str], flags: list[str]) -> None:
    out = asyncmcp(*argv).stdout
    for flag in flags:
        assert flag in out


def _secret() -> str:
    return asyncmcp("secret", "-q").stdout.strip()


def test_a_local_request_queue_without_an_endpoint_says_to_export_it() -> None:
    # The durable mode's queue is reached like any SQS queue: its URL picks the region, and a URL that
    # is not AWS's needs AWS_ENDPOINT_URL, or every call would go to AWS.
    done = asyncmcp(
        "serve", "--transport", "webhook", "--port", "0", "--queue", "http://127.0.0.1:9/123456789012/mcp-requests",
        "tests.servers:server", env={"ASYNCMCP_WEBHOOK_SECRETS": _secret(), "AWS_REGION": "us-east-1"},
        without=("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"),
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") <= 2, done.stderr
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:9" in done.stderr
