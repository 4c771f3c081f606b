"""Time to first result: open a client transport and get the first `call_tool` answered.

Measured as a user meets it, in two settings:

- a **warm process** (one already serving or calling: its AWS client exists, the code is imported):
  open a new client, let `Client` make its first exchange (`server/discover`), call a tool (the
  transport lists the tools beside that call, as the SDK asks right after it). Three ways: with a
  pre-created reply queue that the process's connections already read (a resident connection is
  open, so the new one joins the process's receiver, as every `connect()` of one config does);
  with a pre-created reply queue and a receiver of its own (its first poll included); and with a
  temporary queue (`CreateQueue` first). And, with a pre-created queue, against a second worker whose
  server lets clients keep its listing (`benchmarks.server.keeping_server`, SEP-2549 `ttlMs`): its
  clients' first calls then go without the listing while the kept one is fresh; and against a third
  whose server lets them keep its `server/discover` answer too (`keeping_all_server`): its new
  clients open without an exchange. Each sample is interleaved with one warm round trip on an open
  client, the floor it is judged against;
- a **new process** (`python -m benchmarks.first_call`): the same from an empty interpreter,
  imports and the AWS client's construction included, reported as its parts.

The timing stops when the first result is back; closing the client (deleting a temporary queue)
is not counted.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import anyio
from mcp import Client

from asyncmcp.connecting import connect, open_binding
from asyncmcp.sqs import SqsClientConfig
from benchmarks.harness import create_queues, in_process_worker
from benchmarks.latency import SqsStack, echo, timed
from benchmarks.server import keeping_all_server, keeping_server

__all__ = ["FirstResults", "measure_first_results"]


@dataclass
class FirstResults:
    exchanges: int = 0
    """Send calls a new client made before its first result (`server/discover`, then the call with
    the tools/list the transport sends beside it: SendMessage and SendMessageBatch calls)."""
    warm: list[float] = field(default_factory=list[float])
    """One round trip on an already open client, sampled next to each first result."""
    precreated: list[float] = field(default_factory=list[float])
    """Pre-created reply queue, joining the receiver a resident connection of the process keeps open."""
    kept_listing: list[float] = field(default_factory=list[float])
    """The same against a server that lets clients keep its listing (a minute): the first call goes alone."""
    kept_both: list[float] = field(default_factory=list[float])
    """The same against a server that lets clients keep its discover and its listing: one exchange."""
    own_receiver: list[float] = field(default_factory=list[float])
    """Pre-created reply queue, a receiver opened for the new client alone (its first poll included)."""
    temporary: list[float] = field(default_factory=list[float])
    new_process: list[dict[str, float]] = field(default_factory=list[dict[str, float]])
    """Per child process: seconds to import, to open the client, to the first result, in all."""


async def _first_result(config: SqsClientConfig, *, own_receiver: bool) -> tuple[float, int]:
    """Seconds from opening a client to its first tool result (the close is not counted), and, with
    a receiver of its own, how many requests it sent to get there."""
    start = time.perf_counter()
    async with AsyncExitStack() as stack:
        if own_receiver:
            _, router = await stack.enter_async_context(open_binding(config))
            client = await stack.enter_async_context(Client(connect(config, replies=router)))
        else:
            router = None
            client = await stack.enter_async_context(Client(connect(config)))
        await echo(client)
        seconds = time.perf_counter() - start
        if router is None:
            return seconds, 0
        calls = router.channel.calls
        return seconds, calls["SendMessage"] + calls["SendMessageBatch"]


async def measure_first_results(stack: SqsStack, reply_url: str, *, samples: int, processes: int) -> FirstResults:
    out = FirstResults()
    precreated = SqsClientConfig(read_queue_url=stack.config.read_queue_url, response_queue_url=reply_url)
    # A queue nobody else in this process reads: a second receiver on `reply_url` would take the
    # resident receiver's replies and hand them back.
    own_url, keeping_url, keeping_reply, all_url, all_reply = await create_queues(
        "first-own", "first-keep", "first-keep-rep", "first-all", "first-all-rep"
    )
    own = precreated.model_copy(update={"response_queue_url": own_url})
    temporary = SqsClientConfig(read_queue_url=stack.config.read_queue_url)
    # A queue of its own: connections to another server are another config, with a receiver of their own.
    keeping = SqsClientConfig(read_queue_url=keeping_url, response_queue_url=keeping_reply)
    keeping_all = SqsClientConfig(read_queue_url=all_url, response_queue_url=all_reply)
    async with (
        in_process_worker(keeping_server, keeping_url),
        in_process_worker(keeping_all_server, all_url),
        Client(connect(precreated)) as resident,
        Client(connect(keeping)) as keeping_resident,
        Client(connect(keeping_all)) as keeping_all_resident,
    ):
        for opened in (resident, keeping_resident, keeping_all_resident):
            await echo(opened)
        for _ in range(samples):
            out.warm.append(await timed(lambda: echo(stack.modern)))
            out.precreated.append((await _first_result(precreated, own_receiver=False))[0])
            out.kept_listing.append((await _first_result(keeping, own_receiver=False))[0])
            out.kept_both.append((await _first_result(keeping_all, own_receiver=False))[0])
            seconds, out.exchanges = await _first_result(own, own_receiver=True)
            out.own_receiver.append(seconds)
            out.temporary.append((await _first_result(temporary, own_receiver=False))[0])
    command = [sys.executable, "-m", "benchmarks.first_call", stack.config.read_queue_url]
    for _ in range(processes):
        done = await anyio.run_process(command, stderr=None, check=True)
        out.new_process.append(json.loads(done.stdout.decode().strip().splitlines()[-1]))
    return out
