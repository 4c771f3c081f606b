from __future__ import annotations

import uuid

import pytest

from asyncmcp.local.endpoint import LocalEndpoint
from asyncmcp.tasks.dynamodb import create_task_table


@pytest.fixture
async def task_table(endpoint: LocalEndpoint) -> str:
    """A fresh DynamoDB task table on the embedded endpoint."""
    name = f"tasks-{uuid.uuid4().hex[:8]}"
    await create_task_table(name)
    return name
