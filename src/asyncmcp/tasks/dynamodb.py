"""`DynamoTaskStore`: tasks in a DynamoDB table, the store a fleet of workers shares.

One item per task (`pk` = the task id) and one per request that made a task
(`pk` = `request#<keyed hash>`), so a redelivered `tools/call` finds its task instead of making a
second. Every write is conditional: a task and its request item are created together in one
transaction that fails if either exists, and every later write (`replace`) succeeds only if the
stored `version` is the one the writer read. Reads are strongly consistent, so `tasks/get`
resolves a task on any worker as soon as its `CreateTaskResult` was sent. `expires_at` (epoch
seconds) is the table's TTL attribute: DynamoDB deletes expired items itself, within a day or
two, and reads treat them as gone at once. docs/tasks.md has the table, the TTL setting and the
IAM policy.

Calls go through the shared AWS client layer (`channels/aws.py`: one aiobotocore client per
event loop and service, built from the default credential chain, or the client given).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Final, cast

from asyncmcp.channels.aws import AwsApi, AwsService
from asyncmcp.errors import ChannelError
from asyncmcp.tasks.store import TaskRecord
from asyncmcp.tasks.wire import TaskStatus

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

__all__ = ["DYNAMODB", "DynamoTaskStore", "create_task_table"]

NOT_FOUND_CODES: Final = frozenset({"ResourceNotFoundException"})
PERMANENT_CODES: Final = frozenset(
    {"AccessDeniedException", "ValidationException", "ConditionalCheckFailedException", "TransactionCanceledException"}
)

DYNAMODB: Final = AwsService(
    name="dynamodb",
    label="DynamoDB",
    noun="table",
    not_found=NOT_FOUND_CODES,
    permanent=PERMANENT_CODES,
    missing_hint="create it (`asyncmcp local` creates one; docs/tasks.md shows how)",
)

CONFLICT_CODES: Final = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
"""Another writer was first: the condition of a conditional write did not hold."""

REQUEST_PREFIX: Final = "request#"
TTL_ATTRIBUTE: Final = "expires_at"


class DynamoTaskStore:
    """Tasks in the DynamoDB table `table` (partition key `pk`, a string; TTL on `expires_at`).

    `client` is an aiobotocore or boto3 DynamoDB client; without one, the process's shared
    client from the environment is used. Use `async with store:` to release the client when
    done; a store used without it opens on first use and lives as long as its event loop.
    """

    def __init__(self, table: str, client: Any | None = None) -> None:
        self.table = table
        self._client = client
        self._api: AwsApi | None = None
        self._loop: object | None = None
        self.calls: Counter[str] = Counter()

    async def __aenter__(self) -> DynamoTaskStore:
        await self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._api is not None:
            api, self._api = self._api, None
            await api.__aexit__(None, None, None)

    async def _open(self) -> AwsApi:
        loop = _current_loop()
        if self._api is None or self._loop is not loop:
            api = AwsApi(DYNAMODB, self._client)
            await api.__aenter__()
            self._api, self._loop = api, loop
        return self._api

    async def _call(self, operation: str, method: str, **kwargs: Any) -> dict[str, Any]:
        api = await self._open()
        self.calls[operation] += 1
        return await api.call(operation, method, self.table, TableName=self.table, **kwargs)

    async def create(self, record: TaskRecord, request_key: str | None) -> TaskRecord:
        item = _item(record)
        if request_key is None:
            await self._call("PutItem", "put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
            return record
        pointer: dict[str, AttributeValueTypeDef] = {
            "pk": {"S": REQUEST_PREFIX + request_key},
            "task_id": {"S": record.task_id},
        }
        if record.expires_at is not None:
            pointer[TTL_ATTRIBUTE] = {"N": str(int(record.expires_at))}
        try:
            api = await self._open()
            self.calls["TransactWriteItems"] += 1
            await api.call(
                "TransactWriteItems",
                "transact_write_items",
                self.table,
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": pointer,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
                ],
            )
            return record
        except ChannelError as exc:
            if exc.code not in CONFLICT_CODES:
                raise
        existing = await self._get_item(REQUEST_PREFIX + request_key)
        task_id = existing["task_id"]["S"] if existing is not None and "task_id" in existing else None
        found = await self.get(task_id) if task_id is not None else None
        if found is None:
            raise ChannelError(
                f"the task for a redelivered request is missing from DynamoDB table {self.table}",
                address=self.table,
                permanent=False,
            )
        return found

    async def get(self, task_id: str) -> TaskRecord | None:
        if task_id.startswith(REQUEST_PREFIX):
            return None
        item = await self._get_item(task_id)
        if item is None:
            return None
        record = _record(item)
        return None if record.expired(time.time()) else record

    async def _get_item(self, pk: str) -> dict[str, Any] | None:
        answer = await self._call("GetItem", "get_item", Key={"pk": {"S": pk}}, ConsistentRead=True)
        item = answer.get("Item")
        return cast("dict[str, Any]", item) if isinstance(item, dict) else None

    async def replace(self, record: TaskRecord) -> bool:
        try:
            await self._call(
                "PutItem",
                "put_item",
                Item=_item(record),
                ConditionExpression="version = :previous",
                ExpressionAttributeValues={":previous": {"N": str(record.version - 1)}},
            )
        except ChannelError as exc:
            if exc.code in CONFLICT_CODES:
                return False
            raise
        return True


async def create_task_table(table: str, client: Any | None = None) -> None:
    """Create the table `DynamoTaskStore` needs, on-demand billing, TTL on `expires_at` (if missing)."""
    api = AwsApi(DYNAMODB, client)
    async with api:
        try:
            await api.call(
                "CreateTable",
                "create_table",
                table,
                TableName=table,
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except ChannelError as exc:
            if exc.code != "ResourceInUseException":
                raise
            return
        await api.call(
            "UpdateTimeToLive",
            "update_time_to_live",
            table,
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )


def _item(record: TaskRecord) -> dict[str, AttributeValueTypeDef]:
    item: dict[str, AttributeValueTypeDef] = {
        "pk": {"S": record.task_id},
        "principal": {"S": record.principal},
        "status": {"S": record.status},
        "created_at": {"N": repr(record.created_at)},
        "updated_at": {"N": repr(record.updated_at)},
        "poll_interval_ms": {"N": str(record.poll_interval_ms)},
        "sealed": {"B": record.sealed},
        "version": {"N": str(record.version)},
        "lease_until": {"N": repr(record.lease_until)},
    }
    if record.ttl_ms is not None:
        item["ttl_ms"] = {"N": str(record.ttl_ms)}
    if record.expires_at is not None:
        item[TTL_ATTRIBUTE] = {"N": str(int(record.expires_at) + 1)}
    if record.status_message is not None:
        item["status_message"] = {"S": record.status_message}
    if record.lease_owner is not None:
        item["lease_owner"] = {"S": record.lease_owner}
    return item


def _record(item: dict[str, Any]) -> TaskRecord:
    def field(name: str, kind: str) -> Any:
        value: Any = item.get(name)
        return cast("dict[str, Any]", value).get(kind) if isinstance(value, dict) else None

    def text(name: str) -> str | None:
        value = field(name, "S")
        return None if value is None else str(value)

    def number(name: str) -> float | None:
        value = field(name, "N")
        return None if value is None else float(value)

    ttl = number("ttl_ms")
    sealed = item["sealed"]["B"]
    return TaskRecord(
        task_id=str(item["pk"]["S"]),
        principal=text("principal") or "",
        status=cast(TaskStatus, text("status") or "working"),
        created_at=number("created_at") or 0.0,
        updated_at=number("updated_at") or 0.0,
        ttl_ms=None if ttl is None else int(ttl),
        poll_interval_ms=int(number("poll_interval_ms") or 1000),
        sealed=bytes(sealed),
        version=int(number("version") or 1),
        status_message=text("status_message"),
        lease_owner=text("lease_owner"),
        lease_until=number("lease_until") or 0.0,
    )


def _current_loop() -> object:
    """The running event loop, so a store used from several loops (tests) opens a client for each."""
    return asyncio.get_running_loop()
