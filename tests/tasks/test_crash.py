"""Done-when for tasks: started by one process, its worker killed, finished by another, fetched later.

Every part is a separate process: two `asyncmcp serve` workers (one after the other) on an SQS
queue of the moto endpoint, tasks in DynamoDB on the same endpoint, and two client processes with
the same `client_id`. A short tool stands in for the two-hour one.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncmcp.tasks.dynamodb import create_task_table
from tests.cli.test_serve import STATE_KEY, _queue, aws, remote
from tests.processes import Proc, processes
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

__all__ = ["aws", "remote"]  # the fixtures, imported for this module's tests

VISIBILITY = "3"
"""Seconds before a dead worker's request reappears: short, so the test is quick."""


async def _client_process(aws: Any, *args: str) -> str:
    env = {**os.environ, **aws.environment()}
    done = await anyio.run_process([sys.executable, "-m", "tests.tasks.fleet", *args], env=env, check=True)
    return done.stdout.decode().strip()


async def test_a_task_survives_its_worker_being_killed_and_a_later_process_fetches_it(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = f"tasks-{tmp_path.name[-8:]}"
    await create_task_table(table)
    monkeypatch.setenv("ASYNCMCP_TASK_TABLE", table)
    requests = _queue("task-requests", VisibilityTimeout=VISIBILITY)
    runs = tmp_path / "runs"
    with anyio.fail_after(90), processes() as started:
        first = _fleet_worker(started, aws, requests)
        await first.wait_serving()
        task_id = await _client_process(aws, "start", requests, "3", str(runs))
        await wait_for(lambda: runs.exists() and runs.read_text().split() == [str(first.pid)], within=30)
        os.kill(first.pid, signal.SIGKILL)  # mid-run: the task's message is still held
        first.popen.wait(timeout=10)
        second = _fleet_worker(started, aws, requests)
        await second.wait_serving()
        answer = await _client_process(aws, "fetch", requests, task_id)
    assert answer == f"finished by {second.pid}"
    assert runs.read_text().split() == [str(first.pid), str(second.pid)]  # one run each, never two at once


def _fleet_worker(started: list[Proc], aws: Any, requests: str) -> Proc:
    """`asyncmcp serve` of the task fleet's server, with the fleet's state key."""
    env = {**os.environ, **aws.environment(), "PYTHONUNBUFFERED": "1", "ASYNCMCP_STATE_KEY": STATE_KEY}
    args = [sys.executable, "-m", "asyncmcp", "serve", "--transport", "sqs", "--request-queue-url", requests]
    proc = Proc([*args, "--visibility-timeout", VISIBILITY, "tests.tasks.fleet:server"], env)
    started.append(proc)
    return proc
