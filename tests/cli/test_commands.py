"""The `asyncmcp` command in this process: what it reads from the environment, and what it says
when the user made a mistake (one or two lines, never a traceback)."""

from __future__ import annotations

import pytest

from asyncmcp.channels import registry
from asyncmcp.cli import build_parser
from asyncmcp.cli import proxy as proxy_cli

REQUESTS = "https://sqs.us-east-1.amazonaws.com/123456789012/mcp-requests"


def _proxy_args(*argv: str):
    args = ["proxy", *argv]
    return build_parser(args).parse_args(args)


def test_the_proxy_does_not_read_the_demo_clients_reply_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    # `asyncmcp local` prints ASYNCMCP_REPLY_QUEUE_URL for the demo client; a proxy started in the
    # same shell must still make its own reply queue.
    monkeypatch.setenv("ASYNCMCP_REPLY_QUEUE_URL", REQUESTS.replace("mcp-requests", "mcp-replies"))
    monkeypatch.setenv("ASYNCMCP_REQUEST_QUEUE_URL", REQUESTS)
    config = proxy_cli.build_config(registry.get("sqs"), _proxy_args())
    assert config.read_queue_url == REQUESTS
    assert config.response_queue_url is None
