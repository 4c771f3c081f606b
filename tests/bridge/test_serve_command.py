"""`asyncmcp serve -- <command>` as a process: start-up failures in one line, and a worker killed
while its upstream runs a tool has the request answered by another worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import anyio
import pytest
from mcp import Client

from asyncmcp import SqsClientConfig
from asyncmcp.sqs import sqs_client
from tests.client_answers import text_of
from tests.processes import Proc, processes

pytestmark = pytest.mark.anyio

HANG_GUARD = 90


def serve_args(queue_url: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "asyncmcp", "serve", "--transport", "sqs", "--request-queue-url", queue_url, *options]


def start_worker(started: list[Proc], endpoint: Any, queue_url: str, command: list[str]) -> Proc:
    env = {**os.environ, **endpoint.environment(), "PYTHONUNBUFFERED": "1", "ASYNCMCP_STATE_KEY": "bridge-tests"}
    proc = Proc([*serve_args(queue_url, "--visibility-timeout", "2"), "--", *command], env)
    started.append(proc)
    return proc


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (
            ["sh", "-c", "echo 'config file missing' >&2; exit 3"],
            "exited with status 3 before answering its handshake (its stderr ends: config file missing)",
        ),
        (["/no/such/program-here"], "cannot start `/no/such/program-here`"),
    ],
)
def test_a_command_that_cannot_start_fails_serve_in_one_line(queues, endpoint, command, said):
    env = {**os.environ, **endpoint.environment()}
    done = subprocess.run(
        [*serve_args(queues.request), "--", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("asyncmcp serve: "), done.stderr
    assert said in lines[0]


def test_serve_refuses_two_things_to_serve(queues, endpoint):
    env = {**os.environ, **endpoint.environment()}
    done = subprocess.run(
        [*serve_args(queues.request, "--upstream-url", "http://127.0.0.1:9/mcp"), "--", "node", "server.js"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )
    assert done.returncode == 2
    assert "give one of a command after -- or --upstream-url, not both" in done.stderr


async def test_a_worker_killed_while_its_upstream_runs_a_tool_has_another_worker_answer(queues, endpoint, everything):
    with processes() as started:
        first = start_worker(started, endpoint, queues.request, everything)
        await first.wait_serving()
        config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply, wait_time_seconds=5)
        running = anyio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            running.set()

        with anyio.fail_after(HANG_GUARD):
            async with Client(sqs_client(config), mode="legacy") as client, anyio.create_task_group() as tg:
                outcome: dict[str, str] = {}

                async def call() -> None:
                    result = await client.call_tool(
                        "trigger-long-running-operation", {"duration": 2, "steps": 4}, progress_callback=on_progress
                    )
                    outcome["text"] = text_of(result)

                tg.start_soon(call)
                await running.wait()  # the first worker's child is running the tool
                os.kill(first.pid, signal.SIGKILL)
                first.popen.wait(timeout=10)
                second = start_worker(started, endpoint, queues.request, everything)
                await second.wait_serving()
        assert "completed" in outcome["text"]
        assert first.popen.returncode == -signal.SIGKILL
        assert second.popen.poll() is None, "\n".join(second.lines)
