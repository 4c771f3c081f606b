"""Put an existing MCP server behind a channel: a stdio command or a Streamable HTTP URL.

```python
from asyncmcp.bridge import StdioUpstream, bridge_server
from asyncmcp.serving import Worker

server = bridge_server(StdioUpstream(["npx", "-y", "@modelcontextprotocol/server-everything"], pool=2))
await Worker(server, SqsServerConfig(request_queue_url=...)).run()
```

`asyncmcp serve -- <command>` and `asyncmcp serve --upstream-url URL` are this, on any registered
transport. docs/bridging.md says which guarantees hold for which combination of eras.
"""

from asyncmcp.bridge.pool import SessionMode, UpstreamStartError
from asyncmcp.bridge.server import bridge_server
from asyncmcp.bridge.upstream import HttpUpstream, StdioUpstream, Upstream

__all__ = ["HttpUpstream", "SessionMode", "StdioUpstream", "Upstream", "UpstreamStartError", "bridge_server"]
