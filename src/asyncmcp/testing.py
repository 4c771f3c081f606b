"""Test your own MCP servers and clients over asyncmcp without a broker.

The memory channel (`asyncmcp.channels.memory`) behaves like a queue service: visibility,
redelivery, receive counts, delayed release, dead-lettering and size limits, plus injected
failures (`MemoryBroker.fail_next`). Serve on it and connect to it exactly as over SQS:

```python
from mcp import Client
from asyncmcp.testing import MemoryBroker, MemoryClientConfig, MemoryServerConfig, Worker, connect

broker = MemoryBroker()
async with Worker(my_server, MemoryServerConfig(queue="requests", broker=broker)):
    async with Client(connect(MemoryClientConfig(queue="requests", broker=broker))) as client:
        result = await client.call_tool("echo", {"text": "hi"})
```
"""

from asyncmcp.channels.memory import (
    MemoryBroker,
    MemoryChannel,
    MemoryClientConfig,
    MemoryDelivery,
    MemoryServerConfig,
)
from asyncmcp.connecting import connect, shared_replies
from asyncmcp.serving import Worker, serve, stream_pair

__all__ = [
    "MemoryBroker",
    "MemoryChannel",
    "MemoryClientConfig",
    "MemoryDelivery",
    "MemoryServerConfig",
    "Worker",
    "connect",
    "serve",
    "shared_replies",
    "stream_pair",
]
