"""The demo client: calls the demo server's slow tool over SQS and shows what happened.

Reads the queue URLs from ASYNCMCP_REQUEST_QUEUE_URL / ASYNCMCP_REPLY_QUEUE_URL and the endpoint
from the usual AWS variables; `asyncmcp demo` sets them all.
"""

from __future__ import annotations

import os
import sys
import time

import anyio
from mcp import Client

from asyncmcp import SqsClientConfig
from asyncmcp.sqs import sqs_client

CALL_TIMEOUT = 60.0


async def main() -> int:
    config = SqsClientConfig(
        read_queue_url=os.environ["ASYNCMCP_REQUEST_QUEUE_URL"],
        response_queue_url=os.environ.get("ASYNCMCP_REPLY_QUEUE_URL"),
        transport_timeout_seconds=30,
    )

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        print(f"  progress {progress:g}/{total:g}: {message}", flush=True)

    with anyio.fail_after(CALL_TIMEOUT):
        async with Client(sqs_client(config)) as client:
            print(
                f"connected to {client.server_info.name if client.server_info else '?'} "
                f"over SQS (protocol {client.protocol_version})",
                flush=True,
            )
            tools = await client.list_tools()
            print(f"tools: {', '.join(tool.name for tool in tools.tools)}", flush=True)
            print("calling crunch(rows=1000) ...", flush=True)
            started = time.perf_counter()
            result = await client.call_tool("crunch", {"rows": 1000}, progress_callback=on_progress)
            elapsed = time.perf_counter() - started
            text = result.content[0].text if result.content and result.content[0].type == "text" else result
            print(f"result: {text}", flush=True)
            print(f"round trip: {elapsed * 1000:.0f} ms (the tool itself works for 1500 ms)", flush=True)
            started = time.perf_counter()
            await client.call_tool("echo", {"text": "ping"})
            print(f"a quick call (echo): {(time.perf_counter() - started) * 1000:.0f} ms round trip", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
