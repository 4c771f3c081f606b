"""`make bench` (`python -m benchmarks`): latency, throughput, AWS cost and memory of MCP over SQS, on the
embedded endpoint. The harness lives outside the shipped package: it needs the `local` extra and
the repository checkout (worker processes load `benchmarks.server:server`).

One run, in this order, on one moto endpoint in its own process:

1. round trips (`latency`): an in-process worker; a raw SQS floor and tools/call in both protocol
   eras interleaved call by call, **back to back** (the headline); then the same with a quiet pause
   before each call, plus the proxy and direct Streamable HTTP;
2. time to first result (`first_result`): a new client in a warm process (pre-created and
   temporary reply queue), and in a new process;
3. idle (`latency`): pollers left alone for longer than 30 s, then one call against warm ones;
4. cost (`cost`): billable calls per tools/call at 1 and at 32 concurrent clients;
5. SNS+SQS (`sns`): its raw floor and tools/call in both eras, back to back, and its cost;
   webhooks (`webhook`): tools/call in both eras against a direct Streamable HTTP call to the same
   server, back to back, and 32 clients with one slow receiver among them; the Streamable HTTP +
   webhook hybrid (`hybrid`): an inline and a webhook tool against the SDK's plain Streamable HTTP
   server, and what the server holds open while 100 webhook tools run; bridging (`bridge`): a
   stdio server through `serve -- <command>` against the SDK's stdio client calling it directly and
   against the Python-object server, back to back;
   large payloads (`payloads`): 1 MiB and 10 MiB results through the S3 claim-check against the
   raw floor of the same bytes, and their billable SQS and S3 calls; tasks (`tasks`): time to
   `CreateTaskResult` and from the tool's end to `completed` seen, against a plain call, and
   DynamoDB calls and cost per task;
6. throughput (`throughput`): 1 vs 2 worker processes, alternating rounds, on SQS and on SNS+SQS
   (`sns`); and (`pipeline`) 8
   clients on one worker against the raw pipeline at the same concurrency;
7. memory (`memory`): a worker process before/after many 2025 sessions, and a client process
   with many calls in flight.

The sizes are set so a full run stays within about fifteen minutes on two cores and `--quick`
in about three. The report is markdown (`report.render`); it is the only output.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from asyncmcp.sqs import SqsClientConfig, sqs_reply_queue
from benchmarks.bridge import bridge_clients, measure_bridge_round_trips
from benchmarks.cost import measure_cost
from benchmarks.first_result import measure_first_results
from benchmarks.harness import bench_endpoint, client_pool, create_queues, in_process_worker, worker_processes
from benchmarks.hybrid import hybrid_stack, measure_held_open, measure_hybrid_round_trips
from benchmarks.latency import measure_idle, measure_round_trips, sqs_stack
from benchmarks.memory import measure_client_memory, measure_server_memory
from benchmarks.payloads import measure_payloads, payload_stack
from benchmarks.pipeline import measure_pipeline
from benchmarks.report import Report, render
from benchmarks.server import server
from benchmarks.sns import measure_sns_round_trips, measure_sns_throughput, sns_stack
from benchmarks.stats import machine
from benchmarks.tasks import measure_tasks
from benchmarks.throughput import measure_throughput
from benchmarks.webhook import measure_fanout, measure_webhook_round_trips, webhook_stack

__all__ = ["FULL", "QUICK", "Plan", "main", "run"]


@dataclass(frozen=True)
class Plan:
    """How much of everything one run measures."""

    samples: int
    warmup: int
    idle_seconds: float
    idle_pauses: int
    low_calls: int
    high_clients: int
    high_calls_per_client: int
    throughput_concurrency: tuple[int, ...]
    throughput_rounds: int
    throughput_window: float
    max_in_flight: int
    sessions: int
    inflight_calls: int
    inflight_seconds: float
    first_samples: int
    first_processes: int
    pipeline_concurrency: int
    pipeline_rounds: int
    sns_samples: int
    webhook_samples: int
    payload_samples: int
    task_samples: int
    fanout_rounds: int
    fanout_window: float
    hybrid_samples: int
    held_calls: int
    held_tool_seconds: float
    bridge_samples: int
    limit_seconds: float
    """The whole run fails (and cleans up) past this, rather than hanging a CI job."""


FULL = Plan(
    samples=300,
    warmup=10,
    idle_seconds=45.0,  # > 30 s, and at least two 20 s long polls per poller to time the gap between them
    idle_pauses=3,  # the 45 s window, then two 31 s pauses: three first calls, not one sample
    low_calls=50,
    high_clients=32,
    high_calls_per_client=10,
    throughput_concurrency=(8, 32),
    throughput_rounds=3,
    throughput_window=5.0,
    max_in_flight=1,
    sessions=1000,
    inflight_calls=1000,
    inflight_seconds=5.0,
    first_samples=40,
    first_processes=5,
    pipeline_concurrency=8,
    pipeline_rounds=3,
    sns_samples=200,
    webhook_samples=300,
    payload_samples=20,
    task_samples=100,
    fanout_rounds=3,
    fanout_window=4.0,
    hybrid_samples=300,
    held_calls=100,
    held_tool_seconds=5.0,
    bridge_samples=150,
    limit_seconds=1500.0,
)

QUICK = Plan(
    samples=20,
    warmup=3,
    idle_seconds=5.0,
    idle_pauses=1,
    low_calls=10,
    high_clients=32,
    high_calls_per_client=2,
    throughput_concurrency=(8, 32),
    throughput_rounds=1,
    throughput_window=2.0,
    max_in_flight=1,
    sessions=100,
    inflight_calls=100,
    inflight_seconds=2.0,
    first_samples=3,
    first_processes=1,
    pipeline_concurrency=8,
    pipeline_rounds=1,
    sns_samples=15,
    webhook_samples=20,
    payload_samples=3,
    task_samples=10,
    fanout_rounds=1,
    fanout_window=2.0,
    hybrid_samples=20,
    held_calls=100,
    held_tool_seconds=2.0,
    bridge_samples=10,
    limit_seconds=360.0,  # the bridging row's workers and children start in about 10 s; hybrid tools take 2 s
)


async def run(plan: Plan, report: Report) -> None:
    """Measure everything in `plan` into `report`; the environment must point at an endpoint."""
    with anyio.fail_after(plan.limit_seconds):
        await _measure(plan, report)


SECTION_LIMIT_SECONDS = 240.0
"""Bound on a section that may fail on its own (the hybrid's once hung a whole run for 5 minutes):
past it, or on an error, the section is reported as failed and the rest of the run goes on."""


async def _section(report: Report, name: str, measure: Callable[[], Awaitable[None]], limit: float) -> None:
    """Run one section; a failure or a hang becomes a line of the report, not the end of the run."""
    try:
        with anyio.fail_after(limit):
            await measure()
    except Exception as exc:  # reported, never hidden: the report says the section failed and why
        leaf = _first_leaf(exc)
        reason = f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__
        print(f"benchmark section {name!r} failed: {reason}", file=sys.stderr)
        report.failed_sections.append((name, reason[:300]))


MEMORY_LIMIT_SECONDS = 420.0
"""Bound on the memory section: 1000 sessions, then 1000 calls held at once, which the embedded
endpoint hands out slowly (`memory.QUEUED_TIMEOUT_SECONDS`)."""


def _first_leaf(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups: what actually went wrong."""
    inner: Sequence[BaseException] | None = getattr(exc, "exceptions", None)
    while inner:
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


async def _measure(plan: Plan, report: Report) -> None:
    names = ["req", "rep", "raw-req", "raw-rep", "tp1", "tp2", "tp-rep", "mem", "mem-rep", "mem-rep2", "first-rep"]
    req, rep, raw_req, raw_rep, tp1, tp2, tp_rep, mem, mem_rep, mem_rep2, first_rep = await create_queues(*names)
    pipe_req, pipe_rep, pipe_raw_req, pipe_raw_rep = await create_queues("pipe", "pipe-rep", "pipe-raw", "pipe-raw-rep")
    pay_req, pay_rep, *pay_floor = await create_queues("pay", "pay-rep", "pay-raw", "pay-raw-rep")

    async with in_process_worker(server, req) as worker, sqs_stack(worker, req, rep) as stack:
        report.back_to_back = await measure_round_trips(
            stack, raw_req, raw_rep, samples=plan.samples, warmup=plan.warmup, http=False, proxy=False,
            quiet_seconds=0,
        )  # fmt: skip
        report.round_trips = await measure_round_trips(
            stack, raw_req, raw_rep, samples=plan.samples, warmup=plan.warmup
        )
        report.first_results = await measure_first_results(
            stack, first_rep, samples=plan.first_samples, processes=plan.first_processes
        )
        report.idle = await measure_idle(stack, idle_seconds=plan.idle_seconds, pauses=plan.idle_pauses)
        report.cost = await measure_cost(
            stack, low_calls=plan.low_calls, high_clients=plan.high_clients,
            high_calls_per_client=plan.high_calls_per_client,
        )  # fmt: skip

    async with sns_stack(server) as sns:
        report.sns = await measure_sns_round_trips(sns, samples=plan.sns_samples, warmup=plan.warmup)
        report.sns_cost = await measure_cost(
            sns, low_calls=plan.low_calls, high_clients=plan.high_clients,
            high_calls_per_client=plan.high_calls_per_client, label="SNS+SQS, ",
        )  # fmt: skip

    async with webhook_stack(server) as hooks:
        report.webhook = await measure_webhook_round_trips(hooks, samples=plan.webhook_samples, warmup=plan.warmup)
        report.fanout = await measure_fanout(
            hooks, clients=plan.high_clients, rounds=plan.fanout_rounds, window=plan.fanout_window
        )

    async def hybrid_figures() -> None:
        async with hybrid_stack() as hybrid:
            report.hybrid = await measure_hybrid_round_trips(hybrid, samples=plan.hybrid_samples, warmup=plan.warmup)
            report.held_open = await measure_held_open(
                hybrid, calls=plan.held_calls, tool_seconds=plan.held_tool_seconds
            )

    await _section(report, "Streamable HTTP + webhook (hybrid)", hybrid_figures, SECTION_LIMIT_SECONDS)
    bridge_req, bridge_obj, bridge_rep = await create_queues("bridge", "bridge-obj", "bridge-rep")
    async with bridge_clients(bridge_req, bridge_obj, bridge_rep) as clients:
        report.bridge = await measure_bridge_round_trips(clients, samples=plan.bridge_samples, warmup=plan.warmup)
    async with payload_stack(server, pay_req, pay_rep, (pay_floor[0], pay_floor[1])) as payloads:
        report.payloads = await measure_payloads(payloads, samples=plan.payload_samples, warmup=1)
    task_req, task_rep = await create_queues("tasks", "tasks-rep")
    report.tasks = await measure_tasks(task_req, task_rep, samples=plan.task_samples, warmup=plan.warmup)

    pool_size = max(plan.throughput_concurrency)
    one_config = SqsClientConfig(read_queue_url=tp1, response_queue_url=tp_rep)
    two_config = SqsClientConfig(read_queue_url=tp2, response_queue_url=tp_rep)
    async with (
        worker_processes(1, tp1, max_in_flight=plan.max_in_flight),
        worker_processes(2, tp2, max_in_flight=plan.max_in_flight),
        sqs_reply_queue(one_config) as router,
        client_pool(one_config, router, pool_size) as one_pool,
        client_pool(two_config, router, pool_size) as two_pool,
    ):
        report.throughput = await measure_throughput(
            one_pool, two_pool, concurrency=plan.throughput_concurrency, rounds=plan.throughput_rounds,
            window=plan.throughput_window, max_in_flight=plan.max_in_flight,
        )  # fmt: skip

    async def sns_throughput() -> None:
        report.sns_throughput = await measure_sns_throughput(
            clients=min(plan.throughput_concurrency), rounds=plan.throughput_rounds, window=plan.throughput_window,
            max_in_flight=plan.max_in_flight,
        )  # fmt: skip

    await _section(report, "SNS+SQS throughput", sns_throughput, SECTION_LIMIT_SECONDS)

    pipe_config = SqsClientConfig(read_queue_url=pipe_req, response_queue_url=pipe_rep)
    async with (
        worker_processes(1, pipe_req, max_in_flight=plan.pipeline_concurrency),
        sqs_reply_queue(pipe_config) as pipe_router,
        client_pool(pipe_config, pipe_router, plan.pipeline_concurrency) as pipe_clients,
    ):
        report.pipeline = await measure_pipeline(
            pipe_clients, pipe_req, pipe_raw_req, pipe_raw_rep, rounds=plan.pipeline_rounds,
            window=plan.throughput_window,
        )  # fmt: skip

    async def memory_figures() -> None:
        async with worker_processes(1, mem, max_in_flight=plan.inflight_calls + 16) as (memory_worker,):
            report.server_memory = await measure_server_memory(memory_worker.pid, mem, mem_rep, sessions=plan.sessions)
            report.client_memory = await measure_client_memory(
                mem, mem_rep2, calls=plan.inflight_calls, clients=10, seconds=plan.inflight_seconds, limit_seconds=180
            )

    await _section(report, "memory", memory_figures, MEMORY_LIMIT_SECONDS)


def main(output: str | None, quick: bool) -> int:
    """Run the benchmark and write the report to `output` (or stdout)."""
    plan = QUICK if quick else FULL
    report = Report(machine=machine(), quick=quick)
    start = time.perf_counter()
    # SIGTERM (a CI timeout, `kill`) unwinds like an error, so workers and moto are stopped too.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with bench_endpoint():
            anyio.run(run, plan, report)
    finally:
        signal.signal(signal.SIGTERM, previous)
    report.seconds = time.perf_counter() - start
    text = render(report)
    if output:
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
