"""What a worker crash between an answer and its delete costs: a redelivery, absorbed by dedupe.

Deletes wait up to `DELETE_LINGER_SECONDS` to share a batch call. A worker killed inside that
window has answered but not deleted: the request reappears after its visibility timeout, another
worker runs it again (at-least-once; a worker's dedupe memory dies with it) and answers again, and
the client, which already has its answer, drops the duplicate. Separate processes, `kill -9`.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession

from asyncmcp import SqsClientConfig
from asyncmcp.sqs import sqs_client
from tests.cli.test_serve import _queue, aws, remote, start_worker
from tests.client_answers import text_of
from tests.processes import processes
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

__all__ = ["aws", "remote"]  # the fixtures, imported for this module's tests


async def test_a_crash_between_answer_and_delete_costs_a_redelivery_the_client_drops(aws: Any, tmp_path: Path) -> None:
    requests, replies = _queue("requests", VisibilityTimeout="4"), _queue("replies")
    runs = tmp_path / "runs"
    unexpected: list[Any] = []

    async def on_message(message: Any) -> None:
        unexpected.append(message)  # no notification or stray answer may reach the session

    config = SqsClientConfig(read_queue_url=requests, response_queue_url=replies, wait_time_seconds=5)
    with processes() as started, anyio.fail_after(60):
        first = start_worker(started, aws, requests, "--visibility-timeout", "4")
        await first.wait_serving()
        async with (
            sqs_client(config) as (read, write),
            ClientSession(read, write, message_handler=on_message) as session,
        ):
            await session.initialize()
            assert text_of(await session.call_tool("record", {"path": str(runs)})) == "recorded"
            os.kill(first.pid, signal.SIGKILL)  # answered; its delete still waits for company
            first.popen.wait(timeout=10)
            second = start_worker(started, aws, requests, "--visibility-timeout", "4")
            await second.wait_serving()
            # The request comes back after its visibility timeout and runs again on the second worker.
            await wait_for(lambda: runs.exists() and len(runs.read_text().split()) == 2, within=30)
            # Its second answer reaches the client, which already had the first: the call stays answered once.
            assert text_of(await session.call_tool("echo", {"text": "after"})) == "after"
    first_pid, second_pid = (int(pid) for pid in runs.read_text().split())
    assert (first_pid, second_pid) == (first.pid, second.pid)
    assert unexpected == []
