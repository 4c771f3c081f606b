"""An observer of an SNS+SQS request topic: its own queue, every request, no answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from asyncmcp.channels.sns_sqs.config import SnsSqsServerConfig
from asyncmcp.observing import ObservedMessage
from asyncmcp.observing import observe as observe_address

__all__ = ["ObservedMessage", "observe"]


def observe(
    config: SnsSqsServerConfig, sqs_client: Any = None, sns_client: Any = None
) -> AsyncIterator[ObservedMessage]:
    """Every request published to the topic `config.sqs_queue_url` subscribes to, as it arrives.

    ```python
    async for seen in observe(SnsSqsServerConfig(sqs_queue_url=OBSERVER_QUEUE)):
        audit_log.write(seen.body)
    ```
    """
    return observe_address(config, {"sqs_client": sqs_client, "sns_client": sns_client})
