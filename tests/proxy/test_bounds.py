"""What a proxy holds is bounded, and what a front client can reach is its own.

The probe that found the gaps: the per-session event store kept every event (208 KiB per large
call, forever), idle sessions cost 64-97 KiB each up to the SDK's 10,000, eight concurrent 4 MiB
bodies added 316 MiB, and a session id worked for any holder of the shared token. Here each bound
at a small scale; `make soak` runs the full-size probes (tests/soak).
"""

from __future__ import annotations

import gc
from typing import Any

import anyio
import httpx2
import pytest
from mcp.types import JSONRPCNotification

from asyncmcp.proxy import http as proxy_http
from asyncmcp.proxy.events import EventBudget, MemoryEventStore
from tests.proxy.test_proxy import HANG_GUARD, RAW_HEADERS, initialize_body, stack
from tests.servers import CALLS
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

LARGE_RESULT = 208 * 1024
"""What one large call left in the event store in the probe."""


def event(size: int) -> JSONRPCNotification:
    return JSONRPCNotification(jsonrpc="2.0", method="notifications/message", params={"data": "x" * size})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_sessions_events_are_bounded_by_bytes_and_expire_with_age() -> None:
    clock = Clock()
    store = MemoryEventStore(max_bytes=300 * 1024, max_age_seconds=60, clock=clock)
    first = await store.store_event("1", event(LARGE_RESULT))
    assert store.held_bytes > LARGE_RESULT
    second = await store.store_event("2", event(LARGE_RESULT))  # the session's bound drops the first
    assert store.held_bytes < 2 * LARGE_RESULT

    async def ignore(_: Any) -> None:
        return None

    assert await store.replay_events_after(first, ignore) is None
    assert await store.replay_events_after(second, ignore) == "2"
    clock.now += 61
    assert await store.replay_events_after(second, ignore) is None  # too old to resume
    assert store.held_bytes == 0


async def test_all_sessions_events_share_one_budget_given_back_when_a_session_ends() -> None:
    budget = EventBudget(max_bytes=300 * 1024)
    busy = MemoryEventStore(budget)
    await busy.store_event("1", event(LARGE_RESULT))
    late = MemoryEventStore(budget)
    kept = await late.store_event("1", event(LARGE_RESULT))  # no room left, nothing of its own to give

    async def ignore(_: Any) -> None:
        return None

    assert await late.replay_events_after(kept, ignore) is None
    del busy
    gc.collect()
    assert budget.used == 0
    kept = await late.store_event("1", event(LARGE_RESULT))
    await late.store_event("1", event(10))
    assert await late.replay_events_after(kept, ignore) == "1"


async def open_session(http: httpx2.AsyncClient, url: str) -> httpx2.Response:
    return await http.post(url, json=initialize_body(), headers=RAW_HEADERS)


async def test_sessions_are_capped_per_client_and_overall(queues: Any) -> None:
    async with stack(queues, max_sessions=3, max_sessions_per_client=2) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with (
                httpx2.AsyncClient(trust_env=False) as here,
                httpx2.AsyncClient(transport=httpx2.AsyncHTTPTransport(local_address="127.0.0.2")) as there,
            ):
                assert [(await open_session(here, proxy.url)).status_code for _ in range(3)] == [200, 200, 503]
                assert (await open_session(there, proxy.url)).status_code == 200  # another client
                assert (await open_session(there, proxy.url)).status_code == 503  # the proxy is full


async def test_a_session_id_works_only_for_the_client_that_opened_it(queues: Any) -> None:
    async with stack(queues, auth_token="shared") as proxy:
        with anyio.fail_after(HANG_GUARD):
            headers = {**RAW_HEADERS, "Authorization": "Bearer shared"}
            async with (
                httpx2.AsyncClient(trust_env=False) as owner,
                httpx2.AsyncClient(transport=httpx2.AsyncHTTPTransport(local_address="127.0.0.2")) as other,
            ):
                opened = await owner.post(proxy.url, json=initialize_body(), headers=headers)
                session = {**headers, "mcp-session-id": opened.headers["mcp-session-id"]}
                ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
                assert (await other.post(proxy.url, json=ping, headers=session)).status_code == 404
                assert (await owner.post(proxy.url, json=ping, headers=session)).status_code == 200


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
async def test_the_bearer_scheme_is_case_insensitive(queues: Any, scheme: str) -> None:
    async with stack(queues, auth_token="secret") as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient(trust_env=False) as http:
                headers = {**RAW_HEADERS, "Authorization": f"{scheme} secret"}
                assert (await http.post(proxy.url, json=initialize_body(), headers=headers)).status_code == 200
                headers["Authorization"] = f"{scheme} SECRET"  # the token itself is compared exactly
                assert (await http.post(proxy.url, json=initialize_body(), headers=headers)).status_code == 401


async def test_large_bodies_are_handled_a_few_at_a_time(queues: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one slot, a second large body waits for the first; one that waits too long gets 503."""
    monkeypatch.setattr(proxy_http, "LARGE_BODY_WAIT_SECONDS", 1.0)
    async with stack(queues, max_large_bodies=1) as proxy:
        with anyio.fail_after(HANG_GUARD):
            async with httpx2.AsyncClient(trust_env=False, timeout=HANG_GUARD) as http:
                modern_meta = {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                }

                async def call(request_id: int, tool: str, arguments: dict[str, Any]) -> httpx2.Response:
                    params = {"name": tool, "arguments": arguments, "_meta": modern_meta}
                    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
                    headers = {**RAW_HEADERS, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call"}
                    return await http.post(proxy.url, json=body, headers={**headers, "mcp-name": tool})

                padding = "p" * (300 * 1024)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call, 1, "block", {"marker": f"large {padding}"})
                    await wait_for(lambda: any(c.startswith("block:large") for c in CALLS))
                    refused = await call(2, "echo", {"text": padding})
                    assert refused.status_code == 503
                    assert "Retry-After" in refused.headers
                    small = await call(3, "echo", {"text": "small"})
                    assert small.status_code == 200  # small bodies never wait
                    tg.cancel_scope.cancel()
