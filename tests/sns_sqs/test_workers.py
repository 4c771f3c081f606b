"""SNS+SQS workers as separate processes (`asyncmcp serve --transport sns_sqs`), moto in its own
process: competing workers, a killed worker's request answered by another, the CLI provisioning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import anyio
import boto3
import pytest
from mcp import Client

from asyncmcp.local.endpoint import LocalEndpoint
from asyncmcp.sns_sqs import SnsSqsClientConfig, SnsSqsTopology, sns_sqs_client
from tests.cli.test_serve import STATE_KEY, _whoami, aws, remote
from tests.deployments import provision_topology
from tests.processes import ROOT, Proc, processes

pytestmark = pytest.mark.anyio

__all__ = ["aws", "remote"]  # the fixtures, imported for this module's tests


def start_sns_worker(started: list[Proc], endpoint: LocalEndpoint, topology: SnsSqsTopology, *options: str) -> Proc:
    env = {**os.environ, **endpoint.environment(), "ASYNCMCP_STATE_KEY": STATE_KEY, "PYTHONUNBUFFERED": "1"}
    args = [
        sys.executable, "-m", "asyncmcp", "serve", "--transport", "sns_sqs",
        "--queue-url", topology.server_queue_url, "--reply-topic-arn", topology.reply_topic_arn,
    ]  # fmt: skip
    proc = Proc([*args, *options, "tests.servers:server"], env)
    started.append(proc)
    return proc


def client_config(topology: SnsSqsTopology, client_id: str) -> SnsSqsClientConfig:
    return SnsSqsClientConfig(
        sns_topic_arn=topology.request_topic_arn,
        sqs_queue_url=topology.client_queue_urls[client_id],
        client_id=client_id,
        wait_time_seconds=5,
    )


async def test_two_sns_sqs_worker_processes_share_one_queue_in_both_eras(aws: Any) -> None:
    topology = await provision_topology(("modern", "legacy"))
    with processes() as started:
        workers = [start_sns_worker(started, aws, topology, "--max-in-flight", "2") for _ in range(2)]
        worker_pids = {(await worker.wait_serving())[0] for worker in workers}
        seen: dict[str, set[int]] = {"modern": set(), "legacy": set()}
        with anyio.fail_after(60):
            for client_id, mode in (("modern", "auto"), ("legacy", "legacy")):
                async with Client(sns_sqs_client(client_config(topology, client_id)), mode=mode) as client:
                    for _ in range(4):
                        if seen[client_id] == worker_pids:
                            break
                        async with anyio.create_task_group() as tg:

                            async def call(client: Client = client, client_id: str = client_id) -> None:
                                seen[client_id].add(await _whoami(client, client_id))

                            for _ in range(6):
                                tg.start_soon(call)
        assert set().union(*seen.values()) == worker_pids
        assert len(seen["legacy"]) == 2, seen  # one 2025 session served by both workers


async def test_a_request_survives_an_sns_sqs_worker_crash(aws: Any) -> None:
    topology = await provision_topology()
    with processes() as started:
        first = start_sns_worker(started, aws, topology, "--visibility-timeout", "2")
        await first.wait_serving()
        running = anyio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            running.set()

        outcome: dict[str, str] = {}
        with anyio.fail_after(60):
            async with (
                Client(sns_sqs_client(client_config(topology, "tester")), mode="legacy") as client,
                anyio.create_task_group() as tg,
            ):

                async def call() -> None:
                    result = await client.call_tool("slow", {"steps": 6, "delay": 0.5}, progress_callback=on_progress)
                    outcome["text"] = result.content[0].text

                tg.start_soon(call)
                await running.wait()  # the first worker is running the tool
                os.kill(first.pid, signal.SIGKILL)
                first.popen.wait(timeout=10)
                second = start_sns_worker(started, aws, topology, "--visibility-timeout", "2")
                await second.wait_serving()
        assert outcome["text"] == "done 6"
        assert first.popen.returncode == -signal.SIGKILL


def test_asyncmcp_provision_creates_a_topology_and_prints_its_exports(aws: Any) -> None:
    env = {**os.environ, **aws.environment()}
    command = [sys.executable, "-m", "asyncmcp", "provision", "--transport", "sns_sqs", "cli-made", "--client", "x"]
    first = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    again = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    exports = dict(line.removeprefix("export ").split("=", 1) for line in first.stdout.splitlines())
    assert exports["ASYNCMCP_SNS_REQUEST_TOPIC_ARN"].endswith(":cli-made-requests")
    assert exports["ASYNCMCP_SNS_SERVER_QUEUE_URL"].endswith("/cli-made-server")
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=exports["ASYNCMCP_SNS_SERVER_QUEUE_URL"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] in (41, "41")  # above the hand-back bound
    assert exports["ASYNCMCP_SNS_CLIENT_QUEUE_URL_X"].endswith("/cli-made-client-x")
    assert again.stdout == first.stdout  # idempotent


@pytest.mark.parametrize(
    ("argv", "flags"),
    [
        (["serve", "--transport", "sns_sqs", "--help"], ["--queue-url", "--reply-topic-arn", "--allow-reply-topic"]),
        (["proxy", "--backend", "sns_sqs", "--help"], ["--request-topic-arn", "--reply-queue-url"]),
        (["provision", "--transport", "sns_sqs", "--help"], ["--client", "--observer", "--fifo"]),
    ],
)
def test_the_cli_takes_the_sns_sqs_flags_from_the_channel(argv: list[str], flags: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "asyncmcp", *argv], capture_output=True, text=True, check=True).stdout
    for flag in flags:
        assert flag in out
