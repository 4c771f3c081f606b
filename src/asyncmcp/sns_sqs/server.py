"""The server side of MCP over SNS+SQS (`from asyncmcp.sns_sqs.server import sns_sqs_server`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import anyio.abc

from asyncmcp.channels.sns_sqs.config import SnsSqsServerConfig, SnsSqsTransportConfig
from asyncmcp.connecting import Streams
from asyncmcp.serving import Worker, serve, stream_pair

__all__ = ["SnsSqsWorker", "serve_sns_sqs", "sns_sqs_server"]


def _server_config(config: SnsSqsServerConfig | SnsSqsTransportConfig) -> SnsSqsServerConfig:
    return config.server_config() if isinstance(config, SnsSqsTransportConfig) else config


def _clients(sqs_client: Any, sns_client: Any) -> dict[str, Any]:
    return {"sqs_client": sqs_client, "sns_client": sns_client}


def sns_sqs_server(
    config: SnsSqsServerConfig | SnsSqsTransportConfig, sqs_client: Any = None, sns_client: Any = None
) -> AbstractAsyncContextManager[Streams]:
    """The original single-connection entry: `async with sns_sqs_server(...) as (r, w): await app.run(r, w, opts)`.

    Reads `config.sqs_queue_url`, publishes replies to each client's topic (or `config.sns_topic_arn`).
    Serves one client; for many clients and several workers use `serve_sns_sqs`.
    """
    return stream_pair(_server_config(config), _clients(sqs_client, sns_client))


class SnsSqsWorker(Worker):
    """One worker serving an MCP server on an SNS+SQS queue; run several to scale out (see `Worker`)."""

    def __init__(
        self,
        server: Any,
        config: SnsSqsServerConfig | SnsSqsTransportConfig,
        sqs_client: Any = None,
        sns_client: Any = None,
        *,
        shutdown_grace_seconds: float = 0.0,
    ) -> None:
        super().__init__(
            server,
            _server_config(config),
            _clients(sqs_client, sns_client),
            shutdown_grace_seconds=shutdown_grace_seconds,
        )


async def serve_sns_sqs(
    server: Any,
    config: SnsSqsServerConfig | SnsSqsTransportConfig,
    sqs_client: Any = None,
    sns_client: Any = None,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `server` (an mcp `Server` or `MCPServer`) on `config.sqs_queue_url` until cancelled."""
    await serve(server, _server_config(config), _clients(sqs_client, sns_client), task_status=task_status)
