"""The SNS+SQS face end to end on the moto endpoint: the seed snippets, shared reply topics, fan-out,
provisioning, limits and the reply policy. The protocol features (both eras, progress, cancel,
logging, sampling, elicitation, listen) run over SNS+SQS in tests/test_protocol_features.py.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import anyio
import boto3
import pytest
from mcp import Client, ClientSession
from mcp.server import Server
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult, TextContent, Tool

from asyncmcp import SnsSqsTransportConfig
from asyncmcp.channels import registry
from asyncmcp.channels.sns_sqs.api import SnsApi
from asyncmcp.channels.sns_sqs.channel import MAX_ATTRIBUTES, SnsSqsChannel, unwrap_envelope
from asyncmcp.channels.sns_sqs.provision import subscribe_queue
from asyncmcp.channels.sqs.api import SqsApi
from asyncmcp.channels.sqs.channel import SqsChannel
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_REPLY_TO, Frame
from asyncmcp.errors import ChannelError
from asyncmcp.sns_sqs import (
    SnsSqsClientConfig,
    SnsSqsServerConfig,
    SnsSqsWorker,
    observe,
    provision_sns_sqs,
    sns_sqs_client,
    sns_sqs_reply_queue,
    sns_sqs_server,
)
from tests.client_answers import text_of
from tests.deployments import provision_topology
from tests.servers import build_server
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

HANG_GUARD = 30


@pytest.fixture
def aws(endpoint: Any) -> Any:
    endpoint.reset()
    return endpoint


def _lowlevel_echo() -> Server[Any]:
    """The seed documents' server shape: a lowlevel `Server` run on a stream pair."""

    async def list_tools(ctx: Any, params: Any) -> ListToolsResult:
        return ListToolsResult(tools=[Tool(name="echo", input_schema={"type": "object"})])

    async def call_tool(ctx: Any, params: CallToolRequestParams) -> CallToolResult:
        text = str((params.arguments or {}).get("text"))
        return CallToolResult(content=[TextContent(type="text", text=text)])

    return Server("seed-sns", on_list_tools=list_tools, on_call_tool=call_tool)


async def test_the_seed_snippets_run_as_written(aws: Any) -> None:
    """002's server and client, with boto3 clients, and 003's `_meta.clientTopicArn` handshake."""
    sqs_client, sns_client = boto3.client("sqs"), boto3.client("sns")
    async with SqsApi() as sqs_api, SnsApi() as sns_api:
        topology = await provision_sns_sqs(f"seed-{uuid.uuid4().hex[:6]}", sqs=sqs_api, sns=sns_api)
        # The seed client reads its own queue, subscribed to its own topic, and names that topic.
        client_topic = sns_client.create_topic(Name=f"seed-client-{uuid.uuid4().hex[:6]}")["TopicArn"]
        client_queue = sqs_client.create_queue(QueueName=f"seed-client-{uuid.uuid4().hex[:6]}")["QueueUrl"]
        queue_arn = sqs_client.get_queue_attributes(QueueUrl=client_queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        await subscribe_queue(sqs_api, sns_api, client_topic, client_queue, queue_arn)

    server_config = SnsSqsTransportConfig(
        sqs_queue_url=topology.server_queue_url, sns_topic_arn=topology.reply_topic_arn, wait_time_seconds=1
    )
    client_config = SnsSqsTransportConfig(
        sqs_queue_url=client_queue,
        sns_topic_arn=topology.request_topic_arn,
        client_topic_arn=client_topic,
        wait_time_seconds=1,
    )
    app = _lowlevel_echo()

    async def run_server() -> None:
        async with sns_sqs_server(server_config, sqs_client, sns_client) as (read_stream, write_stream):
            await app.run(read_stream, write_stream, app.create_initialization_options())

    with anyio.fail_after(HANG_GUARD):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server)
            async with (
                sns_sqs_client(client_config, sqs_client, sns_client) as (read_stream, write_stream),
                ClientSession(read_stream, write_stream) as session,
            ):
                await session.initialize()
                assert text_of(await session.call_tool("echo", {"text": "seed"})) == "seed"
            tg.cancel_scope.cancel()


async def test_twenty_clients_on_one_reply_topic_each_receive_only_their_own_replies(aws: Any) -> None:
    """Every client's queue subscribes to the server's reply topic with a filter on its client id:
    no queue ever receives a reply of another client (none is handed back), and each call gets its answer."""
    ids = tuple(f"c{index}" for index in range(20))
    topology = await provision_topology(ids)
    server_config = SnsSqsServerConfig(sqs_queue_url=topology.server_queue_url, sns_topic_arn=topology.reply_topic_arn)
    routers: list[Any] = []

    async def one(client_id: str) -> None:
        config = SnsSqsClientConfig(
            sns_topic_arn=topology.request_topic_arn,
            sqs_queue_url=topology.client_queue_urls[client_id],
            client_id=client_id,
        )
        async with sns_sqs_reply_queue(config) as router:
            routers.append(router)
            async with Client(sns_sqs_client(config, replies=router)) as client:
                for call in range(2):
                    text = f"{client_id}-{call}"
                    assert text_of(await client.call_tool("echo", {"text": text})) == text

    with anyio.fail_after(HANG_GUARD * 2):
        async with SnsSqsWorker(build_server(), server_config), anyio.create_task_group() as tg:
            for client_id in ids:
                tg.start_soon(one, client_id)
    assert len(routers) == 20
    for router in routers:
        handed_back = {k: v for k, v in router.channel.calls.items() if "ChangeMessageVisibility" in k}
        assert handed_back == {}, f"{router.address} received replies of another client"


async def test_a_client_without_a_queue_gets_a_temporary_topic_and_queue_removed_on_close(aws: Any) -> None:
    topology = await provision_topology(())
    server_config = SnsSqsServerConfig(sqs_queue_url=topology.server_queue_url, sns_topic_arn=topology.reply_topic_arn)
    sqs, sns = boto3.client("sqs"), boto3.client("sns")

    def temporary() -> tuple[list[str], list[str]]:
        queues = sqs.list_queues(QueueNamePrefix="asyncmcp-reply-").get("QueueUrls", [])
        topics = [t["TopicArn"] for t in sns.list_topics()["Topics"] if ":asyncmcp-reply-" in t["TopicArn"]]
        return queues, topics

    with anyio.fail_after(HANG_GUARD):
        async with (
            SnsSqsWorker(build_server(), server_config),
            Client(sns_sqs_client(SnsSqsClientConfig(sns_topic_arn=topology.request_topic_arn))) as client,
        ):
            assert text_of(await client.call_tool("echo", {"text": "temp"})) == "temp"
            queues, topics = temporary()
            assert len(queues) == 1 and len(topics) == 1
    assert temporary() == ([], [])


async def test_an_observer_sees_every_request_and_a_shadow_server_never_answers(aws: Any) -> None:
    topology = await provision_topology(observers=("audit", "shadow"))
    server_config = SnsSqsServerConfig(sqs_queue_url=topology.server_queue_url, sns_topic_arn=topology.reply_topic_arn)
    shadow_config = SnsSqsServerConfig(
        sqs_queue_url=topology.observer_queue_urls["shadow"], sns_topic_arn=topology.reply_topic_arn, shadow=True
    )
    seen: list[str] = []

    async def audit() -> None:
        async for message in observe(SnsSqsServerConfig(sqs_queue_url=topology.observer_queue_urls["audit"])):
            method = getattr(message.message, "method", None)
            if method == "tools/call":
                seen.append(json.loads(message.body)["params"]["arguments"]["text"])

    with anyio.fail_after(HANG_GUARD):
        async with (
            SnsSqsWorker(build_server(), server_config),
            SnsSqsWorker(build_server(), shadow_config) as shadow,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(audit)
            config = SnsSqsClientConfig(
                sns_topic_arn=topology.request_topic_arn,
                sqs_queue_url=topology.client_queue_urls["tester"],
                client_id="tester",
            )
            async with Client(sns_sqs_client(config)) as client:
                for text in ("one", "two", "three"):
                    assert text_of(await client.call_tool("echo", {"text": text})) == text
            await wait_for(lambda: len(seen) == 3)
            engine = shadow.engine
            assert engine is not None
            await wait_for(lambda: engine.stats["shadowed"] >= 4)  # discover + three calls, each run, none answered
            tg.cancel_scope.cancel()
    assert seen == ["one", "two", "three"]
    # One answer per call reached the client queue: the shadow's answers went nowhere.
    assert boto3.client("sqs").receive_message(QueueUrl=topology.client_queue_urls["tester"]).get("Messages") is None


async def test_competing_workers_share_the_server_queue(aws: Any) -> None:
    topology = await provision_topology()
    server_config = SnsSqsServerConfig(
        sqs_queue_url=topology.server_queue_url, sns_topic_arn=topology.reply_topic_arn, max_in_flight=1
    )
    server = build_server()

    @server.tool()
    async def pause() -> str:
        await anyio.sleep(0.2)
        return "paused"

    config = SnsSqsClientConfig(
        sns_topic_arn=topology.request_topic_arn, sqs_queue_url=topology.client_queue_urls["tester"], client_id="tester"
    )
    with anyio.fail_after(HANG_GUARD):
        async with (
            SnsSqsWorker(server, server_config) as first,
            SnsSqsWorker(server, server_config) as second,
            Client(sns_sqs_client(config)) as client,
            anyio.create_task_group() as tg,
        ):
            for _ in range(6):
                tg.start_soon(client.call_tool, "pause", {})
    assert first.engine is not None and second.engine is not None
    assert first.engine.stats["answered"] >= 1 and second.engine.stats["answered"] >= 1


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_fifo_topics_and_queues_carry_both_eras(aws: Any, mode: Any) -> None:
    topology = await provision_topology(fifo=True)
    server_config = SnsSqsServerConfig(
        sqs_queue_url=topology.server_queue_url, sns_topic_arn=topology.reply_topic_arn, wait_time_seconds=1
    )
    config = SnsSqsClientConfig(
        sns_topic_arn=topology.request_topic_arn,
        sqs_queue_url=topology.client_queue_urls["tester"],
        client_id="tester",
        wait_time_seconds=1,
    )
    with anyio.fail_after(HANG_GUARD):
        async with SnsSqsWorker(build_server(), server_config), Client(sns_sqs_client(config), mode=mode) as client:
            assert text_of(await client.call_tool("echo", {"text": "in order"})) == "in order"


async def test_a_frame_with_more_attributes_than_sns_delivers_is_refused_before_publishing(aws: Any) -> None:
    topology = await provision_topology()
    attributes = {f"a{index}": "x" for index in range(MAX_ATTRIBUTES + 1)}
    async with (
        SqsApi() as sqs,
        SnsApi() as sns,
        SqsChannel(sqs) as queues,
        SnsSqsChannel(queues, sns) as channel,
    ):
        with pytest.raises(ChannelError, match="11 attributes") as refused:
            await channel.send(topology.request_topic_arn, Frame("{}", attributes))
        assert refused.value.permanent
        assert sns.calls["Publish"] == sns.calls["PublishBatch"] == 0


async def test_a_result_over_the_topic_limit_is_a_clear_error(aws: Any) -> None:
    topology = await provision_topology()
    server_config = SnsSqsServerConfig(sqs_queue_url=topology.server_queue_url, sns_topic_arn=topology.reply_topic_arn)
    config = SnsSqsClientConfig(
        sns_topic_arn=topology.request_topic_arn, sqs_queue_url=topology.client_queue_urls["tester"], client_id="tester"
    )
    with anyio.fail_after(HANG_GUARD):
        async with SnsSqsWorker(build_server(), server_config), Client(sns_sqs_client(config)) as client:
            with pytest.raises(MCPError) as raised:
                await client.call_tool("big", {"size": 300_000})
            assert "262144-byte limit" in raised.value.error.message
            assert text_of(await client.call_tool("echo", {"text": "after"})) == "after"


async def test_a_reply_topic_of_another_account_is_refused_and_logged(aws: Any, caplog: Any) -> None:
    topology = await provision_topology()
    server_config = SnsSqsServerConfig(sqs_queue_url=topology.server_queue_url, sns_topic_arn=topology.reply_topic_arn)
    foreign = "arn:aws:sns:us-east-1:999999999999:someone-elses-topic"
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}})
    caplog.set_level(logging.WARNING, logger="asyncmcp.server.engine")
    with anyio.fail_after(HANG_GUARD):
        async with SnsSqsWorker(build_server(), server_config) as worker:
            boto3.client("sns").publish(
                TopicArn=topology.request_topic_arn,
                Message=body,
                MessageAttributes={
                    ATTR_CLIENT_ID: {"DataType": "String", "StringValue": "intruder"},
                    ATTR_REPLY_TO: {"DataType": "String", "StringValue": foreign},
                },
            )
            engine = worker.engine
            assert engine is not None
            await wait_for(lambda: engine.stats["refused"] >= 1)
    assert any("is not allowed" in record.message and foreign in record.message for record in caplog.records)


async def test_a_subscription_without_raw_delivery_is_served_from_the_sns_envelope(aws: Any) -> None:
    topology = await provision_topology()
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    enveloped = sqs.create_queue(QueueName=f"enveloped-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=enveloped, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topology.request_topic_arn, Protocol="sqs", Endpoint=arn)  # no RawMessageDelivery
    server_config = SnsSqsServerConfig(sqs_queue_url=enveloped, sns_topic_arn=topology.reply_topic_arn)
    config = SnsSqsClientConfig(
        sns_topic_arn=topology.request_topic_arn, sqs_queue_url=topology.client_queue_urls["tester"], client_id="tester"
    )
    with anyio.fail_after(HANG_GUARD):
        async with (
            SnsSqsWorker(build_server(), server_config) as worker,
            # The provisioned raw-delivery server queue gets every request too; nobody serves it here.
            Client(sns_sqs_client(config)) as client,
        ):
            assert text_of(await client.call_tool("echo", {"text": "wrapped"})) == "wrapped"
            assert worker.engine is not None and worker.engine.stats["answered"] >= 1


def test_an_sns_envelope_is_unwrapped_and_anything_else_passes_through() -> None:
    inner = '{"jsonrpc":"2.0","method":"x"}'
    envelope = json.dumps(
        {
            "Type": "Notification",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": inner,
            "MessageAttributes": {ATTR_CLIENT_ID: {"Type": "String", "Value": "c1"}},
        }
    )
    unwrapped = unwrap_envelope(Frame(envelope, {}))
    assert unwrapped.body == inner and unwrapped.attributes == {ATTR_CLIENT_ID: "c1"}
    for body in (inner, '{"Type": "Notification"}', "not json", '{"Type":"Notification","TopicArn":"a","Message":1}'):
        assert unwrap_envelope(Frame(body, {})).body == body


async def test_provisioning_twice_changes_nothing_and_adds_what_is_new(aws: Any) -> None:
    name = f"again-{uuid.uuid4().hex[:6]}"
    async with SqsApi() as sqs, SnsApi() as sns:
        first = await provision_sns_sqs(name, client_ids=("a",), sqs=sqs, sns=sns)
        second = await provision_sns_sqs(name, client_ids=("a", "b"), sqs=sqs, sns=sns)
    assert first.request_topic_arn == second.request_topic_arn
    assert first.client_queue_urls["a"] == second.client_queue_urls["a"]
    assert set(second.client_queue_urls) == {"a", "b"}
    subscriptions = boto3.client("sns").list_subscriptions_by_topic(TopicArn=second.reply_topic_arn)["Subscriptions"]
    assert len(subscriptions) == 2  # one per client queue, not one per run
    policy = boto3.client("sqs").get_queue_attributes(QueueUrl=second.server_queue_url, AttributeNames=["Policy"])
    statement = json.loads(policy["Attributes"]["Policy"])["Statement"][0]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == second.request_topic_arn


CLIENT_TOPIC = "arn:aws:sns:us-east-1:123456789012:requests"


async def test_the_sqs_client_is_built_for_the_region_the_queue_url_names(aws: Any) -> None:
    config = SnsSqsClientConfig(
        sns_topic_arn=CLIENT_TOPIC, sqs_queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/replies"
    )
    async with registry.get("sns_sqs").open_client(config, {}) as binding:
        assert isinstance(binding.channel, SnsSqsChannel)
        assert binding.channel.queues.api.region == "eu-west-1"  # the environment says us-east-1


async def test_the_sns_client_is_built_for_the_region_of_the_topic_else_of_the_queue(aws: Any) -> None:
    """SNS serves a topic only in its own region: a client publishing requests to a topic of another
    region than the environment's (or its queue's) must call that region. A server publishes to the
    topics of its queue's region (what its reply policy allows by default)."""
    topic = "arn:aws:sns:eu-central-1:123456789012:requests"
    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/replies"
    client = SnsSqsClientConfig(sns_topic_arn=topic, sqs_queue_url=queue)
    async with registry.get("sns_sqs").open_client(client, {}) as binding:
        assert isinstance(binding.channel, SnsSqsChannel)
        assert binding.channel.sns.region == "eu-central-1"  # the environment says us-east-1
    # A server: the region of its queue (the channel passes no topic for it).
    async with SnsApi(topic_arn=None, region="eu-west-1") as sns, SnsApi(topic_arn=topic, region="eu-west-1") as named:
        assert (sns.region, named.region) == ("eu-west-1", "eu-central-1")


async def test_a_queue_url_that_is_not_aws_is_refused_without_an_endpoint(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS", raising=False)
    config = SnsSqsClientConfig(sns_topic_arn=CLIENT_TOPIC, sqs_queue_url="http://127.0.0.1:4566/123456789012/replies")
    with pytest.raises(ChannelError, match="not an AWS queue URL"):
        async with registry.get("sns_sqs").open_client(config, {}):
            pass


def test_the_transport_config_leaves_unset_client_settings_to_the_client_configs_defaults() -> None:
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/replies"
    unset = SnsSqsTransportConfig(sqs_queue_url=queue, sns_topic_arn=CLIENT_TOPIC).client_config()
    defaults = SnsSqsClientConfig(sns_topic_arn=CLIENT_TOPIC)
    assert unset.client_id is not None and unset.client_id.startswith("client-")
    assert unset.transport_timeout_seconds == defaults.transport_timeout_seconds
    assert unset.visibility_timeout_seconds == defaults.visibility_timeout_seconds
    chosen = SnsSqsTransportConfig(
        sqs_queue_url=queue,
        sns_topic_arn=CLIENT_TOPIC,
        client_id="app",
        transport_timeout_seconds=7,
        keep_fresh_answers=False,
    ).client_config()
    assert (chosen.client_id, chosen.transport_timeout_seconds, chosen.keep_fresh_answers) == ("app", 7, False)
    assert unset.keep_fresh_answers
