"""The client configurations shown in docs/proxy.md work as written.

No desktop client runs here, so each configuration is read out of the document and run the way its
client runs it: Claude Desktop's `command`/`args`/`env` become a stdio launch by the SDK's stdio
client, Cursor's `url`/`headers` a Streamable HTTP connection by the SDK's HTTP client. Only what
must differ on a test machine is substituted: the queue URL, the port, and the AWS profile (the
embedded endpoint's credentials stand in for it).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from asyncmcp import SqsClientConfig
from asyncmcp.proxy import create_proxy_server
from tests.sqs_helpers import serving

pytestmark = pytest.mark.anyio

PROXY_DOC = Path(__file__).resolve().parents[2] / "docs" / "proxy.md"
HANG_GUARD = 45


def documented_server(key: str) -> dict[str, Any]:
    """The one `mcpServers` entry among the doc's JSON blocks that has `key` (`command` or `url`)."""
    blocks = re.findall(r"```json\n(.*?)```", PROXY_DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    entries = [entry for block in blocks for entry in json.loads(block).get("mcpServers", {}).values()]
    matching = [entry for entry in entries if key in entry]
    assert len(matching) == 1, f"docs/proxy.md should show exactly one client config with {key!r}"
    return matching[0]


async def test_the_documented_claude_desktop_config_launches_a_working_proxy(queues, endpoint):
    entry = documented_server("command")
    command = shutil.which(entry["command"], path=str(Path(sys.executable).parent))
    assert command, f"{entry['command']!r} is not installed next to {sys.executable}"
    args = list(entry["args"])
    args[args.index("--request-queue-url") + 1] = queues.request
    env = {name: value for name, value in entry["env"].items() if name != "AWS_PROFILE"}
    params = StdioServerParameters(command=command, args=args, env={**endpoint.environment(), **env})
    async with serving(queues):
        with anyio.fail_after(HANG_GUARD):
            async with Client(params) as client:
                assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
                result = await client.call_tool("echo", {"text": "from the documented config"})
                assert result.content[0].text == "from the documented config"


async def test_the_documented_cursor_config_reaches_a_proxy_with_a_token(queues):
    entry = documented_server("url")
    token = entry["headers"]["Authorization"].removeprefix("Bearer ")
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    proxy = create_proxy_server(backend_transport="sqs", backend_config=config, port=0, auth_token=token)
    async with serving(queues), anyio.create_task_group() as tg:
        await tg.start(proxy.run)
        documented = urlsplit(entry["url"])
        url = urlunsplit(documented._replace(netloc=f"{documented.hostname}:{proxy.port}"))
        try:
            with anyio.fail_after(HANG_GUARD):
                async with (
                    httpx2.AsyncClient(headers=entry["headers"]) as http,
                    Client(streamable_http_client(url, http_client=http)) as client,
                ):
                    result = await client.call_tool("echo", {"text": "from cursor's config"})
                    assert result.content[0].text == "from cursor's config"
        finally:
            proxy.stop()
