"""docs/bridging.md's recipe, run as written: a stdio client (as Claude Desktop launches it) ->
`asyncmcp proxy --stdio` -> SQS -> `asyncmcp serve -- <stdio server>`, every hop its own process."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.client_answers import text_of
from tests.processes import ROOT, Proc, processes

pytestmark = pytest.mark.anyio

DOC = ROOT / "docs" / "bridging.md"
NPX_WORDS = ["npx", "-y", "@modelcontextprotocol/server-everything"]
"""What the recipe's serve command runs; replaced by the package installed once for the tests."""

HANG_GUARD = 90


def recipe_block(name: str) -> str:
    """The fenced block between `<!-- recipe: name -->` and `<!-- /recipe -->` in the doc."""
    found = re.search(rf"<!-- recipe: {name} -->\s*```\w*\n(.*?)```\s*<!-- /recipe -->", DOC.read_text(), re.S)
    assert found, f"docs/bridging.md has no recipe block {name!r}"
    return found.group(1)


def as_python(words: list[str]) -> list[str]:
    assert words[0] == "asyncmcp"
    return [sys.executable, "-m", "asyncmcp", *words[1:]]


@pytest.mark.parametrize("mode", ["legacy"])  # Claude Desktop speaks 2025; the proxy tests cover both eras
async def test_the_bridging_recipe_serves_a_stdio_client_through_the_proxy(queues, endpoint, everything, mode):
    serve_words = shlex.split(recipe_block("serve").replace('"$REQUEST_QUEUE_URL"', queues.request))
    split = serve_words.index("--")
    assert serve_words[split + 1 :] == NPX_WORDS
    serve = as_python([*serve_words[: split + 1], *everything])

    config: dict[str, Any] = json.loads(recipe_block("client"))["mcpServers"]["everything"]
    args = [queues.request if arg == "$REQUEST_QUEUE_URL" else arg for arg in config["args"]]
    command = as_python([config["command"], *args])
    local = endpoint.environment()  # the doc's AWS_REGION, pointed at the local endpoint
    client = StdioServerParameters(command=command[0], args=command[1:], env={**config["env"], **local})

    with processes() as started:
        worker = Proc(serve, {**os.environ, **local, "PYTHONUNBUFFERED": "1"})
        started.append(worker)
        await worker.wait_serving()
        with anyio.fail_after(HANG_GUARD):
            async with Client(client, mode=mode) as session:
                assert "get-sum" in {tool.name for tool in (await session.list_tools()).tools}
                assert text_of(await session.call_tool("get-sum", {"a": 2, "b": 3})) == "The sum of 2 and 3 is 5."
