"""Stray frames (answers nobody waits for, cancels for requests nobody runs, forged ones) cost a
bounded number of receives and then stop circulating (`receiving.hand_back`).

The probe that found them injected 140 strays of four kinds into a request queue served by
workers: 120 were still circulating after 92 s, each received about 25 times. Here the same kinds,
scaled down, on the moto endpoint; the full-size probe is `make soak` (tests/soak).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from mcp import ClientSession

from asyncmcp import SqsClientConfig, SqsServerConfig, receiving
from asyncmcp.channels.memory import MEMORY_CAPABILITIES, PUSH_CAPABILITIES
from asyncmcp.codec import Frame
from asyncmcp.receiving import HANDBACK_FREE_RECEIVES, HANDBACK_MAX_RECEIVES, hand_back
from asyncmcp.sqs import SqsWorker, sqs_client
from tests.client_answers import text_of
from tests.servers import build_server
from tests.sqs_helpers import queue_counts, send_raw, wait_for_async

pytestmark = pytest.mark.anyio


@dataclass
class HeldFrame:
    """A delivery as a channel hands it out, recording what the receiver did with it."""

    receive_count: int
    age_seconds: float = 0.0
    frame: Frame = field(default_factory=lambda: Frame("{}"))
    outcome: str | None = None
    delay: float | None = None

    def ack(self) -> None:
        self.outcome = "ack"

    def release(self, delay_seconds: float | None = 0.0) -> None:
        self.outcome, self.delay = "release", delay_seconds


@dataclass
class ChannelOf:
    capabilities: Any


def test_a_stray_is_handed_back_at_once_then_later_and_later_then_dropped() -> None:
    shared = ChannelOf(MEMORY_CAPABILITIES)
    delays: list[float | None] = []
    for receive_count in range(1, HANDBACK_MAX_RECEIVES + 1):
        delivery = HeldFrame(receive_count)
        offered = hand_back(delivery, shared)  # pyright: ignore[reportArgumentType]
        assert offered == (receive_count < HANDBACK_MAX_RECEIVES)
        delays.append(delivery.delay)
    assert delays[:HANDBACK_FREE_RECEIVES] == [0] * HANDBACK_FREE_RECEIVES
    later = delays[HANDBACK_FREE_RECEIVES:-1]
    assert later == sorted(later) and all(delay is not None and delay > 0 for delay in later)
    assert delays[-1] is None  # dropped: acknowledged, never released


def test_a_stray_is_dropped_where_nobody_else_can_take_it_and_once_it_is_old() -> None:
    push = HeldFrame(1)
    assert not hand_back(push, ChannelOf(PUSH_CAPABILITIES))  # pyright: ignore[reportArgumentType]
    assert push.outcome == "ack"
    old = HeldFrame(1, age_seconds=receiving.HANDBACK_TTL_SECONDS + 1)
    assert not hand_back(old, ChannelOf(MEMORY_CAPABILITIES))  # pyright: ignore[reportArgumentType]
    assert old.outcome == "ack"


def strays(count: int) -> list[tuple[str, dict[str, str]]]:
    """`count` stray frames of each kind the probe injected, as (body, attributes)."""
    sender = {"mcp-client-id": "prober"}
    kinds: list[tuple[str, dict[str, str]]] = []
    for n in range(count):
        kinds += [
            (json.dumps({"jsonrpc": "2.0", "id": 1000 + n, "result": {}}), sender),  # unmatched answer
            (json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "x"}}), sender),
            (json.dumps({"jsonrpc": "2.0", "id": f"0ddba11{n:03d}.{n:016x}", "result": {}}), sender),  # fake tag
            (json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": n}}), sender),
        ]
    return kinds


async def test_stray_frames_stop_circulating_after_a_bounded_number_of_receives(
    queues: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """14 strays of the probe's four kinds (a tenth of its 140) and two workers: the strays no worker
    can be waiting for are dropped on their first receive, the rest after the bound (lowered here to
    3 so the test is quick; the real bound is `HANDBACK_MAX_RECEIVES`, 40), and the workers keep serving."""
    monkeypatch.setattr(receiving, "HANDBACK_FREE_RECEIVES", 1)
    monkeypatch.setattr(receiving, "HANDBACK_MAX_RECEIVES", 3)
    injected = strays(4)[:14]
    config = SqsServerConfig(read_queue_url=queues.request, wait_time_seconds=1)
    client_config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(60):
        async with SqsWorker(build_server(), config) as first, SqsWorker(build_server(), config) as second:
            for body, attributes in injected:
                await send_raw(queues.request, body, attributes)
            await wait_for_async(lambda: queue_counts(queues.request) == (0, 0), within=30)
            engines = [worker.engine for worker in (first, second) if worker.engine is not None]
            receives = sum(engine.stats["handed_back"] + engine.stats["strays_dropped"] for engine in engines)
            plausible = sum(1 for body, _ in injected if "0ddba11" in body or "cancelled" in body)
            assert receives <= (len(injected) - plausible) + 3 * plausible
            assert sum(engine.stats["strays_dropped"] for engine in engines) == len(injected)
            async with sqs_client(client_config) as streams, ClientSession(*streams) as session:
                await session.initialize()
                assert text_of(await session.call_tool("echo", {"text": "still serving"})) == "still serving"


@dataclass
class RecordingChannel:
    """Records when each receive is made; hands out one frame on the polls listed in `full`."""

    log: list[str]
    full: set[int]
    capabilities: Any = MEMORY_CAPABILITIES
    polls: int = 0

    async def receive(self, address: str, max_frames: int) -> list[HeldFrame]:
        self.polls += 1
        self.log.append("receive")
        return [HeldFrame(1)] if self.polls in self.full else []


async def test_a_poll_waits_for_the_work_that_is_ready_before_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before its first poll and after one that returned frames, the poller lets ready work run first
    (a new client's first send, the handlers of the frames it just received); after an empty poll,
    nothing is waiting for it and it polls at once. Counted in loop rounds, not time: the time budget
    is lifted, so a slow machine cannot end the rounds early."""
    monkeypatch.setattr(receiving, "YIELD_BUDGET_SECONDS", 60.0)
    log: list[str] = []
    channel = RecordingChannel(log, full={1})
    poller = receiving.Poller(channel, "replies", wake_token=None)  # pyright: ignore[reportArgumentType]

    async def chain(steps: int) -> None:
        for _ in range(steps):
            await anyio.lowlevel.checkpoint()
        log.append("chain")

    for expected in (["chain", "receive"], ["chain", "receive"], ["receive", "chain"]):
        # first poll; after a poll with a frame; after an empty poll
        log.clear()
        async with anyio.create_task_group() as tg:
            tg.start_soon(chain, receiving.YIELDS_BEFORE_POLL // 4)
            await poller.next_batch(10)
        assert log == expected
