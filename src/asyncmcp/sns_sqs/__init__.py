"""MCP over AWS SNS+SQS, under the names of the original asyncmcp documents.

- `sns_sqs_client(config, sqs_client, sns_client)`: a client transport (`(read, write)`, also
  accepted by `mcp.Client`): requests are published to the server's topic, replies read from the
  client's queue.
- `sns_sqs_server(config, sqs_client, sns_client)`: the original single-connection stream pair.
- `serve_sns_sqs(server, config, ...)` / `SnsSqsWorker`: serve an MCP server to any number of
  clients in both protocol eras; run several workers on one queue to scale out.
- `provision_sns_sqs(name, ...)`: create a topology (also `asyncmcp provision --transport sns_sqs`).
- `observe(config, ...)`: read what an observer queue sees (audit, analytics), answering nothing.

Configs: the original `SnsSqsTransportConfig` (one class for either side), or
`SnsSqsServerConfig` / `SnsSqsClientConfig`. Clients may be boto3 or aiobotocore clients, or None
(built from the environment). This module is a thin face over the generic assembly
(`asyncmcp.serving`, `asyncmcp.connecting`) and the channel (`asyncmcp.channels.sns_sqs`).
"""

from __future__ import annotations

from asyncmcp.channels.sns_sqs.config import SnsSqsClientConfig, SnsSqsServerConfig, SnsSqsTransportConfig
from asyncmcp.channels.sns_sqs.provision import SnsSqsTopology, provision_sns_sqs
from asyncmcp.sns_sqs.client import sns_sqs_client, sns_sqs_reply_queue
from asyncmcp.sns_sqs.observer import ObservedMessage, observe
from asyncmcp.sns_sqs.server import SnsSqsWorker, serve_sns_sqs, sns_sqs_server

__all__ = [
    "ObservedMessage",
    "SnsSqsClientConfig",
    "SnsSqsServerConfig",
    "SnsSqsTopology",
    "SnsSqsTransportConfig",
    "SnsSqsWorker",
    "observe",
    "provision_sns_sqs",
    "serve_sns_sqs",
    "sns_sqs_client",
    "sns_sqs_reply_queue",
    "sns_sqs_server",
]
