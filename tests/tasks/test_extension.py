"""The Tasks extension over the memory channel: wire shapes, statuses, errors, owners, both eras."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server import MCPServer, Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolRequestParams, CallToolResult, ListToolsResult, TextContent, Tool

from asyncmcp.errors import ChannelError
from asyncmcp.tasks import (
    EXTENSION_ID,
    CreateTaskResult,
    MemoryTaskStore,
    TaskRecord,
    TasksClient,
    TasksExtension,
    cancel_task,
    get_task,
    start_task,
    update_task,
    wait_for_task,
)
from asyncmcp.testing import MemoryBroker, MemoryClientConfig, MemoryServerConfig, Worker, connect
from tests.client_answers import text_of
from tests.tasks.servers import task_server

pytestmark = pytest.mark.anyio

WITHIN = 20.0


def client(broker: MemoryBroker, *, client_id: str = "app", extensions: Any = None, mode: Any = "2026-07-28") -> Client:
    config = MemoryClientConfig(queue="requests", broker=broker, client_id=client_id)
    return Client(connect(config), mode=mode, extensions=[TasksClient()] if extensions is None else extensions)


async def test_call_tool_returns_the_tasks_final_result_transparently() -> None:
    broker = MemoryBroker()
    with anyio.fail_after(WITHIN):
        async with Worker(task_server(), MemoryServerConfig(queue="requests", broker=broker)), client(broker) as app:
            assert text_of(await app.call_tool("slow", {"seconds": 0.3})) == "slow done"


async def test_a_task_handle_has_the_final_wire_shape_and_resolves_at_once() -> None:
    broker = MemoryBroker()
    with anyio.fail_after(WITHIN):
        async with Worker(task_server(), MemoryServerConfig(queue="requests", broker=broker)), client(broker) as app:
            created = await start_task(app, "slow", {"seconds": 0.5})
            assert isinstance(created, CreateTaskResult)
            wire = created.model_dump(by_alias=True, exclude_none=True)
            assert wire["resultType"] == "task" and wire["status"] == "working"
            assert len(created.task_id) == 32 and int(created.task_id, 16) >= 0  # 128 random bits
            assert {"createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs"} <= set(wire)
            assert not {"requestState", "result", "error", "inputRequests", "task"} & set(wire)
            assert (await get_task(app, created.task_id)).status in ("working", "completed")
            result = await wait_for_task(app, created.task_id)
            assert text_of(result) == "slow done"
            final = await get_task(app, created.task_id)
            assert final.status == "completed" and final.result is not None and final.error is None


async def test_a_tool_error_completes_and_a_protocol_error_fails() -> None:
    broker = MemoryBroker()
    with anyio.fail_after(WITHIN):
        async with Worker(task_server(), MemoryServerConfig(queue="requests", broker=broker)), client(broker) as app:
            broken = await start_task(app, "broken")
            assert isinstance(broken, CreateTaskResult)
            assert (await wait_for_task(app, broken.task_id)).is_error is True
            assert (await get_task(app, broken.task_id)).status == "completed"
            crashing = await start_task(app, "crashing")
            assert isinstance(crashing, CreateTaskResult)
            with pytest.raises(MCPError) as failed:
                await wait_for_task(app, crashing.task_id)
            assert failed.value.error.code == -32603
            detailed = await get_task(app, crashing.task_id)
            assert detailed.status == "failed" and detailed.result is None
            assert detailed.error is not None and detailed.error["message"] == "the server failed"


async def test_cancel_stops_the_tool_and_is_idempotent() -> None:
    broker = MemoryBroker()
    with anyio.fail_after(WITHIN):
        async with Worker(task_server(), MemoryServerConfig(queue="requests", broker=broker)), client(broker) as app:
            created = await start_task(app, "slow", {"seconds": 60})
            assert isinstance(created, CreateTaskResult)
            await cancel_task(app, created.task_id)
            assert (await get_task(app, created.task_id)).status == "cancelled"
            await cancel_task(app, created.task_id)  # a terminal task: the same empty ack
            assert (await get_task(app, created.task_id)).status == "cancelled"


async def test_input_is_asked_for_on_the_task_and_answered_with_update() -> None:
    broker = MemoryBroker()
    with anyio.fail_after(WITHIN):
        async with Worker(task_server(), MemoryServerConfig(queue="requests", broker=broker)), client(broker) as app:
            created = await start_task(app, "ask")
            assert isinstance(created, CreateTaskResult)

            detailed = await get_task(app, created.task_id)
            while detailed.status == "working":  # the tool's first round has not returned yet
                await anyio.sleep(0.02)
                detailed = await get_task(app, created.task_id)
            assert detailed.status == "input_required"
            assert (
                detailed.input_requests is not None
                and detailed.input_requests["name"]["method"] == "elicitation/create"
            )
            await update_task(app, created.task_id, {"name": {"action": "accept", "content": {"name": "Ada"}}})
            assert text_of(await wait_for_task(app, created.task_id)) == "hello Ada"


async def test_an_unknown_task_and_another_clients_task_are_both_unknown() -> None:
    broker = MemoryBroker()
    with anyio.fail_after(WITHIN):
        async with (
            Worker(task_server(), MemoryServerConfig(queue="requests", broker=broker)),
            client(broker) as app,
            client(broker, client_id="intruder") as intruder,
        ):
            created = await start_task(app, "slow", {"seconds": 0})
            assert isinstance(created, CreateTaskResult)
            for asker, task_id in ((app, "0" * 32), (intruder, created.task_id)):
                with pytest.raises(MCPError) as unknown:
                    await get_task(asker, task_id)
                assert unknown.value.error.code == -32602
                with pytest.raises(MCPError):
                    await cancel_task(asker, task_id)


async def test_no_task_without_the_declaration_and_required_tools_say_so() -> None:
    broker = MemoryBroker()
    with anyio.fail_after(WITHIN):
        async with (
            Worker(task_server(), MemoryServerConfig(queue="requests", broker=broker)),
            client(broker, extensions=[]) as plain,
        ):
            result = await plain.session.call_tool("slow", {"seconds": 0}, allow_claimed=True)
            assert isinstance(result, CallToolResult) and text_of(result) == "slow done"
            with pytest.raises(MCPError) as refused:
                await plain.call_tool("strict")
            assert refused.value.error.code == -32021
            assert refused.value.error.data["requiredCapabilities"]["extensions"] == {EXTENSION_ID: {}}
            with pytest.raises(MCPError) as gated:
                await get_task(plain, "0" * 32)
            assert gated.value.error.code == -32021


async def test_nothing_changes_for_2025_sessions() -> None:
    broker = MemoryBroker()
    with anyio.fail_after(WITHIN):
        async with (
            Worker(task_server(), MemoryServerConfig(queue="requests", broker=broker)),
            client(broker, mode="legacy", extensions=[advertise(EXTENSION_ID)]) as legacy,
        ):
            result = await legacy.session.call_tool("slow", {"seconds": 0}, allow_claimed=True)
            assert isinstance(result, CallToolResult) and text_of(result) == "slow done"
            with pytest.raises(MCPError) as missing:
                await get_task(legacy, "0" * 32)
            assert missing.value.error.code == -32601


async def test_a_later_client_with_the_same_client_id_fetches_the_result() -> None:
    broker, store = MemoryBroker(), MemoryTaskStore()
    with anyio.fail_after(WITHIN):
        async with Worker(task_server(store), MemoryServerConfig(queue="requests", broker=broker)):
            async with client(broker) as first:
                created = await start_task(first, "slow", {"seconds": 0.2, "label": "later"})
                assert isinstance(created, CreateTaskResult)
            async with client(broker) as later:
                assert text_of(await wait_for_task(later, created.task_id)) == "slow later"


async def test_a_task_whose_worker_stops_is_finished_by_the_next_worker() -> None:
    broker, store = MemoryBroker(), MemoryTaskStore()
    config = MemoryServerConfig(queue="requests", broker=broker)
    with anyio.fail_after(WITHIN):
        async with client(broker) as app:
            async with Worker(task_server(store), config):
                created = await start_task(app, "slow", {"seconds": 1, "label": "handed on"})
                assert isinstance(created, CreateTaskResult)
            # The first worker stopped mid-run: the request went back to the queue, the lease to the store.
            assert (await get_task_record(store, created.task_id)).lease_owner is None
            async with Worker(task_server(store), config):
                assert text_of(await wait_for_task(app, created.task_id)) == "slow handed on"


async def get_task_record(store: MemoryTaskStore, task_id: str) -> Any:
    record = await store.get(task_id)
    assert record is not None and record.status == "working"
    return record


async def test_a_lowlevel_server_enables_tasks_with_install() -> None:
    async def call_tool(ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=f"lowlevel {params.name}")])

    async def list_tools(ctx: ServerRequestContext[Any, Any], params: Any) -> ListToolsResult:
        return ListToolsResult(tools=[Tool(name="render", input_schema={"type": "object"})])

    lowlevel: Server[Any] = Server("lowlevel-tasks", on_call_tool=call_tool, on_list_tools=list_tools)
    TasksExtension({"render": "required"}, key="k", poll_interval_ms=50).install(lowlevel)
    broker = MemoryBroker()
    with anyio.fail_after(WITHIN):
        async with Worker(lowlevel, MemoryServerConfig(queue="requests", broker=broker)), client(broker) as app:
            created = await start_task(app, "render")
            assert isinstance(created, CreateTaskResult)
            assert text_of(await wait_for_task(app, created.task_id)) == "lowlevel render"


class FlakyStore(MemoryTaskStore):
    """A memory store whose next `fail_next` writes fail as a throttled database's would."""

    fail_next = 0

    async def replace(self, record: TaskRecord) -> bool:
        if self.fail_next:
            self.fail_next -= 1
            raise ChannelError("throttled", code="ProvisionedThroughputExceededException")
        return await super().replace(record)


async def test_a_store_failing_for_a_moment_costs_a_heartbeat_not_the_run() -> None:
    store, runs = FlakyStore(), []
    server = MCPServer(
        "flaky", extensions=[TasksExtension({"work": "optional"}, store=store, key="k", heartbeat_seconds=0.1)]
    )

    @server.tool()
    async def work() -> str:
        runs.append(1)
        store.fail_next = 2  # the next two lease renewals fail
        await anyio.sleep(0.6)
        return "worked"

    broker = MemoryBroker()
    with anyio.fail_after(WITHIN):
        async with Worker(server, MemoryServerConfig(queue="requests", broker=broker)), client(broker) as app:
            assert text_of(await app.call_tool("work")) == "worked"
    assert runs == [1]
