"""The SQS face end to end: the seed quick start, shared and temporary reply queues, many clients.

The protocol features every transport carries are in tests/test_protocol_features.py.

Eras: "modern" is `Client(transport)` (2026-07-28), "legacy" is `Client(transport, mode="legacy")`
(2025-11-25) and "raw" is a v1-style `ClientSession(read, write)` + `initialize()` (2025-11-25).
Where a server handler and a client callback must meet, they meet on an `anyio.Event` (server
and client share this process), never on a sleep.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import boto3
import pytest
from aiobotocore.session import get_session
from mcp import Client, ClientSession

from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.sqs import sqs_client, sqs_reply_queue, sqs_server
from tests.client_answers import text_of
from tests.servers import build_server
from tests.sqs_helpers import serving

pytestmark = [
    pytest.mark.anyio,
    # Logging and sampling are deprecated at 2026-07-28 but still part of the protocol we carry.
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

ERAS = ["modern", "legacy", "raw"]
"""Every way a client can talk to the server."""

PROTOCOL = {"modern": "2026-07-28", "legacy": "2025-11-25", "raw": "2025-11-25"}

HANG_GUARD = 30
"""Seconds after which a stuck test fails instead of hanging; never a timing assertion."""


# -- helpers ---------------------------------------------------------------------------------


def configured_id(whoami: str) -> str:
    """`client=<configured id>` from the `whoami` tool, without the per-connection suffix on the wire."""
    wire_id = whoami.split(" ")[1]
    return wire_id.rsplit(".", 1)[0]


@asynccontextmanager
async def connect(era: str, config: SqsClientConfig, *, replies: Any = None, **callbacks: Any) -> AsyncIterator[Any]:
    """A connected client of `era`: a `Client`, or an initialized `ClientSession` for "raw"."""
    transport = sqs_client(config, replies=replies)
    if era == "raw":
        async with transport as (read, write), ClientSession(read, write, **callbacks) as session:
            await session.initialize()
            yield session
        return
    mode = "legacy" if era == "legacy" else "auto"
    async with Client(transport, mode=mode, **callbacks) as client:
        assert client.protocol_version == PROTOCOL[era]
        yield client


def client_config(queues: Any, **fields: Any) -> SqsClientConfig:
    fields.setdefault("response_queue_url", queues.reply)
    return SqsClientConfig(read_queue_url=queues.request, **fields)


async def wait_until(condition: Callable[[], bool], step: float = 0.02) -> None:
    """Poll for a condition the test cannot be told about (the caller bounds it with fail_after)."""
    while not condition():  # noqa: ASYNC110 - the condition lives in tests.servers.CALLS, not an Event
        await anyio.sleep(step)


# -- 7. the seed quick start ---------------------------------------------------------------------


@asynccontextmanager
async def sqs_client_object(kind: str) -> AsyncIterator[Any]:
    if kind == "boto3":
        yield boto3.client("sqs")
    elif kind == "aiobotocore":
        async with get_session().create_client("sqs") as client:
            yield client
    else:
        yield None


@pytest.mark.parametrize("kind", ["boto3", "aiobotocore", "none"])
async def test_seed_quick_start_works_with_each_kind_of_sqs_client(queues, kind):
    app = build_server()._lowlevel_server
    server_config = SqsServerConfig(read_queue_url=queues.request, wait_time_seconds=1)
    config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply, wait_time_seconds=1)

    async def run_server(sqs: Any) -> None:
        async with sqs_server(server_config, sqs) as (read, write):
            await app.run(read, write, app.create_initialization_options())

    async with sqs_client_object(kind) as sqs, anyio.create_task_group() as tg:
        tg.start_soon(run_server, sqs)
        with anyio.fail_after(HANG_GUARD):
            async with sqs_client(config, sqs) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                result = await session.call_tool("echo", {"text": f"seed {kind}"})
                assert text_of(result) == f"seed {kind}"
        tg.cancel_scope.cancel()


# -- 8. many clients ---------------------------------------------------------------------------


async def test_many_clients_of_both_eras_each_get_their_own_answers(queues):
    eras = [ERAS[i % len(ERAS)] for i in range(10)]
    answers: dict[int, list[str]] = {}

    async def one_client(index: int, era: str) -> None:
        reply = await anyio.to_thread.run_sync(queues.create, f"replies-{index}-{uuid.uuid4().hex[:6]}")
        config = client_config(queues, response_queue_url=reply, client_id=f"client-{index}")
        async with connect(era, config) as client:
            got = [text_of(await client.call_tool("echo", {"text": f"{index}:{n}"})) for n in range(3)]
            got.append(configured_id(text_of(await client.call_tool("whoami", {}))))
            answers[index] = got

    async with serving(queues):
        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                for index, era in enumerate(eras):
                    tg.start_soon(one_client, index, era)
    assert answers == {
        index: [f"{index}:0", f"{index}:1", f"{index}:2", f"client=client-{index}"] for index in range(10)
    }


async def test_clients_with_separate_transports_on_one_reply_queue_each_get_only_their_replies(queues):
    count = 4
    answers: dict[int, list[str]] = {}
    all_answered = anyio.Event()

    async def one_client(index: int, era: str) -> None:
        config = client_config(queues, client_id=f"sharer-{index}")  # all on queues.reply
        async with connect(era, config) as client:
            got = [text_of(await client.call_tool("echo", {"text": f"{index}:{n}"})) for n in range(3)]
            got.append(configured_id(text_of(await client.call_tool("whoami", {}))))
            answers[index] = got
            if len(answers) == count:
                all_answered.set()
            # Close only once everyone is answered: a client closing while others on its reply
            # queue still wait used to hide their replies (see the test below).
            await all_answered.wait()

    async with serving(queues):
        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                for index in range(count):
                    tg.start_soon(one_client, index, ERAS[index % len(ERAS)])
    assert answers == {
        index: [f"{index}:0", f"{index}:1", f"{index}:2", f"client=sharer-{index}"] for index in range(count)
    }


async def test_a_client_closing_does_not_hide_replies_of_others_on_its_reply_queue(queues):
    async def come_and_go(index: int) -> None:
        async with connect("modern", client_config(queues, client_id=f"leaver-{index}")):
            pass

    async with serving(queues):
        with anyio.fail_after(HANG_GUARD):
            async with connect("legacy", client_config(queues, client_id="stayer")) as stayer:
                # Each round: three clients of the same reply queue open and close, then the one that
                # stayed calls again. A hidden reply stalls it for the 30 s visibility timeout, which
                # the 10 s guard turns into a failure (a normal round takes well under 2 s).
                for round_ in range(4):
                    async with anyio.create_task_group() as tg:
                        for index in range(3):
                            tg.start_soon(come_and_go, round_ * 3 + index)
                    with anyio.fail_after(10):
                        for n in range(3):
                            text = f"{round_}:{n}"
                            assert text_of(await stayer.call_tool("echo", {"text": text})) == text


async def test_clients_sharing_one_reply_router_each_get_only_their_replies(queues):
    answers: dict[int, list[str]] = {}
    shared = client_config(queues)

    async def one_client(index: int, era: str, router: Any) -> None:
        config = client_config(queues, response_queue_url=None, client_id=f"routed-{index}")
        async with connect(era, config, replies=router) as client:
            got = [text_of(await client.call_tool("echo", {"text": f"{index}:{n}"})) for n in range(3)]
            got.append(configured_id(text_of(await client.call_tool("whoami", {}))))
            answers[index] = got

    async with serving(queues):
        with anyio.fail_after(HANG_GUARD):
            async with sqs_reply_queue(shared) as router:
                assert router.address == queues.reply
                async with anyio.create_task_group() as tg:
                    for index in range(6):
                        tg.start_soon(one_client, index, ERAS[index % len(ERAS)], router)
    assert answers == {
        index: [f"{index}:0", f"{index}:1", f"{index}:2", f"client=routed-{index}"] for index in range(6)
    }


# -- 9. temporary reply queue ------------------------------------------------------------------


def reply_queues_named(prefix: str) -> list[str]:
    return boto3.client("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])


@pytest.mark.parametrize("era", ["modern", "legacy"])
async def test_a_client_without_a_reply_queue_gets_a_temporary_one_deleted_on_close(queues, era):
    client_id = f"temp-{era}-{uuid.uuid4().hex[:8]}"
    prefix = "asyncmcp-reply-"
    async with serving(queues):
        with anyio.fail_after(HANG_GUARD):
            config = client_config(queues, response_queue_url=None, client_id=client_id)
            async with connect(era, config) as client:
                assert text_of(await client.call_tool("echo", {"text": "temp"})) == "temp"
                (temporary,) = await anyio.to_thread.run_sync(reply_queues_named, prefix)
                assert client_id not in temporary  # its name reveals nothing about the client
            assert await anyio.to_thread.run_sync(reply_queues_named, prefix) == []
