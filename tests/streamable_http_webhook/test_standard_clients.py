"""Standard clients are never stuck: the official TypeScript SDK client, which names no webhook URL,
gets webhook tools answered inline, progress included; and the proxy reaches a hybrid server
(`--backend hybrid`), its links answered by webhook behind it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from asyncmcp.proxy import create_proxy_server
from asyncmcp.streamable_http_webhook import WEBHOOK_TOOL_META_KEY
from tests.client_answers import text_of
from tests.npm import npm_install
from tests.proxy.test_proxy import TS_CLIENT_DIR
from tests.streamable_http_webhook.harness import hybrid_server
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

HANG_GUARD = 60

TS_SCRIPT = """
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url] = process.argv.slice(2);
const client = new Client({ name: "asyncmcp-ts-hybrid", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url));
await client.connect(transport);
const tools = await client.listTools();
const progress = [];
const result = await client.callTool({ name: "slow", arguments: { steps: 2 } }, undefined, {
  onprogress: (p) => progress.push(p.progress),
});
const marked = tools.tools.filter((t) => t._meta && t._meta["dev.asyncmcp/webhook"]).map((t) => t.name);
await transport.terminateSession();
await client.close();
console.log(JSON.stringify({ marked, progress, result }));
"""


@pytest.fixture(scope="session")
def ts_hybrid_script() -> Iterator[Path]:
    if not (TS_CLIENT_DIR / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json").exists():
        npm_install(TS_CLIENT_DIR, ["@modelcontextprotocol/sdk"], module_type=True)
    script = TS_CLIENT_DIR / "hybrid-client.mjs"
    script.write_text(TS_SCRIPT)
    yield script


async def test_the_typescript_sdk_client_gets_webhook_tools_inline(ts_hybrid_script: Path) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with hybrid_server() as running:
            done = await anyio.run_process(["node", str(ts_hybrid_script), running.url], cwd=TS_CLIENT_DIR, check=False)
            assert running.hybrid.sender.stats["delivered"] == 0
    assert done.returncode == 0, done.stderr.decode()
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert set(out["marked"]) >= {"slow", "block"}
    assert out["progress"] == [1, 2]
    assert out["result"]["content"] == [{"type": "text", "text": "done 2"}]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_proxy_reaches_a_hybrid_server_with_webhook_answers_behind_it(mode: Any) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with hybrid_server() as running, anyio.create_task_group() as tg:
            proxy = create_proxy_server(backend_transport="hybrid", backend_config=running.client_config(), port=0)
            await tg.start(proxy.run)
            try:
                async with Client(proxy.url, mode=mode) as client:
                    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
                    assert (tools["slow"].meta or {}).get(WEBHOOK_TOOL_META_KEY) is True
                    assert text_of(await client.call_tool("echo", {"text": "proxied"})) == "proxied"
                    progress: list[float] = []

                    async def on_progress(value: float, total: float | None, message: str | None) -> None:
                        progress.append(value)

                    result = await client.call_tool("slow", {"steps": 2}, progress_callback=on_progress)
                    assert text_of(result) == "done 2" and progress == [1, 2]
                await wait_for(lambda: running.hybrid.sender.stats["delivered"] == 3)  # behind the proxy: by webhook
            finally:
                proxy.stop()
