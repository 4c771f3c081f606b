"""MCP over HTTP webhooks, under the names of the earlier asyncmcp implementation.

- `webhook_app(server, config)`: the server as an ASGI app (Starlette): requests are POSTed to
  `config.path`, answered 202 at once, and everything that answers them is POSTed to the client's
  webhook URL. Run it with uvicorn. `asyncmcp serve --transport webhook --port N module:server`
  runs one.
- `mount_webhook(app, server, config)`: the same inside your own Starlette or FastAPI app: enter it
  in your app's lifespan; it adds the route `config.path` and serves until the block ends.
- `serve_webhook(server, config)`: the same on its own HTTP server (`config.port`), until cancelled.
- `webhook_client(config, app=None)`: a client transport for `mcp.Client` / `ClientSession`; its
  receiver runs on 127.0.0.1 (an ephemeral port) or, given an `app`, is mounted into it.
- `generate_secret()`: a new Standard Webhooks signing secret (`whsec_...`).

Every POST both ways is signed and verified; answers go only to webhook URLs the SSRF rules allow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import anyio.abc

from asyncmcp.channels.webhook.config import WebhookClientConfig, WebhookServerConfig
from asyncmcp.channels.webhook.signing import generate_secret
from asyncmcp.connecting import Streams, connect
from asyncmcp.serving import Worker, serve

__all__ = [
    "WebhookClientConfig",
    "WebhookServerConfig",
    "generate_secret",
    "mount_webhook",
    "serve_webhook",
    "webhook_app",
    "webhook_client",
]


@asynccontextmanager
async def mount_webhook(
    app: Any, server: Any, config: WebhookServerConfig, *, shutdown_grace_seconds: float = 10.0
) -> AsyncIterator[Worker]:
    """Serve `server` by webhooks at `config.path` of `app` (Starlette or FastAPI) for the block.

    Enter it in the app's lifespan: Starlette runs no lifespan of a mounted sub-app, so the worker
    must live in yours. On the way out, requests in flight get `shutdown_grace_seconds` to finish.
    """
    worker = Worker(server, config, {"app": app}, shutdown_grace_seconds=shutdown_grace_seconds)
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run)
        try:
            yield worker
        finally:
            worker.stop()


def webhook_app(server: Any, config: WebhookServerConfig, *, shutdown_grace_seconds: float = 10.0) -> Any:
    """A Starlette app serving `server` by webhooks; its lifespan runs the worker."""
    from starlette.applications import Starlette

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mount_webhook(app, server, config, shutdown_grace_seconds=shutdown_grace_seconds):
            yield

    return Starlette(lifespan=lifespan)


async def serve_webhook(
    server: Any,
    config: WebhookServerConfig,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `server` on the webhook server's own HTTP server (`config.port`) until cancelled."""
    await serve(server, config, task_status=task_status)


def webhook_client(config: WebhookClientConfig, app: Any = None) -> AbstractAsyncContextManager[Streams]:
    """Connect to the webhook server at `config.server_url`; an async context manager yielding `(read, write)`.

    With `app` (a Starlette or FastAPI app reachable at `config.webhook_url`) the receiver is mounted
    at `config.receiver_path` into it; otherwise it runs on 127.0.0.1 and an ephemeral port.
    """
    return connect(config, {"app": app})
