"""The engine's logic over the memory channel: fast, no broker process, and the push path.

The memory channel has a queue service's semantics (tests/channels/test_contract.py holds it to
the same contract as SQS), so these tests exercise the engine exactly as over SQS; with
`push=True` it declares and behaves like a push channel, which is how the engine's choices for
channels that cannot redeliver are tested.
"""

from __future__ import annotations

import logging
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
from mcp_types import JSONRPCError

from asyncmcp.channels.base import ServerBinding
from asyncmcp.channels.memory import MemoryChannel, MemoryTransport
from asyncmcp.cli import proxy as proxy_cli
from asyncmcp.cli.errors import root_cause
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO, ATTR_SESSION_ID, Frame, decode_message
from asyncmcp.receiving import hand_back
from asyncmcp.server.engine import UNKNOWN_SESSION_REASON, EngineOptions, ServerEngine
from asyncmcp.server.sessions import LegacySession
from asyncmcp.server.state_key import StateKey
from asyncmcp.serving import stream_pair
from asyncmcp.testing import MemoryBroker, MemoryClientConfig, MemoryServerConfig, Worker, connect
from tests.client_answers import text_of
from tests.servers import Favourite
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

WITHIN = 10.0


def counting_server() -> tuple[MCPServer, list[str]]:
    runs: list[str] = []
    server = MCPServer("memory-test")

    @server.tool()
    async def echo(text: str) -> str:
        runs.append(text)
        return text

    return server, runs


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_both_eras_are_served_over_the_memory_channel(mode: Any) -> None:
    broker = MemoryBroker()
    server, runs = counting_server()
    with anyio.fail_after(WITHIN):
        async with (
            Worker(server, MemoryServerConfig(queue="requests", broker=broker)),
            Client(connect(MemoryClientConfig(queue="requests", broker=broker)), mode=mode) as client,
        ):
            assert text_of(await client.call_tool("echo", {"text": "hi"})) == "hi"
    assert runs == ["hi"]
    assert [name for name in broker._queues if "asyncmcp-reply-" in name] == []  # pyright: ignore[reportPrivateUsage]


async def test_a_request_delivered_twice_runs_once() -> None:
    broker = MemoryBroker()
    server, runs = counting_server()
    reply = broker.create_queue("replies")
    request = broker.create_queue("requests")
    body = (
        '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"once"},'
        '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
        '"io.modelcontextprotocol/clientCapabilities":{}}}}'
    )
    frame = Frame(body, {ATTR_CLIENT_ID: "c1", ATTR_REPLY_TO: reply})
    with anyio.fail_after(WITHIN):
        async with (
            Worker(server, MemoryServerConfig(queue=request, broker=broker)) as worker,
            MemoryChannel(broker) as channel,
        ):
            await channel.send(request, frame)
            await wait_for(lambda: broker.frames(reply))
            await channel.send(request, frame)  # the broker delivers it again
            engine = worker.engine
            assert engine is not None
            await wait_for(lambda: engine.stats["duplicates"] >= 1)
    assert runs == ["once"]
    assert len(broker.frames(reply)) == 1


async def test_on_a_push_channel_an_answer_the_broker_refuses_for_a_while_is_retried_in_place() -> None:
    """Nothing would bring the request back, so the engine retries the send instead of handing it back."""
    broker = MemoryBroker()
    server = MCPServer("push")
    runs: list[str] = []

    @server.tool()
    async def flaky(text: str) -> str:
        runs.append(text)
        broker.fail_next("send", times=2)  # the answer's first two sends fail
        return text

    with anyio.fail_after(WITHIN * 2):
        async with (
            Worker(server, MemoryServerConfig(queue="requests", broker=broker, push=True)) as worker,
            Client(connect(MemoryClientConfig(queue="requests", broker=broker))) as client,
        ):
            assert text_of(await client.call_tool("flaky", {"text": "x"})) == "x"
            assert worker.engine is not None
            assert worker.engine.stats["answered"] >= 1
    assert runs == ["x"]


async def test_an_answer_refused_for_good_is_logged_counted_and_the_caller_told(caplog: Any) -> None:
    broker = MemoryBroker()
    server = MCPServer("refused")

    @server.tool()
    async def doomed() -> str:
        broker.fail_next("send", times=1, permanent=True, code="InvalidMessageContents")
        return "never delivered"

    caplog.set_level(logging.ERROR, logger="asyncmcp.server.answering")
    with anyio.fail_after(WITHIN):
        async with (
            Worker(server, MemoryServerConfig(queue="requests", broker=broker)) as worker,
            Client(connect(MemoryClientConfig(queue="requests", broker=broker))) as client,
        ):
            with pytest.raises(MCPError) as refused:
                await client.call_tool("doomed", {})
            assert "could not deliver its answer" in refused.value.error.message
            assert worker.engine is not None
            assert worker.engine.stats["undeliverable"] == 1
    assert any("could not deliver the answer to request" in record.message for record in caplog.records)
    assert broker.frames("requests") == []  # acknowledged: retrying cannot help


@pytest.mark.parametrize("push", [False, True])
async def test_a_frame_for_another_receiver_is_handed_back_only_where_someone_else_can_take_it(push: bool) -> None:
    broker = MemoryBroker()
    address = broker.create_queue("shared")
    async with MemoryChannel(broker, push=push) as channel:
        await channel.send(address, Frame("{}"))
        (delivery,) = await channel.receive(address, 10)
        offered = hand_back(delivery, channel)
        assert offered is not push
        assert len(broker.frames(address)) == (0 if push else 1)


async def test_dead_lettering_on_a_channel_without_a_dead_letter_queue_is_refused_at_start() -> None:
    broker = MemoryBroker()
    server, _ = counting_server()
    async with MemoryChannel(broker, push=True) as channel:
        with pytest.raises(ValueError, match="dead-letter"):
            ServerEngine(
                server,
                ServerBinding(channel, broker.create_queue("requests"), _AllowAll()),
                signer=StateKey.resolve("k").signer(),
                options=EngineOptions(on_bad_message="dead-letter"),
            )


async def test_a_malformed_request_is_answered_and_dead_lettered_by_the_redrive_policy() -> None:
    broker = MemoryBroker()
    dead = broker.create_queue("dead")
    request = broker.create_queue("requests", dead_letter=dead, max_receive_count=2, visibility_timeout=0.5)
    reply = broker.create_queue("replies")
    server, _ = counting_server()
    config = MemoryServerConfig(
        queue=request, broker=broker, on_bad_message="dead-letter", visibility_timeout_seconds=0.5
    )
    with anyio.fail_after(WITHIN):
        async with Worker(server, config), MemoryChannel(broker) as channel:
            await channel.send(request, Frame("not json", {ATTR_CLIENT_ID: "c1", ATTR_REPLY_TO: reply}))
            await wait_for(lambda: broker.frames(dead))
    (answer,) = broker.frames(reply)  # answered once, on the first receive only
    error = decode_message(answer.body)
    assert error.error.code == -32700


class _AllowAll:
    def allows(self, address: str) -> bool:
        return True

    def describe(self) -> str:
        return "anything"


async def test_a_redelivered_request_with_an_unverifiable_session_is_answered_and_logged(caplog: Any) -> None:
    # What a worker restarted with another key sees: the request of a session it cannot verify,
    # delivered for the second time (the worker that took it first died). It must not vanish.
    broker = MemoryBroker()
    server, runs = counting_server()
    reply = broker.create_queue("replies")
    request = broker.create_queue("requests")
    body = '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"text":"lost?"}}}'
    session = (
        StateKey.resolve("the key of a fleet long gone")
        .signer()
        .mint(LegacySession("2025-11-25", client_id="c1", reply_to=reply, client_info=None, capabilities={}))
    )
    frame = Frame(body, {ATTR_CLIENT_ID: "c1", ATTR_REPLY_TO: reply, ATTR_SESSION_ID: session})
    caplog.set_level(logging.WARNING, logger="asyncmcp")
    with anyio.fail_after(WITHIN):
        async with MemoryChannel(broker) as channel:
            await channel.send(request, frame)
            (first,) = await channel.receive(request, 1)
            first.release(0)  # the first worker died holding it
        async with Worker(server, MemoryServerConfig(queue=request, broker=broker)):
            await wait_for(lambda: broker.frames(reply))
    (answer,) = broker.frames(reply)
    error = decode_message(answer.body)
    assert isinstance(error, JSONRPCError) and error.id == 4
    assert error.error.data == {"reason": UNKNOWN_SESSION_REASON}
    assert runs == []
    assert any("refused message 4" in record.getMessage() for record in caplog.records)


# -- nobody waits forever, and long tools are not cut short ------------------------------------


def sleepy_server() -> MCPServer:
    server = MCPServer("sleepy")

    @server.tool()
    async def nap(seconds: float) -> str:
        await anyio.sleep(seconds)  # no progress: only the worker's keep-alives say it is running
        return "rested"

    return server


def asking_server() -> MCPServer:
    server = MCPServer("asking")

    @server.tool()
    async def ask(ctx: Context) -> str:
        """Elicit a colour with a 2025 server-to-client request."""
        outcome = await ctx.elicit("Which colour?", Favourite)
        return f"{outcome.action}:{outcome.data.colour}" if outcome.action == "accept" else outcome.action

    return server


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_tool_running_longer_than_the_client_timeout_is_kept_alive(mode: Any) -> None:
    # A 3 s timeout asks for keep-alives every second (`codec.MIN_KEEPALIVE_SECONDS`, which the
    # worker honours), 2 s of margin each: with a worker floor above the timeout (it was 5 s), the
    # call would fail while it runs.
    broker = MemoryBroker()
    config = MemoryClientConfig(queue="requests", broker=broker, transport_timeout_seconds=3)
    with anyio.fail_after(WITHIN):
        async with (
            Worker(sleepy_server(), MemoryServerConfig(queue="requests", broker=broker)) as worker,
            Client(connect(config), mode=mode) as client,
        ):
            assert text_of(await client.call_tool("nap", {"seconds": 4})) == "rested"
            assert worker.engine is not None
            assert worker.engine.stats["keepalives"] >= 2


async def test_a_quick_call_costs_no_keepalive(monkeypatch) -> None:
    broker = MemoryBroker()
    server, _ = counting_server()
    with anyio.fail_after(WITHIN):
        async with (
            Worker(server, MemoryServerConfig(queue="requests", broker=broker)) as worker,
            Client(connect(MemoryClientConfig(queue="requests", broker=broker))) as client,
        ):
            assert text_of(await client.call_tool("echo", {"text": "quick"})) == "quick"
            assert worker.engine is not None
            assert worker.engine.stats["keepalives"] == 0


async def test_with_no_worker_auto_mode_is_told_once_and_does_not_wait_again_for_initialize() -> None:
    broker = MemoryBroker()
    request = broker.create_queue("nobody-reads-this")
    config = MemoryClientConfig(queue=request, broker=broker, transport_timeout_seconds=1)
    with anyio.fail_after(WITHIN), pytest.raises(BaseException) as raised:
        async with Client(connect(config), mode="auto"):
            pass
    told = root_cause(raised.value)  # the SDK raises it inside an exception group
    assert isinstance(told, MCPError)
    assert "No worker answered server/discover" in told.error.message
    sent = [decode_message(frame.body) for frame in broker.frames(request)]
    methods = [getattr(message, "method", None) for message in sent]
    assert "initialize" not in methods  # the fallback failed at once instead of waiting again
    assert methods.count("server/discover") == 1


def test_the_default_client_timeout_is_below_what_standard_clients_give_up_at() -> None:
    timeout = MemoryClientConfig(queue="requests").transport_timeout_seconds
    assert timeout is not None and timeout < TYPESCRIPT_SDK_REQUEST_TIMEOUT
    assert timeout == proxy_cli.DEFAULT_TIMEOUT_SECONDS


TYPESCRIPT_SDK_REQUEST_TIMEOUT = 60.0
"""DEFAULT_REQUEST_TIMEOUT_MSEC of @modelcontextprotocol/sdk, in seconds."""


async def test_the_memory_channel_keeps_a_fleet_key_with_its_queue(monkeypatch) -> None:
    monkeypatch.delenv("ASYNCMCP_STATE_KEY", raising=False)
    broker = MemoryBroker()
    config = MemoryServerConfig(queue="requests", broker=broker)
    transport = MemoryTransport()
    keys = []
    for _ in range(2):  # a worker, and the one started after it
        async with transport.open_server(config, {}) as binding:
            keys.append(await StateKey.for_fleet(None, transport, binding))
    assert keys[0].shared and keys[0].secret == keys[1].secret == broker.secret_of("requests").encode()


async def test_the_single_connection_server_keeps_a_long_tool_alive_too() -> None:
    # The original stream-pair entry (`sqs_server`) serves one client on `app.run`: its long tools
    # must outlive the client's timeout the same way.
    broker = MemoryBroker()
    app = sleepy_server()._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    config = MemoryClientConfig(queue="requests", broker=broker, transport_timeout_seconds=3)

    async def run_server() -> None:
        async with stream_pair(MemoryServerConfig(queue="requests", broker=broker)) as (read, write):
            await app.run(read, write, app.create_initialization_options())

    with anyio.fail_after(WITHIN):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server)
            async with Client(connect(config), mode="legacy") as client:
                assert text_of(await client.call_tool("nap", {"seconds": 4})) == "rested"
            tg.cancel_scope.cancel()


class HeldAnswers:
    """An elicitation callback that answers only once the test lets it."""

    def __init__(self) -> None:
        self.asked = 0
        self.release = anyio.Event()

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked += 1
        await self.release.wait()
        return ElicitResult(action="accept", content={"colour": "blue"})


@asynccontextmanager
async def asked_of(held: HeldAnswers, **settings: Any) -> AsyncIterator[tuple[ServerEngine, Any]]:
    """A worker of `asking_server` on the memory channel, and a 2025 client that answers with `held`."""
    broker = MemoryBroker()
    config = MemoryServerConfig(queue="requests", broker=broker, **settings)
    client_config = MemoryClientConfig(queue="requests", broker=broker)
    async with (
        Worker(asking_server(), config) as worker,
        Client(connect(client_config), mode="legacy", elicitation_callback=held) as client,
    ):
        assert worker.engine is not None
        yield worker.engine, client


async def ask(client: Any, outcomes: list[str | MCPError]) -> None:
    """Call the `ask` tool; record its text or the error it failed with."""
    try:
        outcomes.append(text_of(await client.call_tool("ask", {})))
    except MCPError as exc:
        outcomes.append(exc)


async def test_handlers_waiting_for_a_clients_answer_have_a_bound_of_their_own() -> None:
    """Waiting handlers do not count against max_in_flight; past their own bound a handler's
    question fails at once instead of parking one more handler."""
    held = HeldAnswers()
    results: list[str | MCPError] = []
    with anyio.fail_after(WITHIN):
        async with asked_of(held, max_in_flight=2, max_waiting_on_clients=3) as (engine, client):
            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(ask, client, results)
                await wait_for(lambda: engine.waiting_on_clients == 3 and len(results) == 2)  # two refused at once
                held.release.set()
            assert engine.stats["client_requests_refused"] == 2
    refused = [result for result in results if isinstance(result, MCPError)]
    assert len(refused) == 2
    assert all("max_waiting_on_clients" in result.error.message for result in refused)
    assert [result for result in results if isinstance(result, str)] == ["accept:blue"] * 3


async def test_a_handler_waiting_for_a_client_that_never_answers_times_out_with_a_clear_error() -> None:
    held = HeldAnswers()
    with anyio.fail_after(WITHIN):
        async with asked_of(held, client_answer_timeout_seconds=0.5) as (engine, client):
            with pytest.raises(MCPError) as timed_out:
                await client.call_tool("ask", {})
            assert "did not answer elicitation/create within 0.5 s" in timed_out.value.error.message
            assert engine.stats["client_answer_timeouts"] == 1
            held.release.set()  # the late answer is dropped
            assert text_of(await client.call_tool("ask", {})) == "accept:blue"
