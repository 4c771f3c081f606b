"""Smoke test of the benchmark's smallest piece: interleaved floor + MCP round trips, rendered.

No timing assertions: the numbers belong in docs/benchmarks.md, not in the test suite.
"""

from __future__ import annotations

import anyio
import pytest
from benchmarks.first_result import measure_first_results
from benchmarks.harness import in_process_worker
from benchmarks.hybrid import hybrid_stack, measure_held_open, measure_hybrid_round_trips
from benchmarks.latency import measure_round_trips, sqs_stack
from benchmarks.payloads import measure_payloads, payload_stack
from benchmarks.report import Report, render
from benchmarks.server import server
from benchmarks.sns import measure_sns_round_trips, measure_sns_throughput, sns_stack
from benchmarks.tasks import measure_tasks
from benchmarks.webhook import measure_fanout, measure_webhook_round_trips, webhook_stack

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


async def test_back_to_back_first_results_and_sns_render_their_targets(queues):
    raw_request, raw_reply = queues.create("bench-raw-req2"), queues.create("bench-raw-rep2")
    first_reply = queues.create("bench-first-rep")
    with anyio.fail_after(120):
        async with (
            in_process_worker(server, queues.request) as worker,
            sqs_stack(worker, queues.request, queues.reply) as stack,
        ):
            back_to_back = await measure_round_trips(
                stack, raw_request, raw_reply, samples=2, warmup=1, http=False, proxy=False, quiet_seconds=0
            )
            first = await measure_first_results(stack, first_reply, samples=1, processes=1)
        async with sns_stack(server) as sns:
            sns_trips = await measure_sns_round_trips(sns, samples=2, warmup=1)
    assert set(back_to_back.series) == {"raw", "modern", "legacy"}
    assert set(sns_trips.series) == {"sns-raw", "sns-modern", "sns-legacy"}
    assert len(first.precreated) == len(first.own_receiver) == len(first.temporary) == len(first.new_process) == 1
    assert len(first.kept_listing) == len(first.kept_both) == 1
    text = render(
        Report(machine={"cores": "2"}, quick=True, back_to_back=back_to_back, first_results=first, sns=sns_trips)
    )
    assert "back-to-back tools/call p50 <= 0.8x raw SQS floor (2026-07-28)" in text
    assert "first result, warm process, temporary reply queue <= 3.0x a warm round trip" in text
    assert "(server lets clients keep its listing: two exchanges, as the issue counts)" in text
    assert "(server lets clients keep its discover and listing: one exchange)" in text
    assert "SNS+SQS tools/call p50 <= 1.0x its raw floor (2025-11-25)" in text


async def test_sns_throughput_of_one_and_two_worker_processes_renders_its_target(queues):
    with anyio.fail_after(180):
        throughput = await measure_sns_throughput(clients=4, rounds=1, window=0.5, max_in_flight=1)
    assert set(throughput.rounds) == {(4, 1), (4, 2)}
    assert all(rate > 0 for rates in throughput.rounds.values() for rate in rates)
    text = render(Report(machine={"cores": "2"}, quick=True, sns_throughput=throughput))
    assert "## Throughput over SNS+SQS" in text
    assert "SNS+SQS 2 workers >= 1.8x the throughput of 1 worker" in text


async def test_webhook_round_trips_and_fanout_render_their_targets():
    with anyio.fail_after(120):
        async with webhook_stack(server) as hooks:
            trips = await measure_webhook_round_trips(hooks, samples=2, warmup=1)
            fanout = await measure_fanout(hooks, clients=4, rounds=1, window=0.5)
    assert set(trips.series) == {"webhook-modern", "webhook-legacy", "http-modern", "http-legacy"}
    assert len(fanout.without_slow) == len(fanout.with_slow) == 1 and fanout.without_slow[0] > 0
    text = render(Report(machine={"cores": "2"}, quick=True, webhook=trips, fanout=fanout))
    assert "webhook tools/call p50 <= 2.0x a direct Streamable HTTP call (2025-11-25)" in text
    assert "webhook fan-out: 3 clients keep >= 0.9x their calls/s next to a 2 s receiver" in text


async def test_hybrid_round_trips_and_held_open_render_their_targets():
    with anyio.fail_after(120):
        async with hybrid_stack() as stack:
            trips = await measure_hybrid_round_trips(stack, samples=2, warmup=1)
            held = await measure_held_open(stack, calls=5, tool_seconds=0.5)
    assert {f"{kind}-{era}" for kind in ("http", "inline", "webhook") for era in ("modern", "legacy")} == set(
        trips.series
    )
    # Read while all five ran, and none of their POSTs was still open: what the report's row claims.
    assert held.running == 5 and held.requests_in_progress == 0 and held.connections >= 1
    text = render(Report(machine={"cores": "2"}, quick=True, hybrid=trips, held_open=held))
    assert "hybrid inline tool p50 <= 1.1x the SDK's Streamable HTTP server (2026-07-28)" in text
    assert "hybrid webhook tool p50 <= 2.0x the SDK's Streamable HTTP server (2025-11-25)" in text
    assert "hybrid: no HTTP request held while 5 webhook tools run" in text


async def test_large_payload_round_trips_and_their_calls_render(queues):
    floor = (queues.create("bench-pay-raw"), queues.create("bench-pay-raw-rep"))
    with anyio.fail_after(120):
        async with payload_stack(server, queues.request, queues.reply, floor) as stack:
            measured = await measure_payloads(stack, samples=1, warmup=0, sizes=(2 * 1024 * 1024,), settle_seconds=0)
    assert set(measured.trips.series) == {"payload-raw-2097152", "payload-mcp-2097152"}
    assert measured.calls[2097152]["PutObject"] >= 1
    text = render(Report(machine={"cores": "2"}, quick=True, payloads=measured))
    assert "tools/call returning 2 MiB over SQS through S3, 2026-07-28" in text
    assert "S3 calls per round trip" in text
    assert "2 MiB result through S3 p50 <= 1.5x the raw floor of the same bytes" in text


async def test_task_figures_render_with_store_calls_and_cost(queues):
    with anyio.fail_after(60):
        figures = await measure_tasks(queues.request, queues.reply, samples=2, warmup=1)
    assert {name: len(samples) for name, samples in figures.series.items()} == {"plain": 2, "create": 2, "seen": 2}
    assert figures.calls_per_task()["TransactWriteItems"] == 1.0
    text = render(Report(machine={"cores": "2"}, quick=True, tasks=figures))
    assert "## Tasks (SEP-2663) over SQS, tasks in DynamoDB" in text
    assert "tools/call to `CreateTaskResult`" in text and "per million tasks" in text
