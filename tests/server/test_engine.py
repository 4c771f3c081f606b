"""Delivery behaviour of the SQS transport against a real (moto) SQS endpoint.

Each test drives real queues: raw messages are sent and read with boto3, servers run as
`SqsWorker`s in the test's event loop, clients are `mcp.Client`s over `sqs_client`.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, UNSUPPORTED_PROTOCOL_VERSION

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.channels.sqs.transport import DEAD_LETTER_RECEIVES, HANDED_BACK_RECEIVES
from asyncmcp.receiving import HANDBACK_MAX_RECEIVES
from asyncmcp.server.sessions import MAX_SESSION_ID_CHARS, LegacySession
from asyncmcp.server.state_key import StateKey
from asyncmcp.sqs import sqs_client, sqs_server
from tests import servers
from tests.faults import ACCESS_DENIED, sqs_behind_faults
from tests.servers import build_server
from tests.sqs_helpers import (
    drain_raw,
    queue_counts,
    receive_raw,
    running_worker,
    send_raw,
    serving,
    sqs,
    visible_bodies,
    wait_for,
    wait_for_async,
)

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    servers.CALLS.clear()


def _suffix() -> str:
    return uuid.uuid4().hex[:8]


def _client_config(queues, **overrides) -> SqsClientConfig:
    values = {"read_queue_url": queues.request, "response_queue_url": queues.reply, **overrides}
    return SqsClientConfig(**values)


async def _echo_round_trip(config: SqsClientConfig, text: str, mode: str = "auto") -> None:
    async with Client(sqs_client(config), mode=mode) as client:
        result = await client.call_tool("echo", {"text": text})
        assert result.content[0].text == text


def _tool_call(request_id: int | str, tool: str, arguments: dict) -> str:
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    )


# -- 1. bad input never stops the loop ------------------------------------------------------


async def test_bad_input_is_answered_and_the_loop_keeps_serving(queues):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    config = SqsServerConfig(read_queue_url=queues.request)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config) as worker:
            to = {"mcp-reply-to": raw_replies}
            await send_raw(queues.request, "this is not json{", {**to, "mcp-client-id": "c-parse"})
            await send_raw(queues.request, json.dumps({"hello": "world", "id": 7}), {**to, "mcp-client-id": "c-inv"})
            await send_raw(queues.request, json.dumps([1, 2, 3]), {**to, "mcp-client-id": "c-arr"})
            # A well-formed request that names no reply address: nobody to answer.
            await send_raw(queues.request, _tool_call(9, "echo", {"text": "lost"}), {"mcp-client-id": "c-none"})
            # Not even attributes.
            await send_raw(queues.request, "\x00\x01 binary-ish")

            replies = await receive_raw(raw_replies, 3)
            by_client = {r.attributes.get("mcp-client-id"): r.json for r in replies}
            assert set(by_client) == {"c-parse", "c-inv", "c-arr"}
            assert by_client["c-parse"]["error"]["code"] == PARSE_ERROR
            assert by_client["c-parse"]["id"] is None
            assert by_client["c-inv"]["error"]["code"] == INVALID_REQUEST
            assert by_client["c-inv"]["id"] == 7
            assert by_client["c-arr"]["error"]["code"] == INVALID_REQUEST
            assert by_client["c-arr"]["id"] is None

            await wait_for(lambda: worker.engine.stats["refused"] >= 5)
            assert "echo:lost" not in servers.CALLS
            # Every bad message was deleted (on_bad_message="delete", the default).
            await wait_for_async(lambda: queue_counts(queues.request) == (0, 0))

            # The loop still serves a normal client.
            await _echo_round_trip(_client_config(queues), "still alive")
            assert await drain_raw(raw_replies) == []


async def test_forged_session_id_gets_an_unknown_session_error(queues):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    config = SqsServerConfig(read_queue_url=queues.request)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config):
            attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "c1", "mcp-session-id": "s1.e30.forged"}
            await send_raw(queues.request, _tool_call(11, "echo", {"text": "forged"}), attributes)
            (reply,) = await receive_raw(raw_replies, 1)
            assert reply.json["id"] == 11
            assert reply.json["error"]["code"] == INVALID_REQUEST
            assert "Unknown session" in reply.json["error"]["message"]
            assert "echo:forged" not in servers.CALLS


async def test_non_ascii_session_id_gets_an_unknown_session_error(queues):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    config = SqsServerConfig(read_queue_url=queues.request)
    with anyio.fail_after(10):
        async with running_worker(build_server(), config):
            attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "c1", "mcp-session-id": "s1.e30.sïgnature"}
            await send_raw(queues.request, _tool_call(12, "echo", {"text": "forged"}), attributes)
            (reply,) = await receive_raw(raw_replies, 1, within=5)
            assert reply.json["id"] == 12
            assert reply.json["error"]["code"] == INVALID_REQUEST


@pytest.mark.parametrize("stolen_by", ["another client", "no client id", "another reply queue"])
async def test_a_session_id_only_works_for_its_own_client_and_reply_queue(queues, stolen_by):
    """A valid 2025 session id, copied off a shared queue, cannot be used from elsewhere."""
    thief_replies = queues.create(f"thief-replies-{_suffix()}")
    key = "fleet-key-" + _suffix()
    token = (
        StateKey.resolve(key)
        .signer()
        .mint(LegacySession("2025-11-25", client_id="victim", reply_to=queues.reply, client_info=None, capabilities={}))
    )
    attributes = {"mcp-reply-to": thief_replies, "mcp-session-id": token}
    if stolen_by == "another client":
        attributes["mcp-client-id"] = "thief"
    elif stolen_by == "another reply queue":
        attributes["mcp-client-id"] = "victim"
    config = SqsServerConfig(read_queue_url=queues.request, state_key=key)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config):
            await send_raw(queues.request, _tool_call(21, "echo", {"text": "stolen"}), attributes)
            (reply,) = await receive_raw(thief_replies, 1)
            assert reply.json["error"]["code"] == INVALID_REQUEST
            assert reply.json["error"]["data"]["reason"] == "unknown-session"
            assert "echo:stolen" not in servers.CALLS


def _initialize(request_id: int, capabilities: dict[str, Any]) -> str:
    params = {
        "protocolVersion": "2025-11-25",
        "capabilities": capabilities,
        "clientInfo": {"name": "raw", "version": "1", "description": "d" * 3000},
    }
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params})


async def test_a_client_with_large_capabilities_gets_a_small_session_id_that_works(queues):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    capabilities = {"elicitation": {"form": {}}, "experimental": {"big": {"blob": "x" * 20_000}}}
    config = SqsServerConfig(read_queue_url=queues.request)
    attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "big-caps"}
    with anyio.fail_after(30):
        async with running_worker(build_server(), config):
            await send_raw(queues.request, _initialize(1, capabilities), attributes)
            (answer,) = await receive_raw(raw_replies, 1)
            session_id = answer.attributes["mcp-session-id"]
            assert len(session_id) <= MAX_SESSION_ID_CHARS
            later = {**attributes, "mcp-session-id": session_id}
            await send_raw(queues.request, _tool_call(2, "echo", {"text": "still in session"}), later)
            (reply,) = await receive_raw(raw_replies, 1)
    assert reply.json["result"]["content"][0]["text"] == "still in session"


async def test_initialize_whose_session_cannot_fit_even_trimmed_is_refused_clearly(queues):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    capabilities = {"experimental": {f"capability-{n}": {} for n in range(1000)}}
    config = SqsServerConfig(read_queue_url=queues.request)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config):
            attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "huge-caps"}
            await send_raw(queues.request, _initialize(1, capabilities), attributes)
            (answer,) = await receive_raw(raw_replies, 1)
    assert "mcp-session-id" not in answer.attributes
    assert answer.json["error"]["code"] == INVALID_PARAMS
    assert "fewer (experimental) capabilities" in answer.json["error"]["message"]


async def test_an_expired_session_id_is_refused_as_unknown(queues, monkeypatch):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    key = "fleet-key-" + _suffix()
    session = LegacySession("2025-11-25", client_id="old", reply_to=raw_replies, client_info=None, capabilities={})
    with monkeypatch.context() as past:
        past.setattr("asyncmcp.server.sessions.time.time", lambda: 1_000_000.0)
        token = StateKey.resolve(key).signer().mint(session)
    config = SqsServerConfig(read_queue_url=queues.request, state_key=key, session_ttl_seconds=3600)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config):
            attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "old", "mcp-session-id": token}
            await send_raw(queues.request, _tool_call(3, "echo", {"text": "too late"}), attributes)
            (reply,) = await receive_raw(raw_replies, 1)
    assert reply.json["error"]["data"]["reason"] == "unknown-session"
    assert "expired" in reply.json["error"]["message"]
    assert "echo:too late" not in servers.CALLS


async def test_a_reused_client_id_is_served_again(queues):
    """JSON-RPC ids restart at 1 in every session; a second client with the same configured id must
    not be mistaken for a redelivery of the first one's requests."""
    config = SqsServerConfig(read_queue_url=queues.request)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config):
            for attempt in ("first", "second"):
                client_config = _client_config(queues, client_id="billing")
                async with Client(sqs_client(client_config), mode="legacy") as client:
                    result = await client.call_tool("echo", {"text": attempt})
                    assert result.content[0].text == attempt


# -- 2. on_bad_message -----------------------------------------------------------------------


async def test_bad_message_goes_to_the_dead_letter_queue(queues):
    client = sqs()
    dlq = queues.create(f"dlq-{_suffix()}")
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    request = queues.create(f"requests-dl-{_suffix()}", VisibilityTimeout="1", RedrivePolicy=redrive)
    config = SqsServerConfig(
        read_queue_url=request, on_bad_message="dead-letter", visibility_timeout_seconds=1, wait_time_seconds=1
    )
    with anyio.fail_after(30):
        async with running_worker(build_server(), config) as worker:
            await send_raw(request, "definitely not json")
            (dead,) = await receive_raw(dlq, 1, within=20)
            assert dead.body == "definitely not json"
            assert worker.engine.stats["refused"] >= 1
            assert queue_counts(request) == (0, 0)


async def test_bad_message_is_deleted(queues):
    client = sqs()
    dlq = queues.create(f"dlq-{_suffix()}")
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    request = queues.create(f"requests-del-{_suffix()}", VisibilityTimeout="1", RedrivePolicy=redrive)
    config = SqsServerConfig(
        read_queue_url=request, on_bad_message="delete", visibility_timeout_seconds=1, wait_time_seconds=1
    )
    with anyio.fail_after(30):
        async with running_worker(build_server(), config) as worker:
            await send_raw(request, "definitely not json")
            await wait_for(lambda: worker.engine.stats["refused"] >= 1)
            await wait_for_async(lambda: queue_counts(request) == (0, 0))
            assert worker.engine.stats["refused"] == 1  # seen once: deleted, not redelivered
            assert queue_counts(dlq) == (0, 0)


@pytest.mark.parametrize("receives", [5, HANDED_BACK_RECEIVES - 1, HANDED_BACK_RECEIVES, DEAD_LETTER_RECEIVES])
async def test_a_redrive_policy_a_frame_handed_between_workers_can_reach_is_named_at_start(
    queues, caplog, receives: int
) -> None:
    """A client's answer to a server request, or a cancel, may be handed between workers up to
    `HANDBACK_MAX_RECEIVES` times: a `maxReceiveCount` below that would dead-letter it."""
    assert HANDED_BACK_RECEIVES == HANDBACK_MAX_RECEIVES
    client = sqs()
    dlq = queues.create(f"dlq-{_suffix()}")
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(receives)})
    request = queues.create(f"requests-rd-{_suffix()}", RedrivePolicy=redrive)
    caplog.set_level("WARNING", logger="asyncmcp")
    with anyio.fail_after(30):
        async with running_worker(build_server(), SqsServerConfig(read_queue_url=request, wait_time_seconds=1)):
            pass
    warned = [r.getMessage() for r in caplog.records if "maxReceiveCount to at least" in r.getMessage()]
    if receives < HANDED_BACK_RECEIVES:
        (message,) = warned
        assert request in message and f"at least {DEAD_LETTER_RECEIVES}" in message
    else:
        assert not warned


# -- 3. protocol version ---------------------------------------------------------------------


async def test_unknown_protocol_version_is_refused(queues):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    config = SqsServerConfig(read_queue_url=queues.request)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config):
            attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "old", "mcp-protocol-version": "1999-01-01"}
            await send_raw(queues.request, _tool_call(5, "echo", {"text": "old"}), attributes)
            (reply,) = await receive_raw(raw_replies, 1)
            assert reply.attributes.get("mcp-client-id") == "old"
            assert reply.json["id"] == 5
            assert reply.json["error"]["code"] == UNSUPPORTED_PROTOCOL_VERSION
            assert reply.json["error"]["data"]["requested"] == "1999-01-01"
            assert "2025-11-25" in reply.json["error"]["data"]["supported"]
            assert "echo:old" not in servers.CALLS


async def test_notifications_sent_within_a_request_name_it_and_the_answer_does_not(queues):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "progressToken": "p",
    }
    body = {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "slow", "arguments": {"steps": 2}}}
    body["params"]["_meta"] = meta
    with anyio.fail_after(30):
        async with running_worker(build_server(), SqsServerConfig(read_queue_url=queues.request)):
            await send_raw(queues.request, json.dumps(body), {"mcp-reply-to": raw_replies, "mcp-client-id": "c"})
            replies = await receive_raw(raw_replies, 3)
    progress = [r for r in replies if r.json.get("method") == "notifications/progress"]
    (answer,) = [r for r in replies if r.json.get("id") == 9]
    assert [r.attributes.get("mcp-related-request-id") for r in progress] == ["9", "9"]
    assert "mcp-related-request-id" not in answer.attributes


@asynccontextmanager
async def single_connection(server: Any, config: SqsServerConfig) -> AsyncIterator[None]:
    """Serve `server` with the single-connection entry (`sqs_server`) for the body of the block."""
    app = server._lowlevel_server
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            async with sqs_server(config) as (read, write):
                await app.run(read, write, app.create_initialization_options())

        tg.start_soon(run)
        yield
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("entry", ["engine", "single-connection"])
async def test_a_2025_handler_closing_its_stream_tells_the_client_and_goes_on(queues, entry):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    server = build_server()

    @server.tool()
    async def polls(ctx: Context) -> str:
        """Close the SSE stream (SEP-1699 polling), then answer."""
        await ctx.close_sse_stream()
        return "still here"

    config = SqsServerConfig(read_queue_url=queues.request)
    serve = running_worker(server, config) if entry == "engine" else single_connection(server, config)
    attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "c"}
    initialize = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
    with anyio.fail_after(30):
        async with serve:
            await send_raw(
                queues.request,
                json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize}),
                attributes,
            )
            (opened,) = await receive_raw(raw_replies, 1)
            if "mcp-session-id" in opened.attributes:
                attributes["mcp-session-id"] = opened.attributes["mcp-session-id"]
            await send_raw(
                queues.request, json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), attributes
            )
            await send_raw(queues.request, _tool_call(4, "polls", {}), attributes)
            close, answer = await receive_raw(raw_replies, 2)
    assert close.attributes.get("mcp-control") == "close-stream"
    assert close.attributes.get("mcp-related-request-id") == "4"
    assert close.attributes.get("mcp-client-id") == "c"
    assert answer.json["result"]["content"][0]["text"] == "still here"


async def test_a_direct_client_is_not_disturbed_when_a_handler_closes_its_stream(queues):
    server = build_server()

    @server.tool()
    async def polls(ctx: Context) -> str:
        """Close the SSE stream (SEP-1699 polling), then answer."""
        await ctx.close_sse_stream()
        return "still here"

    reached_the_session: list[object] = []

    async def on_message(message: object) -> None:
        if isinstance(message, Exception):
            reached_the_session.append(message)

    with anyio.fail_after(30):
        async with (
            serving(queues, server),
            Client(sqs_client(_client_config(queues)), mode="legacy", message_handler=on_message) as client,
        ):
            result = await client.call_tool("polls", {})
    assert result.content[0].text == "still here"
    assert reached_the_session == []


# -- 4. oversize -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_result_too_large_for_the_reply_queue_is_a_clear_error(queues, mode):
    # Room for the tool list (about 4 KB, which the client fetches to check output schemas), not for `big`.
    small_replies = queues.create(f"small-replies-{_suffix()}", MaximumMessageSize="8192")
    config = SqsServerConfig(read_queue_url=queues.request)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config):
            client_config = _client_config(queues, response_queue_url=small_replies)
            async with Client(sqs_client(client_config), mode=mode) as client:
                with pytest.raises(MCPError) as info:
                    await client.call_tool("big", {"size": 20000})
                message = str(info.value)
                assert small_replies in message
                assert "8192" in message, message  # names the limit that was exceeded
                # The client and server are still usable.
                result = await client.call_tool("echo", {"text": "small"})
                assert result.content[0].text == "small"


async def test_request_too_large_for_the_request_queue_is_a_clear_error(queues):
    small_requests = queues.create(f"small-requests-{_suffix()}", MaximumMessageSize="1024")
    config = SqsServerConfig(read_queue_url=small_requests)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config):
            client_config = _client_config(queues, read_queue_url=small_requests)
            async with Client(sqs_client(client_config), mode="legacy") as client:
                # A first call, so the big request is sent on its own (SendMessage, not in a batch).
                assert (await client.call_tool("echo", {"text": "first"})).content[0].text == "first"
                with pytest.raises(MCPError) as info:
                    await client.call_tool("echo", {"text": "y" * 5000})
                message = str(info.value)
                assert small_requests in message
                assert "1024" in message, message
                result = await client.call_tool("echo", {"text": "small"})
                assert result.content[0].text == "small"
    assert not any(call.startswith("echo:y") for call in servers.CALLS)


async def test_an_oversized_frame_does_not_sink_frames_batched_with_it(queues):
    from asyncmcp.channels.sqs.api import SqsApi
    from asyncmcp.channels.sqs.channel import SqsChannel
    from asyncmcp.codec import Frame
    from asyncmcp.errors import FrameTooLargeError

    small_queue = queues.create(f"small-{_suffix()}", MaximumMessageSize="1024")
    outcomes: dict[str, BaseException | None] = {}

    async def send(channel: SqsChannel, name: str, body: str) -> None:
        try:
            await channel.send(small_queue, Frame(body))
            outcomes[name] = None
        except Exception as exc:
            outcomes[name] = exc

    with anyio.fail_after(15):
        async with SqsApi() as api, SqsChannel(api, wait_time_seconds=1) as channel:
            async with anyio.create_task_group() as tg:  # submitted together: one batch call
                tg.start_soon(send, channel, "small", "small body")
                tg.start_soon(send, channel, "big", "z" * 5000)
            assert api.calls["SendMessageBatch"] == 1
    assert isinstance(outcomes["big"], FrameTooLargeError)
    assert outcomes["small"] is None, outcomes["small"]
    assert [r.body for r in await drain_raw(small_queue)] == ["small body"]


async def test_a_throttled_batch_is_not_resent_frame_by_frame(queues, endpoint):
    """A batch refused for a transient reason fails every frame (their senders retry); splitting it
    into single sends, as for one bad entry, would only multiply the calls being throttled."""
    from asyncmcp.channels.sqs.api import SqsApi
    from asyncmcp.channels.sqs.channel import SqsChannel
    from asyncmcp.codec import Frame
    from asyncmcp.errors import ChannelError

    outcomes: list[BaseException | None] = []

    async def send(channel: SqsChannel, body: str) -> None:
        try:
            await channel.send(queues.reply, Frame(body))
            outcomes.append(None)
        except Exception as exc:
            outcomes.append(exc)

    with anyio.fail_after(15):
        async with (
            sqs_behind_faults(endpoint.url, _first(1, "SendMessageBatch")) as (client, forwarder),
            SqsApi(client) as api,
            SqsChannel(api, wait_time_seconds=1) as channel,
        ):
            async with anyio.create_task_group() as tg:  # submitted together: one batch call
                tg.start_soon(send, channel, "one")
                tg.start_soon(send, channel, "two")
            assert api.calls["SendMessageBatch"] == 1
            assert api.calls["SendMessage"] == 0
    assert forwarder.failed == ["AmazonSQS.SendMessageBatch"]
    assert all(isinstance(outcome, ChannelError) and not outcome.permanent for outcome in outcomes), outcomes
    assert len(outcomes) == 2
    assert await drain_raw(queues.reply) == []


# -- 5. reply allowlist ----------------------------------------------------------------------


def _other_account(url: str, account: str = "999999999999") -> str:
    scheme_host, _, path = url.rpartition("/123456789012/")
    assert scheme_host, url
    return f"{scheme_host}/{account}/{path}"


async def test_reply_to_another_account_is_not_answered(queues):
    # moto resolves a QueueUrl by its last segment only, so if the server did send to the foreign
    # URL the message would land in the same-named queue here, where the test can see it.
    foreign_name = f"foreign-{_suffix()}"
    foreign_local = queues.create(foreign_name)
    foreign = _other_account(foreign_local)
    config = SqsServerConfig(read_queue_url=queues.request)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config) as worker:
            attributes = {"mcp-reply-to": foreign, "mcp-client-id": "mallory"}
            await send_raw(queues.request, _tool_call(1, "echo", {"text": "confused"}), attributes)
            await send_raw(queues.request, "not json", attributes)  # not even an error goes there
            await wait_for(lambda: worker.engine.stats["refused"] >= 2)
            await wait_for_async(lambda: queue_counts(queues.request) == (0, 0))
            assert "echo:confused" not in servers.CALLS
            assert await drain_raw(foreign_local) == []
            # The allowed (same account) reply queue still works.
            await _echo_round_trip(_client_config(queues), "allowed")
            assert await drain_raw(foreign_local) == []


async def test_allowed_reply_queues_pattern(queues):
    allowed = queues.create(f"allowed-{_suffix()}")
    other = queues.create(f"other-{_suffix()}")
    base = allowed.rsplit("/", 1)[0]
    config = SqsServerConfig(read_queue_url=queues.request, allowed_reply_queues=(f"{base}/allowed-*",))
    with anyio.fail_after(30):
        async with running_worker(build_server(), config) as worker:
            attributes = {"mcp-reply-to": other, "mcp-client-id": "nope"}
            await send_raw(queues.request, _tool_call(1, "echo", {"text": "refused"}), attributes)
            await wait_for(lambda: worker.engine.stats["refused"] >= 1)
            assert "echo:refused" not in servers.CALLS
            assert await drain_raw(other) == []
            # The fixture's reply queue does not match the pattern either: requests time out.
            timing_out = _client_config(queues, transport_timeout_seconds=1, wait_time_seconds=1)
            async with Client(sqs_client(timing_out), mode=MODERN) as client:
                with pytest.raises(MCPError, match="No worker answered"):
                    await client.call_tool("echo", {"text": "x"})
            await _echo_round_trip(_client_config(queues, response_queue_url=allowed), "allowed")


# -- 6. FIFO ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_fifo_queues(queues, mode):
    request = queues.create(f"x-{_suffix()}.fifo", FifoQueue="true", ContentBasedDeduplication="false")
    reply = queues.create(f"y-{_suffix()}.fifo", FifoQueue="true", ContentBasedDeduplication="false")
    config = SqsServerConfig(read_queue_url=request, wait_time_seconds=1)
    client_config = SqsClientConfig(read_queue_url=request, response_queue_url=reply, wait_time_seconds=1)
    with anyio.fail_after(30):
        async with running_worker(build_server(), config), Client(sqs_client(client_config), mode=mode) as client:
            assert client.protocol_version == ("2025-11-25" if mode == "legacy" else MODERN)
            for text in ("one", "two"):
                result = await client.call_tool("echo", {"text": text})
                assert result.content[0].text == text
            result = await client.call_tool("slow", {"steps": 2, "delay": 0.01})
            assert result.content[0].text == "done 2"
    assert servers.CALLS.count("echo:one") == 1


# -- 7. dedupe -------------------------------------------------------------------------------


async def test_duplicate_request_after_the_answer_runs_once(queues):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    config = SqsServerConfig(read_queue_url=queues.request)
    body = _tool_call(42, "echo", {"text": "dup"})
    attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "dup-client"}
    with anyio.fail_after(30):
        async with running_worker(build_server(), config) as worker:
            await send_raw(queues.request, body, attributes)
            (first,) = await receive_raw(raw_replies, 1)
            assert first.json["id"] == 42
            assert first.json["result"]["content"][0]["text"] == "dup"
            await send_raw(queues.request, body, attributes)
            await wait_for(lambda: worker.engine.stats["duplicates"] >= 1)
            await wait_for_async(lambda: queue_counts(queues.request) == (0, 0))
            assert await drain_raw(raw_replies) == []
    assert servers.CALLS.count("echo:dup") == 1


async def test_duplicate_request_while_running_runs_once(queues):
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    config = SqsServerConfig(read_queue_url=queues.request)
    body = _tool_call("req-7", "slow", {"steps": 3, "delay": 0.3})
    attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "dup-client"}
    with anyio.fail_after(30):
        async with running_worker(build_server(), config) as worker:
            await send_raw(queues.request, body, attributes)
            await wait_for(lambda: "slow" in servers.CALLS)
            await send_raw(queues.request, body, attributes)
            await wait_for(lambda: worker.engine.stats["duplicates"] >= 1)
            await wait_for(lambda: worker.engine.stats["answered"] >= 1)
            replies = await receive_raw(raw_replies, 1)
            replies += await drain_raw(raw_replies)
            finals = [r.json for r in replies if r.json.get("id") == "req-7"]
            assert len(finals) == 1
            assert finals[0]["result"]["content"][0]["text"] == "done 3"
            # Both copies were settled with the one answer.
            await wait_for_async(lambda: queue_counts(queues.request) == (0, 0))
    assert servers.CALLS.count("slow") == 1


@asynccontextmanager
async def _worker_behind(endpoint_url: str, should_fail: Any, config: SqsServerConfig) -> AsyncIterator[Any]:
    """A worker whose SQS calls go through a faulty endpoint; yields the forwarder (`.worker` set)."""
    async with (
        sqs_behind_faults(endpoint_url, should_fail) as (worker_sqs, forwarder),
        running_worker(build_server(), config, sqs_client=worker_sqs) as worker,
    ):
        forwarder.worker = worker
        yield forwarder


def _first(count: int, operation: str, marker: bytes = b"") -> Any:
    """A `should_fail` that refuses the first `count` calls of `operation` (or its batch form) whose
    body holds `marker`."""
    left = {"count": count}

    def should_fail(called: str, body: bytes) -> bool:
        if called.startswith(f"AmazonSQS.{operation}") and marker in body and left["count"] > 0:
            left["count"] -= 1
            return True
        return False

    return should_fail


async def test_an_answer_the_broker_refuses_for_a_while_is_resent_and_the_tool_runs_once(queues, endpoint):
    """Every send of the answer is throttled through the worker's first round of tries: the worker
    keeps the answer, hands the request back, and on its redelivery sends the kept answer."""
    from asyncmcp.server.answering import SEND_ATTEMPTS

    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    body = _tool_call(7, "echo", {"text": "kept-answer"})
    attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "throttled-client"}
    refuse = _first(SEND_ATTEMPTS, "SendMessage", b"kept-answer")
    with anyio.fail_after(40):
        async with _worker_behind(endpoint.url, refuse, SqsServerConfig(read_queue_url=queues.request)) as forwarder:
            await send_raw(queues.request, body, attributes)
            (reply,) = await receive_raw(raw_replies, 1, within=25)
            assert reply.json["id"] == 7
            assert reply.json["result"]["content"][0]["text"] == "kept-answer"
            await wait_for_async(lambda: queue_counts(queues.request) == (0, 0))
            assert forwarder.worker.engine.stats["answered"] == 1
    assert len(forwarder.failed) == SEND_ATTEMPTS
    assert all(operation.startswith("AmazonSQS.SendMessage") for operation in forwarder.failed)
    assert servers.CALLS.count("echo:kept-answer") == 1
    assert await drain_raw(raw_replies) == []


async def test_an_answer_still_being_sent_when_the_request_timeout_passes_is_not_lost(queues, endpoint):
    """The tool finishes just inside `transport_timeout_seconds`; the broker refuses the answer twice,
    so the worker's retries carry the send past the timeout. The answer must still go out, once."""
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "late-answer-client"}
    config = SqsServerConfig(read_queue_url=queues.request, transport_timeout_seconds=1.0)
    with anyio.fail_after(30):
        async with _worker_behind(endpoint.url, _first(2, "SendMessage", b"done 3"), config) as forwarder:
            await send_raw(queues.request, _tool_call(10, "slow", {"steps": 3, "delay": 0.25}), attributes)
            replies = await receive_raw(raw_replies, 1)
            await wait_for_async(lambda: queue_counts(queues.request) == (0, 0))
            replies += await drain_raw(raw_replies)
    answers = [r.json for r in replies if r.json.get("id") == 10]
    assert [a.get("result", a.get("error")) for a in answers] == [answers[0]["result"]], answers
    assert answers[0]["result"]["content"][0]["text"] == "done 3"
    assert len(forwarder.failed) == 2
    assert servers.CALLS.count("slow") == 1


async def test_a_worker_whose_receives_fail_for_a_while_backs_off_and_serves(queues, endpoint):
    from asyncmcp.receiving import BACKOFF_FIRST

    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "patient-client"}
    with anyio.fail_after(30):
        config = SqsServerConfig(read_queue_url=queues.request, wait_time_seconds=1)
        async with _worker_behind(endpoint.url, _first(3, "ReceiveMessage"), config) as forwarder:
            await send_raw(queues.request, _tool_call(8, "echo", {"text": "after-throttling"}), attributes)
            (reply,) = await receive_raw(raw_replies, 1)
            assert reply.json["result"]["content"][0]["text"] == "after-throttling"
    assert forwarder.failed == ["AmazonSQS.ReceiveMessage"] * 3
    first_gap, second_gap = (b - a for a, b in itertools.pairwise(forwarder.failed_at))
    assert first_gap >= BACKOFF_FIRST * 0.9  # backing off, doubling: not a tight retry loop
    assert second_gap >= 2 * BACKOFF_FIRST * 0.9


async def test_a_request_whose_delete_failed_comes_back_and_is_not_run_again(queues, endpoint):
    """The delete after the answer is refused; the request reappears after its visibility timeout
    and the worker's dedupe acknowledges it without running the tool or answering twice."""
    request_queue = queues.create(f"refused-delete-{_suffix()}")
    raw_replies = queues.create(f"raw-replies-{_suffix()}")
    attributes = {"mcp-reply-to": raw_replies, "mcp-client-id": "once-client"}
    refuse = _first(1, "DeleteMessage", request_queue.encode())
    with anyio.fail_after(40):
        config = SqsServerConfig(read_queue_url=request_queue, visibility_timeout_seconds=2)
        async with _worker_behind(endpoint.url, refuse, config) as forwarder:
            await send_raw(request_queue, _tool_call(9, "echo", {"text": "deleted-late"}), attributes)
            (reply,) = await receive_raw(raw_replies, 1)
            assert reply.json["result"]["content"][0]["text"] == "deleted-late"
            await wait_for(lambda: forwarder.worker.engine.stats["duplicates"] >= 1, within=20)
            await wait_for_async(lambda: queue_counts(request_queue) == (0, 0))
    assert forwarder.failed and all("DeleteMessage" in operation for operation in forwarder.failed)
    assert servers.CALLS.count("echo:deleted-late") == 1
    assert await drain_raw(raw_replies) == []


async def test_a_request_the_broker_refuses_fails_that_call_with_an_error_naming_the_queue(queues, endpoint):
    refuse = _first(1, "SendMessage", b"refused-once")
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    with anyio.fail_after(30):
        async with (
            serving(queues),
            sqs_behind_faults(endpoint.url, refuse) as (client_sqs, forwarder),
            Client(sqs_client(config, client_sqs)) as client,
        ):
            with pytest.raises(MCPError) as refused:
                await client.call_tool("echo", {"text": "refused-once"})
            assert queues.request in refused.value.error.message
            assert "RequestThrottled" in refused.value.error.message
            result = await client.call_tool("echo", {"text": "refused-once"})  # the next try goes through
            assert result.content[0].text == "refused-once"
    assert len(forwarder.failed) == 1
    assert servers.CALLS.count("echo:refused-once") == 1


@pytest.mark.parametrize("requests", [1, 3])
async def test_an_answer_to_a_reply_queue_that_does_not_exist_is_given_up_once(queues, requests, caplog):
    # A typo in a client's reply queue URL: same account and region, so the policy allows it, but
    # there is no such queue. Several requests at once take the batched send path.
    missing = queues.request.rsplit("/", 1)[0] + f"/no-such-replies-{_suffix()}"
    config = SqsServerConfig(read_queue_url=queues.request)
    caplog.set_level("WARNING", logger="asyncmcp")
    with anyio.fail_after(30):
        async with running_worker(build_server(), config) as worker:
            attributes = {"mcp-reply-to": missing, "mcp-client-id": "typo"}
            async with anyio.create_task_group() as tg:
                for n in range(requests):
                    tg.start_soon(send_raw, queues.request, _tool_call(n, "echo", {"text": "typo"}), attributes)
            await wait_for(lambda: worker.engine.stats["undeliverable"] >= requests)
            # Acknowledged, not handed back to be re-sent every few seconds until it expires.
            await wait_for_async(lambda: queue_counts(queues.request) == (0, 0))
            assert worker.engine.stats["undeliverable"] == requests
    about_it = [record for record in caplog.records if missing in record.getMessage()]
    assert len(about_it) == requests, [record.getMessage() for record in about_it]
    assert all(record.levelname == "ERROR" for record in about_it)
    assert servers.CALLS.count("echo:typo") == requests


# -- 8. client timeout -----------------------------------------------------------------------


async def test_client_timeout_names_the_queue(queues):
    config = _client_config(queues, transport_timeout_seconds=1, wait_time_seconds=1)
    with anyio.fail_after(15):
        async with Client(sqs_client(config), mode=MODERN) as client:
            with pytest.raises(MCPError) as info:
                await client.call_tool("echo", {"text": "anyone?"})
    message = str(info.value)
    assert queues.request in message
    assert "No worker answered" in message


# -- 9. backpressure -------------------------------------------------------------------------


async def test_max_in_flight_limits_requests_held(queues):
    config = SqsServerConfig(read_queue_url=queues.request, max_in_flight=1)
    highest = 0
    with anyio.fail_after(30):
        async with running_worker(build_server(), config) as worker:
            engine = worker.engine
            assert engine is not None
            async with (
                Client(sqs_client(_client_config(queues)), mode="legacy") as client,
                anyio.create_task_group() as calls,
            ):
                for marker in ("a", "b", "c"):
                    calls.start_soon(client.call_tool, "block", {"marker": marker})

                async def observe() -> bool:
                    nonlocal highest
                    while True:
                        highest = max(highest, engine.in_flight)
                        started = [c for c in servers.CALLS if c.startswith("block:")]
                        # One request held, the other two left on the queue for other workers (with,
                        # maybe, the client's notifications/initialized, which also waits for a slot).
                        visible, held = queue_counts(queues.request)
                        if started and held == 1 and visible >= 2:
                            return True
                        await anyio.sleep(0.01)

                with anyio.fail_after(15):
                    await observe()
                highest = max(highest, engine.in_flight)
                assert highest == 1
                assert len([c for c in servers.CALLS if c.startswith("block:")]) == 1
                calls.cancel_scope.cancel()


# -- 10. closing is fast ---------------------------------------------------------------------


async def test_a_refused_wake_frame_is_logged_once_as_a_warning(queues, endpoint, caplog):
    # The worker's role may not send to the queue it reads: its wake frame is refused on stop.
    def wake_frames(operation: str, body: bytes) -> bool:
        return operation.startswith("AmazonSQS.SendMessage") and b"mcp-control" in body

    caplog.set_level("DEBUG", logger="asyncmcp")
    # A short poll wait: the abandoned poll keeps the forwarding endpoint busy until it ends.
    config = SqsServerConfig(read_queue_url=queues.request, wait_time_seconds=1)
    with anyio.fail_after(30):
        async with (
            sqs_behind_faults(endpoint.url, wake_frames, ACCESS_DENIED) as (worker_sqs, forwarder),
            anyio.create_task_group() as tg,
        ):
            worker = running_worker(build_server(), config, sqs_client=worker_sqs)
            await tg.start(worker.run)
            worker.stop()
    assert forwarder.failed, "no wake frame was sent"
    about_wakes = [record for record in caplog.records if "wake frame" in record.getMessage()]
    assert len(about_wakes) == 1, [record.getMessage() for record in about_wakes]
    assert about_wakes[0].levelname == "WARNING"
    assert queues.request in about_wakes[0].getMessage()
    assert "AccessDenied" in about_wakes[0].getMessage()


async def _client_session(config: SqsClientConfig, ready: anyio.Event, leave: anyio.Event, left: anyio.Event) -> None:
    async with Client(sqs_client(config)) as client:
        result = await client.call_tool("echo", {"text": "bye"})
        assert result.content[0].text == "bye"
        ready.set()
        await leave.wait()  # meanwhile the reply queue's 20 s long poll is outstanding
    left.set()


async def _worker_until(worker, stop: anyio.Event, how: str, stopped: anyio.Event) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run)
        await stop.wait()
        if how == "stop":
            worker.stop()
        else:
            tg.cancel_scope.cancel()
    stopped.set()


@pytest.mark.parametrize("how", ["stop", "cancel"])
async def test_closing_clients_and_servers_is_fast(queues, how):
    from asyncmcp.sqs import SqsWorker

    worker = SqsWorker(build_server(), SqsServerConfig(read_queue_url=queues.request))  # 20 s long polls
    stop, stopped = anyio.Event(), anyio.Event()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_worker_until, worker, stop, how, stopped)
            await wait_for(lambda: worker.engine is not None)
            for client_config in (_client_config(queues), _client_config(queues, response_queue_url=None)):
                ready, leave, left = anyio.Event(), anyio.Event(), anyio.Event()
                tg.start_soon(_client_session, client_config, ready, leave, left)
                await ready.wait()
                leave.set()
                with anyio.fail_after(3):
                    await left.wait()
            await anyio.sleep(0.2)  # not a race guard: lets the worker get back into its long poll
            stop.set()
            with anyio.fail_after(3):
                await stopped.wait()


async def _cancelled_on(stop: anyio.Event, stopped: anyio.Event, fn, *args) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(fn, *args)
        await stop.wait()
        tg.cancel_scope.cancel()
    stopped.set()


async def _client_forever(config: SqsClientConfig, ready: anyio.Event) -> None:
    async with Client(sqs_client(config)) as client:
        result = await client.call_tool("echo", {"text": "cancel me"})
        assert result.content[0].text == "cancel me"
        ready.set()
        await anyio.sleep_forever()


@pytest.mark.parametrize("reply_queue", ["shared", "temporary"])
async def test_cancelling_a_client_is_fast(queues, reply_queue):
    config = _client_config(queues, response_queue_url=queues.reply if reply_queue == "shared" else None)
    with anyio.fail_after(30):
        async with running_worker(build_server(), SqsServerConfig(read_queue_url=queues.request)):
            ready, stop, stopped = anyio.Event(), anyio.Event(), anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(_cancelled_on, stop, stopped, _client_forever, config, ready)
                await ready.wait()
                stop.set()
                with anyio.fail_after(3):  # the reply queue's 20 s long poll is outstanding
                    await stopped.wait()


# -- 11. visibility heartbeat ----------------------------------------------------------------


async def test_visibility_heartbeat_keeps_a_long_request_from_redelivery(queues):
    config = SqsServerConfig(
        read_queue_url=queues.request, visibility_timeout_seconds=2, wait_time_seconds=1, state_key="shared-key"
    )
    with anyio.fail_after(30):
        # Two workers: a redelivery would reach the one that is not busy and run the tool again.
        async with running_worker(build_server(), config) as one, running_worker(build_server(), config) as two:
            async with Client(sqs_client(_client_config(queues)), mode="legacy") as client:
                result = await client.call_tool("slow", {"steps": 5, "delay": 1.0})
                assert result.content[0].text == "done 5"
            assert one.engine.stats["duplicates"] == two.engine.stats["duplicates"] == 0
    assert servers.CALLS.count("slow") == 1


async def _call_quietly(client: Client, tool: str, arguments: dict) -> None:
    """A call whose outcome the test does not need (it is cancelled or its server goes away)."""
    try:
        await client.call_tool(tool, arguments)
    except MCPError:
        pass


@pytest.mark.parametrize("how", ["stop", "cancel"])
async def test_ending_a_server_mid_request_is_fast_and_hands_the_request_back(queues, how):
    from asyncmcp.sqs import SqsWorker

    worker = SqsWorker(build_server(), SqsServerConfig(read_queue_url=queues.request))
    stop, stopped = anyio.Event(), anyio.Event()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_worker_until, worker, stop, how, stopped)
            await wait_for(lambda: worker.engine is not None)
            async with (
                Client(sqs_client(_client_config(queues)), mode="legacy") as client,
                anyio.create_task_group() as calls,
            ):
                await client.list_tools()  # listed: no tools/list travels beside the call (client/transport.py)
                calls.start_soon(_call_quietly, client, "block", {"marker": "held"})
                await wait_for(lambda: "block:held" in servers.CALLS)
                stop.set()
                with anyio.fail_after(3):
                    await stopped.wait()

                # The unfinished request went straight back to the queue (the queue's visibility
                # timeout is 30 s, so it is visible now only if the worker handed it back), and
                # the answered initialize, notifications/initialized and tools/list were deleted. (Wake frames,
                # the worker's own control messages, are left out.)
                def handed_back() -> bool:
                    bodies = [body for body in visible_bodies(queues.request) if body != "{}"]  # not wake frames
                    return len(bodies) == 1 and '"block"' in bodies[0]

                await wait_for_async(handed_back, within=5)
                assert "block-ended:held" in servers.CALLS
                calls.cancel_scope.cancel()


async def test_frames_just_received_run_before_the_next_poll_is_built(queues):
    """After a poll returns frames, the receiver's next poll waits until every ready task has run,
    so building that request (a millisecond of CPU) does not delay the frames' handlers or answers."""
    from asyncmcp.channels.sqs.api import SqsApi
    from asyncmcp.channels.sqs.channel import SqsChannel
    from asyncmcp.receiving import Poller

    await send_raw(queues.request, "first")
    seen_by_handler: list[int] = []

    with anyio.fail_after(15):
        async with SqsApi() as api, SqsChannel(api, wait_time_seconds=1) as channel:
            poller = Poller(channel, queues.request, wake_token=None)
            deliveries = await poller.next_batch(10)
            assert [d.frame.body for d in deliveries] == ["first"]
            polls = api.calls["ReceiveMessage"]

            async def handler() -> None:  # ready at the same moment as the next poll
                seen_by_handler.append(api.calls["ReceiveMessage"])

            async with anyio.create_task_group() as tg:
                tg.start_soon(poller.next_batch, 10)  # scheduled first: it would build its request first
                tg.start_soon(handler)
            assert api.calls["ReceiveMessage"] == polls + 1
    assert seen_by_handler == [polls]
