"""The SNS+SQS channel: frames to a topic are published; frames are received from subscribed queues.

Receiving, acknowledging, releasing and holding are the SQS channel's (a subscribed queue is an
SQS queue), so this channel wraps one and adds what SNS changes:

- a frame sent to a topic ARN is published (`Publish`, or one `PublishBatch` shared by every frame
  that became ready while the previous call was in flight, as sends batch on SQS); a frame sent to
  a queue URL (a receiver's own wake frame) goes to SQS;
- a received body that is an SNS envelope (a subscription without raw delivery) is unwrapped: its
  `Message` is the frame and its `MessageAttributes` the attributes, so both delivery styles work;
- SNS with raw delivery silently discards a message with more than 10 attributes, so a frame that
  would carry more is refused before publishing, with an error naming the count;
- a topic takes 256 KiB per message (body and attributes), unless raised on the topic;
- with a payload bucket, a frame over that is published as an S3 pointer (`channels/claim_check.py`,
  the SQS channel's claim-check), and pointers are resolved after unwrapping, so both delivery
  styles carry them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from asyncmcp.channels.base import Capabilities
from asyncmcp.channels.batching import Batcher, BatchOutcome
from asyncmcp.channels.claim_check import message_attribute
from asyncmcp.channels.sns_sqs.api import SNS, SnsApi
from asyncmcp.channels.sqs.channel import MAX_ATTRIBUTES, SQS_CAPABILITIES, SqsChannel, SqsDelivery
from asyncmcp.codec import Frame, as_mapping
from asyncmcp.errors import AddressNotFoundError, ChannelError, FrameTooLargeError

__all__ = ["MAX_ATTRIBUTES", "SNS_MAX_MESSAGE_BYTES", "SnsSqsChannel", "is_topic", "unwrap_envelope"]

logger = logging.getLogger(__name__)

SNS_MAX_MESSAGE_BYTES = 262_144
"""SNS's default limit for one message, body and attributes together (and for one PublishBatch)."""

_TOO_LARGE_HINT = (
    "send smaller payloads (for example page large results), set a payload bucket (--payload-bucket) to carry "
    "large ones through S3, or raise the topic's MaximumMessageSize"
)


def is_topic(address: str) -> bool:
    """Topic addresses are ARNs (`arn:aws:sns:...`); queue addresses are URLs."""
    return address.startswith("arn:") and ":sns:" in address


def _to_sns_attributes(attributes: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {name: message_attribute(name, value) for name, value in attributes.items()}


def unwrap_envelope(frame: Frame) -> Frame:
    """The frame inside an SNS notification envelope, or `frame` itself when it is not one."""
    body = frame.body
    if '"Notification"' not in body or '"TopicArn"' not in body:
        return frame
    try:
        envelope = as_mapping(json.loads(body))
    except ValueError:
        return frame
    if envelope is None or envelope.get("Type") != "Notification" or not isinstance(envelope.get("Message"), str):
        return frame
    attributes: dict[str, str] = dict(frame.attributes)
    for name, value in (as_mapping(envelope.get("MessageAttributes")) or {}).items():
        fields = as_mapping(value)
        text = fields.get("Value") if fields is not None else None
        if isinstance(text, str):
            attributes[name] = text
    return Frame(envelope["Message"], attributes, frame.ordering_key, frame.dedupe_key)


class SnsSqsChannel:
    """`Channel` over SNS topics (sending) and SQS queues (receiving). Use as `async with`."""

    def __init__(self, queues: SqsChannel, sns: SnsApi) -> None:
        self.queues = queues
        self.sns = sns
        self._custom = queues.custom_attributes
        self._limits: dict[str, int] = {}
        self._publisher: Batcher[str, Frame] = Batcher(
            self._publish_batch, name="PublishBatch", max_weight=SNS_MAX_MESSAGE_BYTES
        )

    async def __aenter__(self) -> SnsSqsChannel:
        await self._publisher.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._publisher.__aexit__(None, None, None)

    @property
    def capabilities(self) -> Capabilities:
        return SQS_CAPABILITIES

    @property
    def calls(self) -> Counter[str]:
        return self.queues.calls + self.sns.calls

    def frame_size(self, frame: Frame) -> int:
        return self.queues.frame_size(frame)  # SNS counts attributes as SQS does: name, type, value

    def max_frame_size(self, address: str) -> int:
        if is_topic(address):
            return self._limits.get(address, SNS_MAX_MESSAGE_BYTES)
        return self.queues.max_frame_size(address)

    async def send(self, address: str, frame: Frame, *, urgent: bool = False) -> None:
        if not is_topic(address):
            await self.queues.send(address, frame, urgent=urgent)
            return
        count = len({**self._custom, **frame.attributes})
        if count > MAX_ATTRIBUTES:
            raise ChannelError(
                f"a message to {address} would carry {count} attributes; SNS raw delivery drops messages with more "
                f"than {MAX_ATTRIBUTES}: use fewer message_attributes",
                address=address,
                code="TooManyAttributes",
                permanent=True,
            )
        limit = self.max_frame_size(address)
        frame = await self.queues.offload_if_large(address, frame, limit)
        size = self.frame_size(frame)
        if size > limit:
            raise FrameTooLargeError(size=size, limit=limit, address=address, hint=_TOO_LARGE_HINT)
        if urgent:
            (outcome,) = await self._publish_batch(address, [frame])
            if outcome is not None:
                raise outcome
            return
        await self._publisher.submit(address, frame, weight=size)

    def _entry(self, address: str, frame: Frame) -> dict[str, Any]:
        attributes = {**self._custom, **frame.attributes}
        entry: dict[str, Any] = {"Message": frame.body}
        if attributes:
            entry["MessageAttributes"] = _to_sns_attributes(attributes)
        if address.endswith(".fifo"):
            entry["MessageGroupId"] = frame.ordering_key or "asyncmcp"
            dedupe = frame.dedupe_key or uuid.uuid4().hex
            entry["MessageDeduplicationId"] = hashlib.sha256(dedupe.encode()).hexdigest()
        return entry

    async def _publish_batch(self, address: str, frames: Sequence[Frame]) -> Sequence[BatchOutcome]:
        if len(frames) == 1:
            try:
                await self.sns.call("Publish", "publish", address, TopicArn=address, **self._entry(address, frames[0]))
            except ChannelError as exc:
                return [exc]
            return [None]
        entries = [{"Id": str(i), **self._entry(address, frame)} for i, frame in enumerate(frames)]
        try:
            response = await self.sns.call(
                "PublishBatch", "publish_batch", address, TopicArn=address, PublishBatchRequestEntries=entries
            )
        except AddressNotFoundError:
            raise
        except ChannelError as exc:
            if not exc.permanent:
                return [exc] * len(frames)  # throttling or a 5xx: the senders' own retries apply
            # A whole batch is refused for one bad entry: publish them one by one so only it fails.
            return [outcome for frame in frames for outcome in await self._publish_batch(address, [frame])]
        outcomes: list[BatchOutcome] = [None] * len(frames)
        for failed in response.get("Failed", []):
            code = failed.get("Code")
            outcomes[int(failed["Id"])] = ChannelError(
                f"SNS refused a message for {address}: {code}: {failed.get('Message', '')}",
                address=address,
                code=code,
                permanent=SNS.is_permanent(code) or bool(failed.get("SenderFault")),
            )
        return outcomes

    async def receive(self, address: str, max_frames: int) -> Sequence[SqsDelivery]:
        deliveries = await self.queues.receive(address, max_frames)
        for delivery in deliveries:
            delivery.frame = unwrap_envelope(delivery.frame)
        await self.queues.resolve_payloads(deliveries)  # pointers that arrived inside an SNS envelope
        return deliveries

    async def learn_topic_limit(self, address: str) -> None:
        """Read a topic's MaximumMessageSize once (when it was raised above the default)."""
        response = await self.sns.call("GetTopicAttributes", "get_topic_attributes", address, TopicArn=address)
        raised = response.get("Attributes", {}).get("MaximumMessageSize")
        if raised:
            self._limits[address] = int(raised)
