"""`asyncmcp.webhook`: the server as an ASGI app (alone or mounted in yours), the client's receiver in
your app, and the names the earlier implementation's users import. Real uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import asyncmcp
from asyncmcp.channels.http_server import serve_asgi
from asyncmcp.webhook import (
    WebhookClientConfig,
    WebhookServerConfig,
    generate_secret,
    mount_webhook,
    webhook_app,
    webhook_client,
)
from tests.client_answers import text_of
from tests.servers import build_server

pytestmark = pytest.mark.anyio

SECRET = generate_secret()


def client_config(url: str, **fields: Any) -> WebhookClientConfig:
    return WebhookClientConfig(server_url=url, signing_secrets=(SECRET,), **fields)


async def test_webhook_app_runs_under_uvicorn_in_both_eras() -> None:
    app = webhook_app(build_server(), WebhookServerConfig(signing_secrets=(SECRET,), allow_loopback=True))
    with anyio.fail_after(30):
        async with serve_asgi(app, "127.0.0.1", 0, lifespan=True) as port:
            url = f"http://127.0.0.1:{port}/mcp"
            for mode in ("auto", "legacy"):
                async with Client(webhook_client(client_config(url)), mode=mode) as client:
                    assert text_of(await client.call_tool("echo", {"text": mode})) == mode


async def test_mount_webhook_adds_the_route_to_an_app_that_keeps_its_own() -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config = WebhookServerConfig(signing_secrets=(SECRET,), allow_loopback=True, path="/agents/mcp")
        async with mount_webhook(app, build_server(), config):
            yield

    async def health(_: Request) -> PlainTextResponse:
        return PlainTextResponse("fine")

    app = Starlette(routes=[Route("/health", health)], lifespan=lifespan)
    with anyio.fail_after(30):
        async with serve_asgi(app, "127.0.0.1", 0, lifespan=True) as port:
            base = f"http://127.0.0.1:{port}"
            async with httpx2.AsyncClient() as http:
                assert (await http.get(f"{base}/health")).text == "fine"
                assert (await http.post(f"{base}/agents/mcp", content=b"{}")).status_code == 401  # unsigned
            async with Client(webhook_client(client_config(f"{base}/agents/mcp"))) as client:
                assert text_of(await client.call_tool("echo", {"text": "mounted"})) == "mounted"


async def test_a_client_receiver_mounted_in_the_users_app_gets_the_results() -> None:
    server_app = webhook_app(build_server(), WebhookServerConfig(signing_secrets=(SECRET,), allow_loopback=True))
    receiver_app = Starlette()
    with anyio.fail_after(30):
        async with (
            serve_asgi(server_app, "127.0.0.1", 0, lifespan=True) as server_port,
            serve_asgi(receiver_app, "127.0.0.1", 0) as receiver_port,
        ):
            config = client_config(
                f"http://127.0.0.1:{server_port}/mcp",
                webhook_url=f"http://127.0.0.1:{receiver_port}/hooks/mcp",
                receiver_path="/hooks/mcp",
            )
            async with Client(webhook_client(config, app=receiver_app)) as client:
                assert text_of(await client.call_tool("echo", {"text": "to my app"})) == "to my app"


def test_a_mounted_receiver_needs_the_url_that_reaches_it() -> None:
    async def attempt() -> None:
        async with webhook_client(client_config("http://127.0.0.1:9/mcp"), app=Starlette()):
            pass

    with pytest.raises(ValueError, match="webhook_url"):
        anyio.run(attempt)


def test_the_earlier_names_import_from_asyncmcp() -> None:
    assert asyncmcp.WebhookServerConfig is WebhookServerConfig
    assert asyncmcp.WebhookClientConfig is WebhookClientConfig
    config = client_config("https://mcp.example.com/mcp", client_id="c1", transport_timeout_seconds=5)
    assert (config.server_url, config.client_id, config.webhook_url) == ("https://mcp.example.com/mcp", "c1", None)


def test_a_url_that_is_not_http_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="server_url must be an http"):
        client_config("mcp.example.com")
