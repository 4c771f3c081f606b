"""MCP over AWS SQS: a request queue per server, reply queues for clients.

- `sqs_client(config, sqs_client)`: a client transport (the `(read, write)` pair of the original
  asyncmcp API, also accepted by `mcp.Client`).
- `serve_sqs(server, config, sqs_client)`: serve an MCP `Server`/`MCPServer` to any number of
  clients, in both protocol eras; run it in several processes to scale out.
- `sqs_server(config, sqs_client)`: the original single-connection stream pair.
- `sqs_reply_queue(...)`: one shared receiver for many clients of one process.

`sqs_client` arguments may be a boto3 client, an aiobotocore client, or None (an aiobotocore
client is built from the environment).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
from mcp.shared.message import SessionMessage

from asyncmcp.client.replies import ReplyRouter
from asyncmcp.client.transport import client_streams
from asyncmcp.server.engine import EngineOptions, ServerEngine
from asyncmcp.server.state_key import StateKey, share_request_state
from asyncmcp.server.stream_pair import serve_stream_pair
from asyncmcp.sqs.api import SqsApi
from asyncmcp.sqs.channel import SqsChannel
from asyncmcp.sqs.config import SqsClientConfig, SqsServerConfig
from asyncmcp.sqs.policy import SqsReplyPolicy

__all__ = [
    "SqsClientConfig",
    "SqsServerConfig",
    "SqsWorker",
    "serve_sqs",
    "sqs_client",
    "sqs_reply_queue",
    "sqs_server",
]

logger = logging.getLogger(__name__)

ReadStream = anyio.abc.ObjectReceiveStream[SessionMessage | Exception]
WriteStream = anyio.abc.ObjectSendStream[SessionMessage]


@asynccontextmanager
async def sqs_client(
    config: SqsClientConfig, sqs_client: Any = None, *, replies: ReplyRouter | None = None
) -> AsyncIterator[tuple[ReadStream, WriteStream]]:
    """Connect to the server on `config.read_queue_url`; yields the SDK's `(read, write)` streams.

    Pass `replies` (from `sqs_reply_queue`) to share one receiver among many clients of this
    process; `config.response_queue_url` is then ignored in favour of the shared queue.
    """
    async with (
        _open_channel(config, sqs_client, replies) as channel,
        client_streams(
            channel,
            config.read_queue_url,
            reply_address=config.response_queue_url,
            client_id=config.client_id,
            timeout_seconds=config.transport_timeout_seconds,
            router=replies,
            receive_batch=config.max_messages,
        ) as streams,
    ):
        yield streams


@asynccontextmanager
async def _open_channel(config: SqsClientConfig, sqs_client: Any, replies: ReplyRouter | None) -> AsyncIterator[Any]:
    if replies is not None:
        yield replies.channel
        return
    async with SqsApi(sqs_client) as api, SqsChannel.from_config(api, config) as channel:
        yield channel


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
    async with (
        SqsApi(sqs_client) as api,
        SqsChannel.from_config(api, config) as channel,
        ReplyRouter(channel, address, max_frames=config.max_messages) as router,
    ):
        yield router


@asynccontextmanager
async def sqs_server(config: SqsServerConfig, sqs_client: Any = None) -> AsyncIterator[tuple[ReadStream, WriteStream]]:
    """The original single-connection entry: `async with sqs_server(...) as (r, w): await app.run(r, w, opts)`.

    Serves one client. For many clients and several workers use `serve_sqs`.
    """
    async with SqsApi(sqs_client) as api, SqsChannel.from_config(api, config) as channel:
        policy = SqsReplyPolicy(config.read_queue_url, config.allowed_reply_queues)
        async with serve_stream_pair(
            channel,
            config.read_queue_url,
            policy=policy,
            delete_bad_messages=config.on_bad_message == "delete",
            max_batch=config.max_messages,
        ) as streams:
            yield streams


class SqsWorker:
    """One worker serving an MCP server on an SQS request queue; run several to scale out.

    `await worker.run()` serves until cancelled; `worker.stop()` stops receiving and lets in-flight
    requests finish within `shutdown_grace_seconds`, handing the rest back to the queue.
    `async with SqsWorker(...) as worker:` serves in the background for the body of the block.
    """

    def __init__(
        self, server: Any, config: SqsServerConfig, sqs_client: Any = None, *, shutdown_grace_seconds: float = 0.0
    ) -> None:
        self.server = server
        self.config = config
        self._sqs_client = sqs_client
        self._grace = shutdown_grace_seconds
        self.engine: ServerEngine | None = None
        self.api: SqsApi | None = None
        self._stop_requested = False
        self._tg: anyio.abc.TaskGroup | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        key = StateKey.resolve(config.state_key)
        share_request_state(self.server, key)
        async with SqsApi(self._sqs_client) as api, SqsChannel.from_config(api, config) as channel:
            self.api = api
            attributes = await channel.learn_limits(config.read_queue_url)
            if config.on_bad_message == "dead-letter" and "RedrivePolicy" not in attributes:
                logger.warning(
                    "on_bad_message='dead-letter' but %s has no RedrivePolicy: bad messages will be retried "
                    "until they expire; attach a dead-letter queue",
                    config.read_queue_url,
                )
            self.engine = ServerEngine(
                self.server,
                channel,
                config.read_queue_url,
                policy=SqsReplyPolicy(config.read_queue_url, config.allowed_reply_queues),
                signer=key.signer(),
                options=EngineOptions(
                    max_in_flight=config.max_in_flight,
                    max_batch=config.max_messages,
                    on_bad_message=config.on_bad_message,
                    dedupe_window_seconds=config.dedupe_window_seconds,
                    request_timeout_seconds=config.transport_timeout_seconds,
                    shutdown_grace_seconds=self._grace,
                ),
            )
            if self._stop_requested:
                return
            logger.info("serving %s on %s", self.engine.server.name, config.read_queue_url)
            await self.engine.run(task_status=task_status)

    def stop(self) -> None:
        self._stop_requested = True
        if self.engine is not None:
            self.engine.stop()

    async def __aenter__(self) -> SqsWorker:
        """Serve in the background for the body of an `async with` block (tests, embedding)."""
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        await self._tg.start(self.run)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)


async def serve_sqs(
    server: Any,
    config: SqsServerConfig,
    sqs_client: Any = None,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `server` (an mcp `Server` or `MCPServer`) on `config.read_queue_url` until cancelled."""
    await SqsWorker(server, config, sqs_client).run(task_status=task_status)
