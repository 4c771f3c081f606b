"""asyncmcp: the Model Context Protocol over asynchronous channels (AWS SQS, SNS+SQS, webhooks).

The public names most users need are re-exported here. They are loaded on first use, so
`import asyncmcp` imports no broker library, web server or MCP server stack: each channel lives in
its own subpackage (`asyncmcp.channels.sqs`) and its seed-named face (`asyncmcp.sqs`) is imported
only when asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asyncmcp.errors import AddressNotFoundError, AsyncMcpError, ChannelError, FrameTooLargeError

if TYPE_CHECKING:
    from asyncmcp.channels.sns_sqs.config import SnsSqsClientConfig, SnsSqsServerConfig, SnsSqsTransportConfig
    from asyncmcp.channels.sqs.config import SqsClientConfig, SqsServerConfig
    from asyncmcp.channels.webhook.config import WebhookClientConfig, WebhookServerConfig
    from asyncmcp.server.engine import RequestFacts

__all__ = [
    "AddressNotFoundError",
    "AsyncMcpError",
    "ChannelError",
    "FrameTooLargeError",
    "RequestFacts",
    "SnsSqsClientConfig",
    "SnsSqsServerConfig",
    "SnsSqsTransportConfig",
    "SqsClientConfig",
    "SqsServerConfig",
    "WebhookClientConfig",
    "WebhookServerConfig",
]

__version__ = "0.3.0"

_LAZY = {
    "RequestFacts": "asyncmcp.server.engine",
    "SqsClientConfig": "asyncmcp.channels.sqs.config",
    "SqsServerConfig": "asyncmcp.channels.sqs.config",
    "SnsSqsClientConfig": "asyncmcp.channels.sns_sqs.config",
    "SnsSqsServerConfig": "asyncmcp.channels.sns_sqs.config",
    "SnsSqsTransportConfig": "asyncmcp.channels.sns_sqs.config",
    "WebhookClientConfig": "asyncmcp.channels.webhook.config",
    "WebhookServerConfig": "asyncmcp.channels.webhook.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'asyncmcp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
