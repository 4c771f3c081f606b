"""Smoke test of the benchmark's smallest piece: interleaved floor + MCP round trips, rendered.

No timing assertions: the numbers belong in docs/benchmarks.md, not in the test suite.
"""

from __future__ import annotations

import anyio
import pytest
from benchmarks.harness import in_process_worker
from benchmarks.latency import measure_round_trips, sqs_stack
from benchmarks.report import Report, render
from benchmarks.server import server

pytestmark = pytest.mark.anyio


async def test_round_trips_render_a_table(queues):
    raw_request, raw_reply = queues.create("bench-raw-req"), queues.create("bench-raw-rep")
    with anyio.fail_after(60):
        async with (
            in_process_worker(server, queues.request) as worker,
            sqs_stack(worker, queues.request, queues.reply) as stack,
        ):
            trips = await measure_round_trips(stack, raw_request, raw_reply, samples=3, warmup=1, http=False)
    assert {name: len(samples) for name, samples in trips.series.items()} == {
        "raw": 3,
        "modern": 3,
        "legacy": 3,
        "proxy": 3,
        "proxy-raw": 3,
        "proxy-stdio": 3,
    }
    text = render(Report(machine={"cores": "2"}, quick=True, round_trips=trips))
    assert "| figure | samples | p50 | p90 | p99 | floor | median / floor |" in text
    assert "tools/call `echo` over SQS, 2025-11-25" in text
    assert "through the proxy" in text
    assert "| proxy adds <= 3 ms p50 (Streamable HTTP front) |" in text
    assert "| proxy adds <= 3 ms p50 (stdio front) |" in text
    assert "## Targets" in text
