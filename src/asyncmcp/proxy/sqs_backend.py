"""The SQS backend of the proxy: one channel, one reply receiver shared by every session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from asyncmcp.client.replies import ReplyRouter
from asyncmcp.client.transport import delete_reply_address_quietly
from asyncmcp.proxy.backend import BackendTarget
from asyncmcp.sqs.api import SqsApi
from asyncmcp.sqs.channel import SqsChannel
from asyncmcp.sqs.config import SqsClientConfig

__all__ = ["SqsBackendOpener"]


class SqsBackendOpener:
    """Opens the SQS side: the configured reply queue, or one temporary queue for the whole proxy."""

    def __init__(self, config: SqsClientConfig, sqs_client: Any = None) -> None:
        self.config = config
        self.sqs_client = sqs_client
        self._channel: SqsChannel | None = None
        self._router: ReplyRouter | None = None

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[tuple[BackendTarget, ReplyRouter]]:
        config = self.config
        async with AsyncExitStack() as stack:
            api = await stack.enter_async_context(SqsApi(self.sqs_client))
            channel = await stack.enter_async_context(SqsChannel.from_config(api, config))
            reply_queue = config.response_queue_url
            private = reply_queue is None
            if reply_queue is None:
                reply_queue = await channel.create_reply_address(f"asyncmcp-proxy-{uuid.uuid4().hex[:12]}")
                stack.push_async_callback(delete_reply_address_quietly, channel, reply_queue)
            router = await stack.enter_async_context(
                ReplyRouter(channel, reply_queue, private=private, max_frames=config.max_messages)
            )
            self._channel = channel
            self._router = router
            try:
                yield BackendTarget(channel, config.read_queue_url, config.transport_timeout_seconds), router
            finally:
                self._channel = None

    async def check_ready(self) -> None:
        if self._channel is None or self._router is None:
            raise RuntimeError("the backend is not running")
        if self._router.failure is not None:
            raise self._router.failure  # the reply queue is gone: no answer can come back
        await self._channel.learn_limits(self.config.read_queue_url)
