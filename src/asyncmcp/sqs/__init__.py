"""MCP over AWS SQS, under the names of the original asyncmcp documents.

- `sqs_client(config, sqs_client)`: a client transport (the `(read, write)` pair of the original
  asyncmcp API, also accepted by `mcp.Client`).
- `serve_sqs(server, config, sqs_client)` / `SqsWorker`: serve an MCP `Server`/`MCPServer` to any
  number of clients, in both protocol eras; run it in several processes to scale out.
- `sqs_server(config, sqs_client)`: the original single-connection stream pair.
- `sqs_reply_queue(...)`: one shared receiver for many clients of one process.

`sqs_client` arguments may be a boto3 client, an aiobotocore client, or None (an aiobotocore
client is built from the environment). This module is a thin face: the work is done by the
generic assembly (`asyncmcp.serving`, `asyncmcp.connecting`) over the SQS channel
(`asyncmcp.channels.sqs`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import anyio.abc

from asyncmcp.channels.sqs.config import SqsClientConfig, SqsServerConfig
from asyncmcp.client.replies import ReplyRouter
from asyncmcp.connecting import Streams, connect, shared_replies
from asyncmcp.serving import Worker, serve, stream_pair

__all__ = [
    "SqsClientConfig",
    "SqsServerConfig",
    "SqsWorker",
    "serve_sqs",
    "sqs_client",
    "sqs_reply_queue",
    "sqs_server",
]


def sqs_client(
    config: SqsClientConfig, sqs_client: Any = None, *, replies: ReplyRouter | None = None
) -> AbstractAsyncContextManager[Streams]:
    """Connect to the server on `config.read_queue_url`; an async context manager yielding `(read, write)`.

    Pass `replies` (from `sqs_reply_queue`) to share one receiver among many clients of this
    process; `config.response_queue_url` is then ignored in favour of the shared queue.
    """
    return connect(config, {"sqs_client": sqs_client}, replies=replies)


@asynccontextmanager
async def sqs_reply_queue(
    config: SqsClientConfig, sqs_client: Any = None, *, queue_url: str | None = None
) -> AsyncIterator[ReplyRouter]:
    """One receiver on a reply queue, shared by every `sqs_client(..., replies=...)` of this process.

    `queue_url` defaults to `config.response_queue_url`.
    """
    address = queue_url or config.response_queue_url
    if address is None:
        raise ValueError("sqs_reply_queue needs a queue: set response_queue_url or pass queue_url")
    shared = config.model_copy(update={"response_queue_url": address})
    async with shared_replies(shared, {"sqs_client": sqs_client}) as router:
        yield router


def sqs_server(config: SqsServerConfig, sqs_client: Any = None) -> AbstractAsyncContextManager[Streams]:
    """The original single-connection entry: `async with sqs_server(...) as (r, w): await app.run(r, w, opts)`.

    Serves one client. For many clients and several workers use `serve_sqs`.
    """
    return stream_pair(config, {"sqs_client": sqs_client})


class SqsWorker(Worker):
    """One worker serving an MCP server on an SQS request queue; run several to scale out (see `Worker`)."""

    def __init__(
        self, server: Any, config: SqsServerConfig, sqs_client: Any = None, *, shutdown_grace_seconds: float = 0.0
    ) -> None:
        super().__init__(server, config, {"sqs_client": sqs_client}, shutdown_grace_seconds=shutdown_grace_seconds)


async def serve_sqs(
    server: Any,
    config: SqsServerConfig,
    sqs_client: Any = None,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `server` (an mcp `Server` or `MCPServer`) on `config.read_queue_url` until cancelled."""
    await serve(server, config, {"sqs_client": sqs_client}, task_status=task_status)
