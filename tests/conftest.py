"""Fixtures: a real SQS/SNS/S3 endpoint (moto server over HTTP on 127.0.0.1) and queues on it.

Transport tests talk to this endpoint through real aiobotocore/boto3 clients; nothing here mocks
AWS. State is reset before each test so tests never see each other's queues.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from hypothesis import settings

from asyncmcp.local.endpoint import LocalEndpoint

settings.register_profile("asyncmcp", deadline=None, max_examples=150)
settings.load_profile("asyncmcp")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def endpoint() -> Iterator[LocalEndpoint]:
    with LocalEndpoint.in_process() as local, local.exported():
        yield local


@dataclass
class Queues:
    endpoint: str
    request: str
    reply: str
    payload_bucket: str
    """An S3 bucket on the same endpoint, for the claim-check of frames over a queue's limit."""

    def create(self, name: str, **attributes: str) -> str:
        return boto3.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


@pytest.fixture
def queues(endpoint: LocalEndpoint) -> Queues:
    endpoint.reset()
    sqs = boto3.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    request = sqs.create_queue(QueueName=f"requests-{suffix}", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    reply = sqs.create_queue(QueueName=f"replies-{suffix}")["QueueUrl"]
    bucket = f"payloads-{suffix}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return Queues(endpoint.url, request, reply, bucket)


TRANSPORTS = ["sqs", "sns_sqs", "webhook", "hybrid"]
"""Every channel the protocol suite runs over."""


@pytest.fixture(params=TRANSPORTS)
async def deployment(request: pytest.FixtureRequest, queues: Queues) -> Any:
    """The test server's deployment on each transport (see tests/deployments.py)."""
    from tests.deployments import (
        HybridDeployment,
        SnsSqsDeployment,
        SqsDeployment,
        WebhookDeployment,
        provision_topology,
    )

    if request.param == "sqs":
        return SqsDeployment(queues.request, queues.reply)
    if request.param == "webhook":
        return WebhookDeployment()
    if request.param == "hybrid":
        return HybridDeployment()
    return SnsSqsDeployment(await provision_topology())
