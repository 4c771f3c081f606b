"""What a webhook server's crash costs, with and without a queue behind its ingress.

Separate processes (`asyncmcp serve --transport webhook`), `kill -9` while a tool runs:
- without a queue the request dies with the process; the client's call fails at its timeout with
  an error naming the server's URL (never a hang);
- with `--queue URL` the ingress put the request on SQS before answering 202, so a second server
  process (the same queue, started on the dead one's port as a load balancer would route) runs it
  after the visibility timeout and POSTs the answer to the client's receiver: the call completes.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import uuid
from typing import Any

import anyio
import boto3
import pytest
from mcp import Client, MCPError

from asyncmcp.webhook import WebhookClientConfig, webhook_client
from tests.cli.test_serve import STATE_KEY, aws, remote
from tests.deployments import WEBHOOK_SECRET
from tests.processes import Proc, processes

pytestmark = pytest.mark.anyio

__all__ = ["aws", "remote"]  # the fixtures, imported for this module's tests

URL = re.compile(r"asyncmcp: serving \S+ on (http://\S+) \(pid \d+\)")


def start_server(started: list[Proc], *options: str, env: dict[str, str] | None = None, port: int = 0) -> Proc:
    environment = {
        **os.environ,
        **(env or {}),
        "ASYNCMCP_WEBHOOK_SECRETS": WEBHOOK_SECRET,
        "ASYNCMCP_STATE_KEY": STATE_KEY,  # a 2025 session made on one server is valid on the next
        "PYTHONUNBUFFERED": "1",
    }
    args = [
        sys.executable,
        "-m",
        "asyncmcp",
        "serve",
        "--transport",
        "webhook",
        "--port",
        str(port),
        "--allow-loopback",
    ]
    proc = Proc([*args, *options, "tests.servers:server"], environment)
    started.append(proc)
    return proc


async def server_url(proc: Proc) -> str:
    await proc.wait_serving()
    return next(m.group(1) for line in proc.lines if (m := URL.search(line)))


async def call_and_kill(client: Client, server: Proc, outcome: dict[str, Any], killed: anyio.Event) -> None:
    """Call `slow`, kill the server once it reports progress (it is running the tool)."""
    running = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        running.set()

    async def call() -> None:
        try:
            result = await client.call_tool("slow", {"steps": 6, "delay": 0.5}, progress_callback=on_progress)
            outcome["text"] = result.content[0].text
        except MCPError as exc:
            outcome["error"] = str(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await running.wait()
        os.kill(server.pid, signal.SIGKILL)
        server.popen.wait(timeout=10)
        killed.set()


async def test_without_a_queue_a_crash_fails_the_call_at_its_timeout_naming_the_server() -> None:
    outcome: dict[str, Any] = {}
    with processes() as started, anyio.fail_after(60):
        server = start_server(started)
        url = await server_url(server)
        config = WebhookClientConfig(server_url=url, signing_secrets=(WEBHOOK_SECRET,), transport_timeout_seconds=3)
        async with Client(webhook_client(config), mode="legacy") as client:
            await call_and_kill(client, server, outcome, anyio.Event())
    assert "text" not in outcome
    assert url in outcome["error"], outcome
    assert server.popen.returncode == -signal.SIGKILL


async def test_with_a_queue_a_request_survives_the_crash_and_another_server_answers_it(aws: Any) -> None:
    queue = boto3.client("sqs").create_queue(QueueName=f"webhook-requests-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    env = aws.environment()
    outcome: dict[str, Any] = {}
    with processes() as started, anyio.fail_after(90):
        first = start_server(started, "--queue", queue, "--visibility-timeout", "2", env=env)
        url = await server_url(first)
        config = WebhookClientConfig(server_url=url, signing_secrets=(WEBHOOK_SECRET,), transport_timeout_seconds=30)
        async with Client(webhook_client(config), mode="legacy") as client:
            killed = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(call_and_kill, client, first, outcome, killed)
                await killed.wait()
                # The next server takes over the first one's URL, as behind a load balancer: the client
                # keeps POSTing there (the SDK lists the tools after this call's answer).
                port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
                second = start_server(started, "--queue", queue, "--visibility-timeout", "2", env=env, port=port)
                assert await server_url(second) == url
    assert outcome.get("text") == "done 6", outcome
    assert first.popen.returncode == -signal.SIGKILL
