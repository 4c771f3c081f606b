"""Tasks through `asyncmcp proxy`: a standard 2026 client over Streamable HTTP, a server behind SQS."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from asyncmcp.tasks import CreateTaskResult, TasksClient, get_task, start_task, wait_for_task
from tests.client_answers import text_of
from tests.proxy.test_proxy import proxied
from tests.sqs_helpers import serving
from tests.tasks.servers import task_server

pytestmark = pytest.mark.anyio

WITHIN = 30.0

ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
}


async def test_a_2026_client_gets_tasks_through_the_proxy(queues: Any) -> None:
    with anyio.fail_after(WITHIN):
        async with (
            serving(queues, task_server()),
            proxied(queues) as proxy,
            Client(proxy.url, mode="2026-07-28", extensions=[TasksClient()]) as client,
        ):
            assert text_of(await client.call_tool("slow", {"seconds": 0.2, "label": "proxied"})) == "slow proxied"
            created = await start_task(client, "slow", {"seconds": 0})
            assert isinstance(created, CreateTaskResult)
            assert text_of(await wait_for_task(client, created.task_id)) == "slow done"
            assert (await get_task(client, created.task_id)).status == "completed"


async def test_the_proxy_refuses_a_tasks_request_whose_mcp_name_is_another_task(queues: Any) -> None:
    with anyio.fail_after(WITHIN):
        async with serving(queues, task_server()), proxied(queues) as proxy:
            async with Client(proxy.url, mode="2026-07-28", extensions=[TasksClient()]) as client:
                created = await start_task(client, "slow", {"seconds": 0})
                assert isinstance(created, CreateTaskResult)
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tasks/get",
                "params": {"taskId": created.task_id, "_meta": ENVELOPE},
            }
            headers = {
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2026-07-28",
                "Mcp-Method": "tasks/get",
            }
            async with httpx2.AsyncClient() as http:
                matching = await http.post(proxy.url, json=body, headers={**headers, "Mcp-Name": created.task_id})
                wrong = await http.post(proxy.url, json=body, headers={**headers, "Mcp-Name": "another-task"})
                missing = await http.post(proxy.url, json=body, headers=headers)
            assert matching.status_code == 200 and '"taskId"' in matching.text
            for refused in (wrong, missing):
                assert refused.status_code == 400 and "-32020" in refused.text
