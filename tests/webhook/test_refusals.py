"""What a webhook client is told when the server will not take its requests: at once, in one line.

Real servers and clients on 127.0.0.1. Each refusal arrives as the POST's answer (401, 403), so the
client's call fails well inside its timeout with the reason, and nothing is POSTed where the
operator did not allow.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError

from asyncmcp.channels.webhook.signing import Signer
from asyncmcp.cli.errors import root_cause
from asyncmcp.serving import Worker
from asyncmcp.webhook import WebhookClientConfig, WebhookServerConfig, generate_secret, webhook_client
from tests.servers import build_server

pytestmark = pytest.mark.anyio

TIMEOUT = 20.0
"""The clients' own timeout; every refusal here must arrive far sooner."""


async def refused_connecting(config: WebhookClientConfig) -> str:
    """Open a client and call a tool; the message of the error, which must come before the timeout."""
    start = time.monotonic()
    with anyio.fail_after(TIMEOUT / 2), pytest.raises(BaseException) as failed:
        async with Client(webhook_client(config)) as client:
            await client.call_tool("echo", {"text": "x"})
    error = root_cause(failed.value)  # the SDK's `Client` wraps it in exception groups
    assert isinstance(error, MCPError), repr(error)
    assert time.monotonic() - start < TIMEOUT / 4
    return str(error)


def server_config(**fields: Any) -> WebhookServerConfig:
    fields.setdefault("signing_secrets", (generate_secret(),))
    return WebhookServerConfig(port=0, **fields)


async def test_a_client_with_another_secret_is_told_at_once_to_check_the_secret() -> None:
    async with Worker(build_server(), server_config(allow_loopback=True)) as worker:
        assert worker.binding is not None and worker.binding.endpoint is not None
        config = WebhookClientConfig(
            server_url=worker.binding.endpoint, signing_secrets=(generate_secret(),), transport_timeout_seconds=TIMEOUT
        )
        message = await refused_connecting(config)
    assert "answered 401" in message and "signing secret" in message


async def test_a_server_that_may_not_answer_the_clients_webhook_says_so_at_once() -> None:
    secret = generate_secret()
    async with Worker(build_server(), server_config(signing_secrets=(secret,))) as worker:  # no --allow-loopback
        assert worker.binding is not None and worker.binding.endpoint is not None
        config = WebhookClientConfig(
            server_url=worker.binding.endpoint, signing_secrets=(secret,), transport_timeout_seconds=TIMEOUT
        )
        message = await refused_connecting(config)
    assert "answered 403" in message and "/webhook" in message and "--allow-loopback" in message


async def test_a_webhook_url_outside_the_allowlist_is_refused() -> None:
    secret = generate_secret()
    fields: dict[str, Any] = {"allow_loopback": True, "allowed_webhook_urls": ("https://hooks.example.com/*",)}
    async with Worker(build_server(), server_config(signing_secrets=(secret,), **fields)) as worker:
        assert worker.binding is not None and worker.binding.endpoint is not None
        config = WebhookClientConfig(
            server_url=worker.binding.endpoint, signing_secrets=(secret,), transport_timeout_seconds=TIMEOUT
        )
        message = await refused_connecting(config)
    assert "answered 403" in message and "hooks.example.com" in message


@pytest.mark.parametrize(
    "webhook_url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/x",
        "http://[64:ff9b::a9fe:a9fe]/x",
        "http://10.0.0.8/hook",
        "http://100.64.1.1/hook",
        "https://metadata.google.internal/computeMetadata/v1/",
    ],
)
async def test_a_signed_request_naming_a_private_or_metadata_webhook_is_refused_and_nothing_is_posted(
    webhook_url: str,
) -> None:
    """A client holding the secret still cannot make the server POST into its network."""
    secret = generate_secret()
    async with Worker(build_server(), server_config(signing_secrets=(secret,), allow_loopback=True)) as worker:
        assert worker.binding is not None and worker.binding.endpoint is not None
        channel: Any = worker.binding.channel
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
        headers = {
            "content-type": "application/json",
            "mcp-reply-to": webhook_url,
            "mcp-client-id": "attacker",
            "mcp-protocol-version": "2026-07-28",
            **Signer([secret]).sign("msg_1", body).as_dict(),
        }
        async with httpx2.AsyncClient() as http:
            answer = await http.post(worker.binding.endpoint, content=body, headers=headers)
        await anyio.sleep(0.3)  # an accepted request would have been served and its answer POSTed by now
    assert answer.status_code == 403, answer.text
    assert channel.sender.calls["POST"] == 0
