"""A new process's first result: `python -m benchmarks.first_call REQUEST_QUEUE_URL`.

Prints one JSON line: seconds spent importing asyncmcp and mcp, opening the client (its AWS client
and temporary reply queue included), getting the first tool result, and all of it. The clock starts
before the imports, so the figure is what a short-lived script or a cold Lambda sees.
"""

import time

_STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

import anyio  # noqa: E402
from mcp import Client  # noqa: E402

from asyncmcp.sqs import SqsClientConfig, sqs_client  # noqa: E402

_IMPORTED = time.perf_counter()


async def _main(request_url: str) -> dict[str, float]:
    opened_at = time.perf_counter()
    async with Client(sqs_client(SqsClientConfig(read_queue_url=request_url))) as client:
        connected = time.perf_counter()
        result = await client.call_tool("echo", {"text": "first"})
        answered = time.perf_counter()
        if result.is_error:
            raise RuntimeError(f"echo failed: {result.content}")
    return {
        "import": _IMPORTED - _STARTED,
        "open": connected - opened_at,
        "first_call": answered - connected,
        "total": answered - _STARTED,
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(anyio.run(_main, sys.argv[1])) + "\n")
