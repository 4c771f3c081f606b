"""Workers as separate processes (`asyncmcp serve`), with moto in its own process too."""

from __future__ import annotations

import os
import re
import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack

import anyio
import boto3
import pytest
from mcp import Client

from asyncmcp import SqsClientConfig
from asyncmcp.local.endpoint import LocalEndpoint
from asyncmcp.sqs import sqs_client, sqs_reply_queue
from tests.processes import Proc, processes

pytestmark = pytest.mark.anyio

STATE_KEY = "test-fleet-" + uuid.uuid4().hex
WHOAMI = re.compile(r"pid=(\d+) client=(\S+)")


@pytest.fixture(scope="module")
def remote() -> Iterator[LocalEndpoint]:
    with LocalEndpoint.subprocess() as endpoint:
        yield endpoint


@pytest.fixture
def aws(remote: LocalEndpoint, monkeypatch: pytest.MonkeyPatch) -> LocalEndpoint:
    """This test process talks to the moto subprocess too."""
    remote.reset()
    for name, value in remote.environment().items():
        monkeypatch.setenv(name, value)
    return remote


def _queue(name: str, **attributes: str) -> str:
    return boto3.client("sqs").create_queue(QueueName=f"{name}-{uuid.uuid4().hex[:8]}", Attributes=attributes)[
        "QueueUrl"
    ]


def start_worker(
    started: list[Proc], endpoint: LocalEndpoint, queue_url: str, *options: str, state_key: str | None = STATE_KEY
) -> Proc:
    """`asyncmcp serve` on `queue_url`; `state_key=None` starts it as a newcomer would, with no key."""
    env = {**os.environ, **endpoint.environment(), "PYTHONUNBUFFERED": "1"}
    env.pop("ASYNCMCP_STATE_KEY", None)
    if state_key is not None:
        env["ASYNCMCP_STATE_KEY"] = state_key
    args = [sys.executable, "-m", "asyncmcp", "serve", "--transport", "sqs", "--request-queue-url", queue_url]
    proc = Proc([*args, *options, "tests.servers:server"], env)
    started.append(proc)
    return proc


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _whoami(client: Client, client_id: str) -> int:
    result = await client.call_tool("whoami", {})
    match = WHOAMI.search(result.content[0].text)
    assert match, result
    assert match.group(2).rsplit(".", 1)[0] == client_id  # the wire id adds a per-connection suffix
    return int(match.group(1))


# -- 1. two workers on one queue -------------------------------------------------------------


async def test_two_worker_processes_share_one_queue(aws):
    requests, replies = _queue("requests"), _queue("replies")
    with processes() as started:
        workers = [start_worker(started, aws, requests, "--max-in-flight", "2") for _ in range(2)]
        worker_pids = {(await w.wait_serving())[0] for w in workers}
        assert worker_pids == {w.pid for w in workers}

        shared = SqsClientConfig(read_queue_url=requests, response_queue_url=replies, wait_time_seconds=5)
        eras = {"modern-1": "auto", "modern-2": "auto", "legacy-1": "legacy", "legacy-2": "legacy"}
        seen: dict[str, set[int]] = {client_id: set() for client_id in eras}
        answered = 0
        with anyio.fail_after(60):
            async with sqs_reply_queue(shared) as router, AsyncExitStack() as stack:
                clients: dict[str, Client] = {}
                for client_id, mode in eras.items():
                    config = shared.model_copy(update={"client_id": client_id})
                    clients[client_id] = await stack.enter_async_context(
                        Client(sqs_client(config, replies=router), mode=mode)
                    )
                assert clients["legacy-1"].protocol_version == "2025-11-25"
                assert clients["modern-1"].protocol_version == "2026-07-28"

                async def call(client_id: str) -> None:
                    nonlocal answered
                    seen[client_id].add(await _whoami(clients[client_id], client_id))
                    answered += 1

                # 20 concurrent calls per round, 5 from each client; more rounds only if the
                # queue happened to hand everything to one worker.
                for _ in range(5):
                    async with anyio.create_task_group() as tg:
                        for client_id in eras:
                            for _ in range(5):
                                tg.start_soon(call, client_id)
                    all_pids = set().union(*seen.values())
                    legacy_spread = any(len(seen[c]) == 2 for c in eras if c.startswith("legacy"))
                    if all_pids == worker_pids and legacy_spread:
                        break
        assert answered >= 20 and answered % 20 == 0
        assert set().union(*seen.values()) == worker_pids
        # A legacy session initialized on one worker was served by both (shared state key).
        assert any(len(seen[c]) == 2 for c in eras if c.startswith("legacy")), seen
        for worker in workers:
            assert worker.popen.poll() is None, "\n".join(worker.lines)


# -- 2. a worker crashes mid-request ---------------------------------------------------------


@pytest.mark.parametrize("state_key", [STATE_KEY, None], ids=["shared key", "no key, as a newcomer runs it"])
async def test_request_survives_a_worker_crash(aws, state_key):
    # With no ASYNCMCP_STATE_KEY the worker started after the crash must still verify the 2025
    # session of the redelivered request (the key kept with the queue) and answer it.
    requests, replies = _queue("requests"), _queue("replies")
    with processes() as started:
        first = start_worker(started, aws, requests, "--visibility-timeout", "2", state_key=state_key)
        await first.wait_serving()
        config = SqsClientConfig(read_queue_url=requests, response_queue_url=replies, wait_time_seconds=5)
        running = anyio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            running.set()

        with anyio.fail_after(60):
            async with Client(sqs_client(config), mode="legacy") as client, anyio.create_task_group() as tg:
                outcome: dict[str, str] = {}

                async def call() -> None:
                    result = await client.call_tool("slow", {"steps": 6, "delay": 0.5}, progress_callback=on_progress)
                    outcome["text"] = result.content[0].text

                tg.start_soon(call)
                await running.wait()  # the first worker is running the tool
                os.kill(first.pid, signal.SIGKILL)
                first.popen.wait(timeout=10)
                second = start_worker(started, aws, requests, "--visibility-timeout", "2", state_key=state_key)
                await second.wait_serving()
        assert outcome["text"] == "done 6"
        assert first.popen.returncode == -signal.SIGKILL
        assert second.popen.poll() is None, "\n".join(second.lines)
        assert not any("Unknown session" in line for line in second.lines), "\n".join(second.lines)


# -- 3. the --workers supervisor -------------------------------------------------------------


async def test_supervisor_starts_and_stops_its_workers(aws):
    requests, replies = _queue("requests"), _queue("replies")
    with processes() as started:
        supervisor = start_worker(started, aws, requests, "--workers", "2")
        children = set(await supervisor.wait_serving(2))
        assert len(children) == 2
        assert supervisor.pid not in children
        assert all(_alive(pid) for pid in children)

        config = SqsClientConfig(read_queue_url=requests, response_queue_url=replies, wait_time_seconds=5)
        pids: set[int] = set()
        with anyio.fail_after(30):
            for mode in ("legacy", "auto"):
                config = config.model_copy(update={"client_id": f"sup-{mode}"})
                async with Client(sqs_client(config), mode=mode) as client, anyio.create_task_group() as tg:

                    async def call(client: Client = client, client_id: str = f"sup-{mode}") -> None:
                        pids.add(await _whoami(client, client_id))

                    for _ in range(6):
                        tg.start_soon(call)
        assert pids <= children

        supervisor.popen.send_signal(signal.SIGTERM)
        assert supervisor.popen.wait(timeout=20) == 0, "\n".join(supervisor.lines)
        for pid in children:
            # The supervisor waited for (and so reaped) every child before it exited.
            assert not _alive(pid), f"worker {pid} outlived its supervisor"
