"""`DynamoTaskStore` against DynamoDB (moto over HTTP): conditional writes, redelivery, TTL, sealing."""

from __future__ import annotations

import time
import uuid

import anyio
import boto3
import pytest
from mcp import Client
from mcp_types import CallToolRequestParams, CallToolResult, TextContent

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.cli.local import provision_local
from asyncmcp.connecting import connect
from asyncmcp.local.endpoint import LocalEndpoint
from asyncmcp.serving import Worker
from asyncmcp.tasks import CreateTaskResult, TaskRecord, TasksClient, get_task, start_task, wait_for_task
from asyncmcp.tasks.dynamodb import DynamoTaskStore, create_task_table
from asyncmcp.tasks.running import TaskRunner
from asyncmcp.tasks.sealing import TaskSealer
from tests.client_answers import text_of
from tests.conftest import Queues
from tests.tasks.servers import task_server

pytestmark = pytest.mark.anyio


def record(
    task_id: str, sealer: TaskSealer, *, ttl_ms: int | None = 60_000, created: float | None = None
) -> TaskRecord:
    now = time.time() if created is None else created
    return TaskRecord(
        task_id=task_id,
        principal="owner",
        status="working",
        created_at=now,
        updated_at=now,
        ttl_ms=ttl_ms,
        poll_interval_ms=100,
        sealed=sealer.seal({"result": {"content": [{"type": "text", "text": "secret words"}]}}, task_id, "owner"),
    )


async def test_writes_are_conditional_and_a_redelivered_request_finds_its_task(task_table: str) -> None:
    sealer = TaskSealer(b"k")
    async with DynamoTaskStore(task_table) as store:
        first = await store.create(record("a" * 32, sealer), "request-1")
        again = await store.create(record("b" * 32, sealer), "request-1")
        assert again.task_id == first.task_id
        assert await store.get("b" * 32) is None
        assert await store.replace(first.changed(status="completed"))
        assert not await store.replace(first.changed(status="failed"))  # stale version: refused
        stored = await store.get(first.task_id)
        assert stored is not None and stored.status == "completed" and stored.version == 2
        assert stored.sealed == first.sealed


async def test_expired_tasks_read_as_gone_and_the_table_has_native_ttl(task_table: str) -> None:
    sealer = TaskSealer(b"k")
    async with DynamoTaskStore(task_table) as store:
        await store.create(record("c" * 32, sealer, ttl_ms=1000, created=time.time() - 5), None)
        assert await store.get("c" * 32) is None
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=task_table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    await create_task_table(task_table)  # creating it again is harmless


DYNAMODB_MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB refuses an item larger than this (the embedded endpoint enforces it too)."""
UNSTORABLE_MESSAGE = "the task's outcome could not be stored"


async def test_a_result_too_large_to_store_fails_the_task_instead_of_leaving_it_working(task_table: str) -> None:
    sealer = TaskSealer(b"k")
    store = DynamoTaskStore(task_table)
    runner = TaskRunner(store, lambda: sealer, worker="w", heartbeat_seconds=30, watch_seconds=0.05)
    calls = 0

    async def huge_result() -> CallToolResult:
        nonlocal calls
        calls += 1
        return CallToolResult(content=[TextContent(type="text", text="x" * (DYNAMODB_MAX_ITEM_BYTES + 50_000))])

    async with store:
        created = await store.create(record("d" * 32, sealer), None)
        with anyio.fail_after(30):
            await runner.drive(created.task_id, CallToolRequestParams(name="huge"), huge_result)
        stored = await store.get(created.task_id)
    assert calls == 1
    assert stored is not None and stored.status == "failed"
    assert stored.status_message == UNSTORABLE_MESSAGE
    assert runner.payload(stored)["error"]["message"] == UNSTORABLE_MESSAGE


async def test_a_task_over_sqs_keeps_only_ciphertext_in_dynamodb(queues: Queues, task_table: str) -> None:
    store = DynamoTaskStore(task_table)
    server_config = SqsServerConfig(read_queue_url=queues.request)
    client_config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply, client_id="app")
    with anyio.fail_after(30):
        async with (
            store,
            Worker(task_server(store), server_config),
            Client(connect(client_config), mode="2026-07-28", extensions=[TasksClient()]) as app,
        ):
            assert (
                text_of(await app.call_tool("slow", {"seconds": 0.1, "label": "plaintext-marker"}))
                == "slow plaintext-marker"
            )
            created = await start_task(app, "slow", {"seconds": 0, "label": "second"})
            assert isinstance(created, CreateTaskResult)
            assert text_of(await wait_for_task(app, created.task_id)) == "slow second"
            assert (await get_task(app, created.task_id)).status == "completed"
    items = boto3.client("dynamodb").scan(TableName=task_table)["Items"]
    assert len([item for item in items if not item["pk"]["S"].startswith("request#")]) == 2
    assert "plaintext-marker" not in repr(items)


def test_asyncmcp_local_creates_the_task_table(endpoint: LocalEndpoint) -> None:
    exports = dict(provision_local(endpoint, f"local-{uuid.uuid4().hex[:6]}"))
    table = exports["ASYNCMCP_TASK_TABLE"]
    described = boto3.client("dynamodb").describe_table(TableName=table)["Table"]
    assert described["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
