"""The API of the original documents (../shared/seeds), as they write it."""

from __future__ import annotations

import anyio
import boto3
import pytest
from mcp import Client
from pydantic import ValidationError

from asyncmcp.sqs import sqs_client
from asyncmcp.sqs.utils import SqsClientConfig, SqsServerConfig
from tests.sqs_helpers import serving

pytestmark = pytest.mark.anyio

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/mcp-requests"


def test_the_seed_configs_import_from_sqs_utils_and_build_a_proxy(queues) -> None:
    from asyncmcp.proxy import create_proxy_server

    backend_config = SqsClientConfig(read_queue_url=queues.request, response_queue_url=queues.reply)
    proxy = create_proxy_server(
        backend_transport="sqs",
        backend_config=backend_config,
        backend_clients={"sqs_client": boto3.client("sqs")},
        port=8080,
    )
    assert proxy.port == 8080
    assert SqsServerConfig(read_queue_url=queues.request).read_queue_url == queues.request


def test_client_id_is_generated_when_not_given() -> None:
    first, second = SqsClientConfig(read_queue_url=URL), SqsClientConfig(read_queue_url=URL)
    assert first.client_id and second.client_id
    assert first.client_id != second.client_id
    assert SqsClientConfig(read_queue_url=URL, client_id="mine").client_id == "mine"


def test_message_attributes_take_the_values_the_seed_dict_took() -> None:
    config = SqsClientConfig(
        read_queue_url=URL,
        message_attributes={"team": "blue", "priority": 5, "urgent": True},
    )
    assert config.message_attributes == {"team": "blue", "priority": "5", "urgent": "true"}
    as_boto3 = SqsServerConfig(
        read_queue_url=URL, message_attributes={"ratio": {"DataType": "Number", "StringValue": "0.5"}}
    )
    assert as_boto3.message_attributes == {"ratio": "0.5"}


def test_a_binary_message_attribute_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as refused:
        SqsClientConfig(read_queue_url=URL, message_attributes={"blob": {"DataType": "Binary", "BinaryValue": b"x"}})
    assert "message_attributes['blob']" in str(refused.value)


@pytest.mark.parametrize("config_class", [SqsClientConfig, SqsServerConfig])
def test_with_a_payload_bucket_message_attributes_leave_room_for_the_s3_pointer(config_class: type) -> None:
    three = {"team": "blue", "priority": "5", "urgent": "true"}
    assert config_class(read_queue_url=URL, message_attributes=three).message_attributes == three
    two = dict(list(three.items())[:2])
    assert config_class(read_queue_url=URL, payload_bucket="payloads", message_attributes=two).message_attributes == two
    with pytest.raises(ValidationError, match="message_attributes takes at most 2 entries when payload_bucket is set"):
        config_class(read_queue_url=URL, payload_bucket="payloads", message_attributes=three)


async def test_converted_message_attributes_reach_the_server(queues) -> None:
    config = SqsClientConfig(
        read_queue_url=queues.request,
        response_queue_url=queues.reply,
        message_attributes={"team": "blue", "priority": 5},
    )
    with anyio.fail_after(30):
        async with serving(queues), Client(sqs_client(config)) as client:
            result = await client.call_tool("attributes", {})
    lines = result.content[0].text.splitlines()
    assert "team=blue" in lines
    assert "priority=5" in lines
