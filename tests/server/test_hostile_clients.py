"""What someone who can write to a request queue can do to other clients: nothing.

The attacker here knows the most a queue writer could learn (the victim's wire client id, its reply
queue and its next JSON-RPC id) and sends raw messages to the request queue of a worker on the
moto endpoint; the victim is a real `mcp.Client` over the SQS transport. A request is bound to its
requester by a random request token only the requester knows (`codec.ATTR_REQUEST_TOKEN`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitRequestParams, ElicitResult

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.cli.errors import root_cause
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO, Envelope, Frame, decode_message, keepalive_frame
from asyncmcp.sqs import SqsWorker, sqs_client
from asyncmcp.testing import MemoryBroker, MemoryChannel, MemoryClientConfig, MemoryServerConfig, Worker, connect
from tests.client_answers import text_of
from tests.servers import Favourite, build_server
from tests.sqs_helpers import drain_raw, receive_raw, send_raw
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

WITHIN = 30.0


class Target:
    """A server whose `gate` tool waits until the test opens it, and that says who called it."""

    def __init__(self) -> None:
        self.server = MCPServer("target")
        self.runs: list[str] = []
        self.running: dict[str, str] = {}
        """JSON-RPC ids of the `gated` calls, by text."""
        self.gate = anyio.Event()

        @self.server.tool()
        async def whoami(ctx: Context) -> str:
            """The caller's wire client id and this request's JSON-RPC id."""
            facts = ctx.request_context.request
            return json.dumps({"client": getattr(facts, "client_id", None), "id": ctx.request_id})

        @self.server.tool()
        async def echo(text: str) -> str:
            """Return the text."""
            self.runs.append(text)
            return text

        @self.server.tool()
        async def gated(text: str, ctx: Context) -> str:
            """Return the text once the test opens the gate."""
            self.running[text] = ctx.request_id
            self.runs.append(f"gated:{text}")
            try:
                await self.gate.wait()
            finally:
                self.runs.append(f"gate-passed:{text}")
            return text

        @self.server.tool()
        async def ask(ctx: Context) -> str:
            """Elicit a colour with a 2025 server-to-client request."""
            outcome = await ctx.elicit("Which colour?", Favourite)
            return f"{outcome.action}:{outcome.data.colour}" if outcome.action == "accept" else outcome.action


def tool_call(request_id: int | str, tool: str, arguments: dict[str, Any]) -> str:
    params = {"name": tool, "arguments": arguments}
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})


@asynccontextmanager
async def victim_and_worker(queues: Any, target: Target, mode: Any = "legacy") -> AsyncIterator[tuple[Any, Any]]:
    server_config = SqsServerConfig(read_queue_url=queues.request, wait_time_seconds=1)
    client_config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    async with (
        SqsWorker(target.server, server_config) as worker,
        Client(sqs_client(client_config), mode=mode) as victim,
    ):
        yield victim, worker.engine


async def whoami(victim: Any) -> tuple[str, int]:
    facts = json.loads(text_of(await victim.call_tool("whoami", {})))
    return facts["client"], int(facts["id"])


NEXT_IDS = 4
"""How many of the victim's next request ids the attacker covers (the SDK sends a `tools/list` before
some calls, so the next call's id is not simply the last one plus one)."""


async def test_a_forged_request_in_a_victims_name_neither_answers_nor_swallows_its_calls(queues: Any) -> None:
    """The attacker fills the victim's next request ids with requests of its own, still running when
    the victim's requests arrive."""
    target = Target()
    with anyio.fail_after(WITHIN):
        async with victim_and_worker(queues, target) as (victim, engine):
            client_id, last_id = await whoami(victim)
            as_victim = {"mcp-client-id": client_id, "mcp-reply-to": queues.reply}
            for request_id in range(last_id + 1, last_id + 1 + NEXT_IDS):
                await send_raw(queues.request, tool_call(request_id, "gated", {"text": "forged"}), as_victim)
            await wait_for(lambda: target.runs.count("gated:forged") == NEXT_IDS)

            results: list[str] = []

            async def calls() -> None:
                for text in ("mine", "mine too"):
                    results.append(text_of(await victim.call_tool("echo", {"text": text})))

            async with anyio.create_task_group() as tg:
                tg.start_soon(calls)
                # Once the victim's first request reached the worker (served, or merged into the
                # forged run it collides with), let the forged runs answer.
                await wait_for(lambda: "mine" in target.runs or engine.stats["duplicates"] >= 1)
                target.gate.set()
    assert results == ["mine", "mine too"]
    assert target.runs.count("mine") == 1


async def test_a_forged_cancel_does_not_cancel_a_victims_call(queues: Any) -> None:
    target = Target()
    with anyio.fail_after(WITHIN):
        async with victim_and_worker(queues, target) as (victim, engine):
            client_id, _ = await whoami(victim)
            answer: list[str] = []

            async def call() -> None:
                answer.append(text_of(await victim.call_tool("gated", {"text": "kept"})))

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await wait_for(lambda: "kept" in target.running)
                params = {"requestId": int(target.running["kept"])}
                cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
                await send_raw(queues.request, json.dumps(cancel), {"mcp-client-id": client_id})
                # The cancel was handed back for a worker running such a request, or reached the handler.
                await wait_for(lambda: engine.stats["handed_back"] >= 1 or "gate-passed:kept" in target.runs)
                target.gate.set()
    assert answer == ["kept"]


async def test_an_answer_to_a_handlers_question_counts_only_from_the_client_that_was_asked(queues: Any) -> None:
    """Even knowing the server request's id (it travels only to the victim's reply queue) and the
    victim's client id, an answer without the victim's request token does not reach the handler."""
    target = Target()
    forged: list[str] = []
    state: dict[str, Any] = {}

    async def elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        answer = {"action": "accept", "content": {"colour": "red"}}
        body = json.dumps({"jsonrpc": "2.0", "id": context.request_id, "result": answer})
        await send_raw(state["queue"], body, {"mcp-client-id": state["client"], "mcp-reply-to": state["reply"]})
        engine = state["engine"]
        await wait_for(lambda: engine.stats["forged_answers"] >= 1)
        forged.append(str(context.request_id))
        return ElicitResult(action="accept", content={"colour": "blue"})

    server_config = SqsServerConfig(read_queue_url=queues.request, wait_time_seconds=1)
    client_config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(WITHIN):
        async with (
            SqsWorker(target.server, server_config) as worker,
            Client(sqs_client(client_config), mode="legacy", elicitation_callback=elicit) as victim,
        ):
            client_id, _ = await whoami(victim)
            state.update(queue=queues.request, client=client_id, reply=queues.reply, engine=worker.engine)
            assert text_of(await victim.call_tool("ask", {})) == "accept:blue"
    assert len(forged) == 1


async def test_a_reply_address_is_judged_as_the_broker_will_use_it(queues: Any) -> None:
    """moto sends to whatever follows the last `/` of a queue URL; the allowlist must judge that queue,
    so anything but a plain queue URL is refused, and a wildcard stays within its URL part."""
    base = queues.reply.rsplit("/", 1)[0]  # http://127.0.0.1:PORT/123456789012
    victim = queues.create(f"victim-{uuid.uuid4().hex[:6]}")
    victim_name = victim.rsplit("/", 1)[1]
    hostile = [
        f"{base}/replies-x?y=/{victim_name}",
        f"{base}/replies-x#/{victim_name}",
        f"{base}/replies-x/../{victim_name}",
        f"{base}/replies-x/{victim_name}",
        f"{base}/replies-x/%2e%2e/{victim_name}",
        queues.request,  # the request queue itself: its answer would come back to the workers
    ]
    config = SqsServerConfig(
        read_queue_url=queues.request, allowed_reply_queues=(f"{base}/replies-*",), wait_time_seconds=1
    )
    target = Target()
    with anyio.fail_after(WITHIN):
        async with SqsWorker(target.server, config) as worker:
            for index, reply_to in enumerate(hostile):
                body = tool_call(index, "echo", {"text": f"hostile {index}"})
                await send_raw(queues.request, body, {"mcp-client-id": "attacker", "mcp-reply-to": reply_to})
            engine = worker.engine
            assert engine is not None
            await wait_for(lambda: engine.stats["refused"] >= len(hostile))
            # The allowed queue still gets its answer.
            await send_raw(queues.request, tool_call(99, "echo", {"text": "fine"}), {"mcp-reply-to": queues.reply})
            (answer,) = await receive_raw(queues.reply, 1)
            assert answer.json["result"]["content"][0]["text"] == "fine"
    assert await drain_raw(victim) == []
    assert target.runs == ["fine"]


MALFORMED_BODIES = [
    "not json",
    "",
    "{",
    "[]",
    "[1, 2]",
    "null",
    "42",
    '"a string"',
    "{}",
    '{"jsonrpc": "1.0", "id": 1, "method": "tools/list"}',
    '{"jsonrpc": "2.0", "id": 2}',
    '{"jsonrpc": "2.0", "id": 3, "method": 7}',
    '{"jsonrpc": "2.0", "id": {"nested": 1}, "method": "tools/list"}',
    '{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": [1, 2]}',
    '{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "no-such-tool"}}',
    '{"jsonrpc": "2.0", "id": 6, "method": "no/such/method"}',
    '{"jsonrpc": "2.0", "id": 7, "result": {}}',
    '{"jsonrpc": "2.0", "id": null, "error": {"code": 1, "message": "x"}}',
    '{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "echo", "arguments": "x"}}',
    "\ufeff{}",
    '{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "echo"}, "extra": '
    + "[" * 64
    + "]" * 64
    + "}",
]
"""Kinds of input a request queue writer can send (the probe's 36 kinds, scaled down to those that
differ in how a worker reads them): not JSON, not JSON-RPC, wrong types, unknown methods, answers
nobody asked for, deep nesting. (Cancels for unknown requests may belong to another worker and are
handed back a bounded number of times: tests/test_receiving.py.)"""


async def test_malformed_messages_leave_the_worker_serving_and_none_circulates() -> None:
    """What holds (issue 10): malformed input never stops the loop; every message is answered or
    disposed of, and none is left on the queue."""
    broker = MemoryBroker()
    request = broker.create_queue("requests")
    reply = broker.create_queue("replies")
    config = MemoryServerConfig(queue=request, broker=broker, visibility_timeout_seconds=1)
    with anyio.fail_after(WITHIN * 2):
        async with Worker(build_server(), config), MemoryChannel(broker) as channel:
            for round_ in range(3):
                for body in MALFORMED_BODIES:
                    attributes = {ATTR_CLIENT_ID: f"hostile-{round_}", ATTR_REPLY_TO: reply}
                    await channel.send(request, Frame(body, attributes))
            await wait_for(lambda: broker.frames(request) == [], within=10)
            async with Client(connect(MemoryClientConfig(queue=request, broker=broker))) as client:
                assert text_of(await client.call_tool("echo", {"text": "still serving"})) == "still serving"
    answered = [getattr(decode_message(frame.body), "id", None) for frame in broker.frames(reply)]
    for request_id in (request_id for request_id in map(request_id_of, MALFORMED_BODIES) if request_id is not None):
        assert answered.count(request_id) >= 3, f"request {request_id} was not answered every time"


def request_id_of(body: str) -> int | str | None:
    """The id of a body that reads as a request with a usable id: its sender can be answered."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or "method" not in parsed:
        return None
    request_id = parsed.get("id")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return request_id if isinstance(request_id, int | str) and not isinstance(request_id, bool) else None


FORGED_KEEPALIVE_INTERVAL = 0.2
"""How often the forger sends a keep-alive: well inside the victim's 1 s timeout."""


async def test_forged_keepalives_do_not_keep_a_victims_call_waiting() -> None:
    """A keep-alive counts only with its request's token: forged ones, naming the victim's client
    id and request id (both visible on the wire), do not keep its call waiting past its timeout."""
    broker = MemoryBroker()
    request = broker.create_queue("nobody-serves-this")
    reply = broker.create_queue("victim-replies")
    config = MemoryClientConfig(queue=request, reply_queue=reply, broker=broker, transport_timeout_seconds=1)

    async def forge(channel: MemoryChannel) -> None:
        (seen,) = await wait_for(lambda: broker.frames(request))
        victim = Envelope.from_attributes(seen.attributes)
        request_id = request_id_of(seen.body)
        assert victim.client_id is not None and request_id is not None
        while True:
            await channel.send(reply, keepalive_frame(victim.client_id, request_id))
            await anyio.sleep(FORGED_KEEPALIVE_INTERVAL)

    with anyio.fail_after(WITHIN):
        async with MemoryChannel(broker) as channel, anyio.create_task_group() as tg:
            tg.start_soon(forge, channel)
            with pytest.raises(BaseException) as raised:
                async with Client(connect(config), mode="legacy"):
                    pass
            tg.cancel_scope.cancel()
    told = root_cause(raised.value)
    assert isinstance(told, MCPError) and "No worker answered" in told.error.message
