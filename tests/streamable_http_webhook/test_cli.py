"""`asyncmcp serve --transport hybrid` through the generic assembly, and what a server crash costs:
its running webhook calls die with it, and the client's call fails clearly at its timeout."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from asyncmcp.streamable_http_webhook import StreamableHTTPWebhookClientConfig, streamable_http_webhook_client
from tests.client_answers import text_of
from tests.processes import Proc, processes
from tests.streamable_http_webhook.harness import SECRET

pytestmark = pytest.mark.anyio

HANG_GUARD = 60
URL = re.compile(r"asyncmcp: serving \S+ on (http://\S+) \(pid")


def serve_command(*extra: str) -> list[str]:
    return [
        sys.executable, "-m", "asyncmcp", "serve", "--transport", "hybrid", "--port", "0", "--allow-loopback",
        "--webhook-tools", "slow,block", *extra, "tests.servers:server",
    ]  # fmt: skip


def environment() -> dict[str, str]:
    return {**os.environ, "ASYNCMCP_WEBHOOK_SECRETS": SECRET}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_killed_server_fails_the_running_webhook_call_clearly_at_the_clients_timeout(mode: Any) -> None:
    with processes() as started, anyio.fail_after(HANG_GUARD):
        server = Proc(serve_command(), environment())
        started.append(server)
        url = (await server.wait_for_line(URL)).group(1)
        config = StreamableHTTPWebhookClientConfig(
            server_url=url, signing_secrets=(SECRET,), transport_timeout_seconds=2, fetch_seconds=0.2
        )
        async with Client(streamable_http_webhook_client(config), mode=mode) as client:
            assert text_of(await client.call_tool("slow", {"steps": 1})) == "done 1"  # by webhook, from the CLI
            running = anyio.Event()

            async def kill_once_running(progress: float, total: float | None, message: str | None) -> None:
                if not running.is_set():  # the call was taken and reports progress by webhook
                    running.set()
                    os.kill(server.pid, signal.SIGKILL)

            with pytest.raises(MCPError, match=f"no answer from {re.escape(url)} for 2 s"):
                await client.call_tool("slow", {"steps": 1000, "delay": 0.2}, progress_callback=kill_once_running)
            assert running.is_set()


def test_serve_hybrid_refuses_several_workers_in_one_line() -> None:
    done = subprocess.run(
        [*serve_command(), "--workers", "2"], env=environment(), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "one process" in done.stderr


def test_the_cli_takes_the_hybrid_flags_from_the_transport() -> None:
    for argv, flags in (
        (["serve", "--transport", "hybrid", "--help"], ["--port", "--webhook-tools", "--allow-webhook-url"]),
        (["proxy", "--backend", "hybrid", "--help"], ["--server-url"]),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "asyncmcp", *argv], capture_output=True, text=True, timeout=60, check=False
        ).stdout
        for flag in flags:
            assert flag in out, (argv, flag)
