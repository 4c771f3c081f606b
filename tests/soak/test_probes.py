"""The hostile-input probes at full size (`make soak`; `make test` runs each scaled down elsewhere).

Each probe prints what it measured and asserts the bound the project promises (docs/operations.md,
"Bounds"). They take minutes, so `make test` deselects them (`-m "not soak"` in pyproject.toml).
"""

from __future__ import annotations

import json
import resource
import time
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.receiving import HANDBACK_MAX_RECEIVES
from asyncmcp.sqs import SqsWorker, sqs_client
from tests.client_answers import text_of
from tests.proxy.test_proxy import RAW_HEADERS, initialize_body, stack
from tests.server.test_engine_memory import HeldAnswers, ask, asked_of
from tests.servers import build_server
from tests.sqs_helpers import queue_counts, send_raw, wait_for_async
from tests.test_receiving import strays
from tests.waiting import wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.soak]


def report(probe: str, **figures: Any) -> None:
    print(f"\nsoak {probe}: " + ", ".join(f"{name}={value}" for name, value in figures.items()), flush=True)


async def echo_seconds(client: Any) -> float:
    started = time.perf_counter()
    assert text_of(await client.call_tool("echo", {"text": "timed"})) == "timed"
    return time.perf_counter() - started


async def test_140_stray_frames_stop_circulating(queues: Any) -> None:
    """The probe: 140 strays of four kinds into a request queue served by two workers; 120 still
    circulated after 92 s, each received about 25 times, and echo latency doubled."""
    config = SqsServerConfig(read_queue_url=queues.request, wait_time_seconds=1)
    client_config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(600):
        async with (
            SqsWorker(build_server(), config) as first,
            SqsWorker(build_server(), config) as second,
            Client(sqs_client(client_config)) as client,
        ):
            before = [await echo_seconds(client) for _ in range(5)]
            started = time.monotonic()
            for body, attributes in strays(35):
                await send_raw(queues.request, body, attributes)
            during = [await echo_seconds(client) for _ in range(5)]
            await wait_for_async(lambda: queue_counts(queues.request) == (0, 0), within=480, interval=1)
            gone_after = time.monotonic() - started
            after = [await echo_seconds(client) for _ in range(5)]
            engines = [worker.engine for worker in (first, second) if worker.engine is not None]
            receives = sum(engine.stats["handed_back"] + engine.stats["strays_dropped"] for engine in engines)
    report(
        "strays",
        injected=140,
        gone_after_s=round(gone_after),
        receives=receives,
        echo_before_ms=round(1000 * sorted(before)[2]),
        echo_during_ms=round(1000 * sorted(during)[2]),
        echo_after_ms=round(1000 * sorted(after)[2]),
    )
    assert receives <= 140 * HANDBACK_MAX_RECEIVES


async def test_one_client_cannot_park_200_handlers() -> None:
    """The probe: one 2025 client parked 200 handlers on a worker limited to 4."""
    held = HeldAnswers()
    outcomes: list[str | MCPError] = []
    with anyio.fail_after(300):
        async with asked_of(held, max_in_flight=4) as (engine, client):
            waiting = engine.options.max_waiting_on_clients
            async with anyio.create_task_group() as tg:
                for _ in range(200):
                    tg.start_soon(ask, client, outcomes)
                await wait_for(lambda: len(outcomes) == 200 - waiting, within=120)
                parked = engine.waiting_on_clients
                held.release.set()
    report("parked", asked=200, parked=parked, refused=200 - parked)
    assert parked == waiting


async def test_sessions_and_large_bodies_hold_bounded_memory(queues: Any) -> None:
    """The probe: idle sessions cost 64-97 KiB each up to 10,000; eight concurrent 4 MiB bodies
    added 316 MiB."""
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with stack(queues, max_sessions_per_client=None) as proxy:
        with anyio.fail_after(600):
            async with httpx2.AsyncClient(trust_env=False, timeout=120) as http:
                statuses: list[int] = []
                for _ in range(1100):
                    response = await http.post(proxy.url, json=initialize_body(), headers=RAW_HEADERS)
                    statuses.append(response.status_code)
                peak_sessions = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                text = "b" * (4 * 1024 * 1024 - 1024)
                body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "echo"}}
                body["params"]["arguments"] = {"text": text}
                meta = {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": {"name": "soak", "version": "0"},
                }
                body["params"]["_meta"] = meta
                headers = {**RAW_HEADERS, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call"}
                large: list[int] = []

                async def post_large() -> None:
                    sent = json.dumps(body)
                    answer = await http.post(proxy.url, content=sent, headers={**headers, "mcp-name": "echo"})
                    large.append(answer.status_code)

                async with anyio.create_task_group() as tg:
                    for _ in range(8):
                        tg.start_soon(post_large)
    peak_bodies = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report(
        "proxy",
        sessions_opened=statuses.count(200),
        sessions_refused=statuses.count(503),
        peak_rss_growth_sessions_mib=round((peak_sessions - peak_before) / 1024),
        peak_rss_growth_bodies_mib=round((peak_bodies - peak_sessions) / 1024),
        large_answered=large.count(200),
    )
    assert statuses.count(200) == 1000
    assert large.count(200) == 8
