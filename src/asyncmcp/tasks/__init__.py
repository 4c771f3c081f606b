"""The MCP Tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`) for asyncmcp and any MCP server.

Server: `MCPServer(..., extensions=[TasksExtension(tools={"render": "optional"}, store=...)])`.
Client: `Client(transport, extensions=[TasksClient()])`. docs/tasks.md has the model, the stores
(`MemoryTaskStore`, `DynamoTaskStore` from `asyncmcp.tasks.dynamodb`), TTLs and security.
"""

from asyncmcp.tasks.client import (
    CreateTaskResult,
    DetailedTask,
    TasksClient,
    cancel_task,
    get_task,
    start_task,
    update_task,
    wait_for_task,
)
from asyncmcp.tasks.extension import TaskMode, TasksExtension, TaskTool, adopt_fleet_key
from asyncmcp.tasks.store import MemoryTaskStore, TaskRecord, TaskStore
from asyncmcp.tasks.wire import EXTENSION_ID

__all__ = [
    "EXTENSION_ID",
    "CreateTaskResult",
    "DetailedTask",
    "MemoryTaskStore",
    "TaskMode",
    "TaskRecord",
    "TaskStore",
    "TaskTool",
    "TasksClient",
    "TasksExtension",
    "adopt_fleet_key",
    "cancel_task",
    "get_task",
    "start_task",
    "update_task",
    "wait_for_task",
]
