"""asyncmcp: the Model Context Protocol over asynchronous channels (AWS SQS, SNS+SQS, webhooks).

The public names most users need are re-exported here; each channel lives in its own subpackage
(`asyncmcp.sqs`).
"""

from asyncmcp.errors import (
    AddressNotFoundError,
    AsyncMcpError,
    ChannelError,
    FrameTooLargeError,
)
from asyncmcp.server.engine import RequestFacts
from asyncmcp.sqs.config import SqsClientConfig, SqsServerConfig

__all__ = [
    "AddressNotFoundError",
    "AsyncMcpError",
    "ChannelError",
    "FrameTooLargeError",
    "RequestFacts",
    "SqsClientConfig",
    "SqsServerConfig",
]

__version__ = "0.3.0"
