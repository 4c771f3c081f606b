"""The SQS channel: long-poll receive, batched send/delete/visibility calls, visibility heartbeat.

Costs and latency are set here. Each hop is one SendMessage (or one SendMessageBatch shared by
every frame that became ready while the previous call was in flight) and one long-poll
ReceiveMessage that returns as soon as a message lands. Deletes are handed to a batcher and never
awaited on the reply path. A message held by a handler has its visibility extended only when it
would otherwise expire, so quick requests cost no heartbeat calls at all.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc

from asyncmcp.channels.base import Capabilities
from asyncmcp.channels.batching import Batcher, BatchOutcome
from asyncmcp.channels.claim_check import ClaimCheck, PayloadPointer, is_pointer, message_attribute, unresolvable
from asyncmcp.channels.holding import Holds
from asyncmcp.channels.sqs.api import NOT_FOUND_CODES, SqsApi, is_permanent
from asyncmcp.channels.sqs.config import SqsPolling
from asyncmcp.codec import MAX_FRAME_ATTRIBUTES, Frame, as_mapping, utf8_length
from asyncmcp.errors import AddressNotFoundError, ChannelError, FrameTooLargeError

__all__ = [
    "DELETE_LINGER_SECONDS",
    "MAX_ATTRIBUTES",
    "SQS_CAPABILITIES",
    "SQS_MAX_MESSAGE_BYTES",
    "TEMPORARY_TAG",
    "SqsChannel",
    "SqsDelivery",
    "is_fifo",
    "sqs_frame_size",
]

logger = logging.getLogger(__name__)

SQS_MAX_MESSAGE_BYTES = 1_048_576
"""SQS's ceiling for one message, body and attributes together (and for one batch call)."""

_TOO_LONG = re.compile(r"(too long|shorter than|exceeds)", re.IGNORECASE)
_STATED_LIMIT = re.compile(r"shorter than (\d+) bytes", re.IGNORECASE)
_QUEUE_NAME_OK = re.compile(r"[^A-Za-z0-9_-]")
_WHOLE_QUEUE_ERRORS = NOT_FOUND_CODES | {"AccessDenied", "AccessDeniedException"}
"""Batch failures that concern the queue, not one entry: sending singly would fail the same way."""

SQS_CAPABILITIES = Capabilities(
    redelivers=True,
    delayed_release=True,
    holds_deliveries=True,
    dead_letter=True,
    wake_frames=True,
    shared_addresses=True,
)
"""SQS keeps a message until it is deleted, hides it while held (visibility), redelivers it when
released or when its holder dies, has redrive policies, and an abandoned long poll stays open at
the broker (so receivers end their own with a wake frame)."""

TEMPORARY_TAG = "asyncmcp-temporary"
"""Tag of a temporary reply queue: when its owner last said it is alive (Unix seconds)."""

SECRET_BYTES = 32
"""Random bytes of a secret kept with a queue (64 hex characters; a tag value takes 256)."""

SECRET_SETTLE_SECONDS = 1.0
"""After creating a queue's secret, the pause between reads of the one that stuck, so workers
starting together settle on one (paid once, by the first start of a queue)."""

SECRET_SETTLE_ROUNDS = 5
"""Reads after creating a queue's secret before the last one is taken even if it still changes."""

MAX_ATTRIBUTES = MAX_FRAME_ATTRIBUTES
"""Attributes one message may carry (`codec.MAX_FRAME_ATTRIBUTES`: SQS's limit, above which SNS raw
delivery drops the message); an S3 pointer's size attribute counts too."""

_TOO_LARGE_HINT = (
    "send smaller payloads (for example page large results), set a payload bucket (--payload-bucket) to carry "
    "large ones through S3, or raise the queue's MaximumMessageSize"
)


DELETE_LINGER_SECONDS = 2.0
"""How long a delete may wait for company. A caller doing one call after another acknowledges
several messages per DeleteMessageBatch this way instead of one DeleteMessage per call, and no
delete lands on the path of the next request. Until it is sent the message stays invisible (it
was received), and a delete always goes out `LAPSE_MARGIN_SECONDS` before the message's
visibility would lapse, so the linger never causes a redelivery; if the process dies inside it,
the message reappears after its visibility timeout and is deduplicated (docs/architecture.md)."""

LAPSE_MARGIN_SECONDS = 1.5
"""A delete or a visibility renewal reaches SQS at least this long before the message's visibility lapses."""

RELEASE_LINGER_SECONDS = 1.0
"""How long giving a message back (`release(delay)`) may wait for company: at most half its delay,
so a release that must act now (delay 0: a hand-back) goes at once."""


def _due(seconds_from_now: float) -> float:
    """An `anyio.current_time()` that many seconds from now (never in the past)."""
    return anyio.current_time() + max(0.0, seconds_from_now)


def sqs_frame_size(frame: Frame) -> int:
    """Bytes a frame counts against a queue's size limit: SQS counts attributes too (name, type, value)."""
    total = utf8_length(frame.body)
    for name, value in frame.attributes.items():
        total += len(name.encode()) + len("String") + len(value.encode())
    return total


def is_fifo(queue_url: str) -> bool:
    """FIFO queue names must end in `.fifo`, so the URL says which kind a queue is."""
    return queue_url.endswith(".fifo")


def _to_sqs_attributes(attributes: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {name: message_attribute(name, value) for name, value in attributes.items()}


def _from_sqs_attributes(raw: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (raw or {}).items():
        fields = as_mapping(value)
        text = fields.get("StringValue") if fields is not None else None
        if isinstance(text, str):
            out[str(name)] = text
    return out


@dataclass(eq=False)
class SqsDelivery:
    """A received SQS message, held (heartbeated) until acked or released."""

    frame: Frame
    receive_count: int
    age_seconds: float
    queue_url: str
    receipt_handle: str
    message_id: str
    _channel: SqsChannel = field(repr=False)
    payload: PayloadPointer | None = None
    """Where the frame's body was fetched from (an offloaded message); deleted after the message."""

    def ack(self) -> None:
        self._channel.settle(self, delete=True)

    def release(self, delay_seconds: float | None = 0.0) -> None:
        self._channel.settle(self, delete=False, delay_seconds=delay_seconds)


class SqsChannel:
    """`Channel` over SQS. Use as `async with SqsChannel(api, ...) as channel`."""

    def __init__(
        self,
        api: SqsApi,
        *,
        wait_time_seconds: int = 20,
        visibility_timeout_seconds: int = 30,
        poll_interval_seconds: float = 5.0,
        message_attributes: Mapping[str, str] | None = None,
        payloads: ClaimCheck | None = None,
    ) -> None:
        self.api = api
        self.payloads = payloads
        """Carries frames over the limit through S3 and resolves received pointers; None: off."""
        self._wait = wait_time_seconds
        self._visibility = visibility_timeout_seconds
        self._poll_interval = poll_interval_seconds
        self._custom = dict(message_attributes or {})
        self._limits: dict[str, int] = {}
        self._payload_objects: dict[str, PayloadPointer] = {}
        """Payload objects of held offloaded messages, by receipt handle, deleted after the message."""
        self._held: Holds[SqsDelivery] = Holds(visibility_timeout_seconds)
        self._tg: anyio.abc.TaskGroup | None = None
        self._sender: Batcher[str, Frame] = Batcher(
            self._send_batch, name="SendMessageBatch", max_weight=SQS_MAX_MESSAGE_BYTES
        )
        self._deleter: Batcher[str, str] = Batcher(self._delete_batch, name="DeleteMessageBatch")
        self._visibility_batcher: Batcher[str, tuple[str, int]] = Batcher(
            self._visibility_batch, name="ChangeMessageVisibilityBatch"
        )

    @classmethod
    def from_config(cls, api: SqsApi, config: SqsPolling, payloads: ClaimCheck | None = None) -> SqsChannel:
        """A channel with the polling settings of an `SqsServerConfig` or `SqsClientConfig`."""
        return cls(
            api,
            wait_time_seconds=config.wait_time_seconds,
            visibility_timeout_seconds=config.visibility_timeout_seconds,
            poll_interval_seconds=config.poll_interval_seconds,
            message_attributes=config.message_attributes,
            payloads=payloads,
        )

    async def __aenter__(self) -> SqsChannel:
        await self._sender.__aenter__()
        await self._deleter.__aenter__()
        await self._visibility_batcher.__aenter__()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._held.heartbeat, self._renew)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        await self._visibility_batcher.__aexit__(None, None, None)
        await self._deleter.__aexit__(None, None, None)
        await self._sender.__aexit__(None, None, None)

    @property
    def capabilities(self) -> Capabilities:
        return SQS_CAPABILITIES

    @property
    def custom_attributes(self) -> Mapping[str, str]:
        """The user's `message_attributes`, stamped on every message this channel sends."""
        return self._custom

    @property
    def calls(self) -> Counter[str]:
        if self.payloads is None:
            return self.api.calls
        return self.api.calls + self.payloads.api.calls

    # -- sending ---------------------------------------------------------------------------

    def frame_size(self, frame: Frame) -> int:
        return sqs_frame_size(frame) + sum(len(k) + len(v) + 6 for k, v in self._custom.items())

    def max_frame_size(self, address: str) -> int:
        return self._limits.get(address, SQS_MAX_MESSAGE_BYTES)

    def _entry(self, address: str, frame: Frame) -> dict[str, Any]:
        attributes = {**self._custom, **frame.attributes}
        entry: dict[str, Any] = {"MessageBody": frame.body}
        if attributes:
            entry["MessageAttributes"] = _to_sqs_attributes(attributes)
        if is_fifo(address):
            entry["MessageGroupId"] = frame.ordering_key or "asyncmcp"
            dedupe = frame.dedupe_key or uuid.uuid4().hex
            entry["MessageDeduplicationId"] = hashlib.sha256(dedupe.encode()).hexdigest()
        return entry

    async def offload_if_large(self, address: str, frame: Frame, limit: int) -> Frame:
        """`frame`, or the pointer to it in S3 when it is over the claim-check's threshold.

        Refused (naming the count) when the pointer's size attribute would take the message past
        `MAX_ATTRIBUTES`, which SQS refuses and SNS raw delivery silently drops.
        """
        if self.payloads is None or not self.payloads.needed(self.frame_size(frame), limit):
            return frame
        count = len({**self._custom, **frame.attributes}) + 1
        if count > MAX_ATTRIBUTES:
            raise ChannelError(
                f"a large message to {address} would carry {count} attributes with its S3 pointer's size; "
                f"at most {MAX_ATTRIBUTES} are allowed: use fewer message_attributes",
                address=address,
                code="TooManyAttributes",
                permanent=True,
            )
        return await self.payloads.offload(address, frame)

    async def send(self, address: str, frame: Frame, *, urgent: bool = False) -> None:
        limit = self.max_frame_size(address)
        frame = await self.offload_if_large(address, frame, limit)
        size = self.frame_size(frame)
        if size > limit:
            raise FrameTooLargeError(size=size, limit=limit, address=address, hint=_TOO_LARGE_HINT)
        if urgent:
            (outcome,) = await self._send_batch(address, [frame])
            if outcome is not None:
                raise outcome
            return
        await self._sender.submit(address, frame, weight=size)

    async def _send_batch(self, address: str, frames: Sequence[Frame]) -> Sequence[BatchOutcome]:
        if len(frames) == 1:
            try:
                await self.api.call(
                    "SendMessage", "send_message", address, QueueUrl=address, **self._entry(address, frames[0])
                )
            except AddressNotFoundError as exc:
                return [exc]
            except ChannelError as exc:
                return [self._send_error(address, frames[0], exc.code, str(exc))]
            return [None]
        entries = [{"Id": str(i), **self._entry(address, frame)} for i, frame in enumerate(frames)]
        try:
            response = await self.api.call(
                "SendMessageBatch", "send_message_batch", address, QueueUrl=address, Entries=entries
            )
        except ChannelError as exc:
            if exc.code in _WHOLE_QUEUE_ERRORS:
                raise
            entry_problem = exc.permanent or "TooLong" in (exc.code or "") or _TOO_LONG.search(str(exc))
            if not entry_problem:
                # Throttling, a 5xx, a dropped connection: every frame failed the same way, and the
                # senders' own retries apply. Ten single sends would only add to the throttling.
                return [exc] * len(frames)
            # SQS rejects a whole batch for one bad entry (one too long, say): send them one by
            # one so only the offending frame fails.
            logger.debug("batch to %s refused (%s); sending its %d frames singly", address, exc.code, len(frames))
            return [outcome for frame in frames for outcome in await self._send_batch(address, [frame])]
        outcomes: list[BatchOutcome] = [None] * len(frames)
        for failed in response.get("Failed", []):
            index = int(failed["Id"])
            outcomes[index] = self._send_error(address, frames[index], failed.get("Code"), failed.get("Message", ""))
        return outcomes

    def _send_error(self, address: str, frame: Frame, code: str | None, message: str) -> Exception:
        if _TOO_LONG.search(message or ""):
            stated = _STATED_LIMIT.search(message)
            if stated is not None:
                self._limits[address] = int(stated.group(1))  # later frames fail before the call
            return FrameTooLargeError(
                size=self.frame_size(frame), limit=self.max_frame_size(address), address=address, hint=_TOO_LARGE_HINT
            )
        return ChannelError(
            f"SQS refused a message for {address}: {code}: {message}",
            address=address,
            code=code,
            permanent=is_permanent(code),
        )

    # -- receiving -------------------------------------------------------------------------

    async def receive(self, address: str, max_frames: int) -> list[SqsDelivery]:
        response = await self.api.call(
            "ReceiveMessage",
            "receive_message",
            address,
            QueueUrl=address,
            MaxNumberOfMessages=max(1, min(10, max_frames)),
            WaitTimeSeconds=self._wait,
            VisibilityTimeout=self._visibility,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        now_wall = time.time()
        deliveries: list[SqsDelivery] = []
        for message in response.get("Messages", []):
            system = message.get("Attributes", {})
            sent_ms = int(system.get("SentTimestamp", 0) or 0)
            delivery = SqsDelivery(
                frame=Frame(
                    body=message.get("Body", ""), attributes=_from_sqs_attributes(message.get("MessageAttributes"))
                ),
                receive_count=int(system.get("ApproximateReceiveCount", 1) or 1),
                age_seconds=max(0.0, now_wall - sent_ms / 1000) if sent_ms else 0.0,
                queue_url=address,
                receipt_handle=message["ReceiptHandle"],
                message_id=message.get("MessageId", ""),
                _channel=self,
            )
            self._held.add(delivery.receipt_handle, delivery)
            deliveries.append(delivery)
        if not deliveries and self._wait == 0 and self._poll_interval:
            await anyio.sleep(self._poll_interval)  # short polling: the documented pause between polls
        await self.resolve_payloads(deliveries)
        return deliveries

    async def resolve_payloads(self, deliveries: Sequence[SqsDelivery]) -> None:
        """Replace each offloaded frame by the one its pointer names (concurrently; see `ClaimCheck.resolve`).

        Frames that are no pointers are left alone, so a wrapping channel (SNS+SQS) calls this
        again after unwrapping what it received.
        """
        payloads = self.payloads
        if payloads is None:
            for delivery in deliveries:
                if is_pointer(delivery.frame):
                    delivery.frame = unresolvable(delivery.frame)
            return

        async def resolve(delivery: SqsDelivery) -> None:
            delivery.frame, delivery.payload = await payloads.resolve(delivery.frame)
            if delivery.payload is not None:
                self._payload_objects[delivery.receipt_handle] = delivery.payload

        async with anyio.create_task_group() as group:
            for delivery in deliveries:
                if is_pointer(delivery.frame):
                    group.start_soon(resolve, delivery)

    def settle(self, delivery: SqsDelivery, *, delete: bool, delay_seconds: float | None = 0.0) -> None:
        """Stop holding `delivery`: delete it, or make it visible again after `delay_seconds` (None: let it lapse).

        Neither is sent at once (see `DELETE_LINGER_SECONDS`): they wait to share a batch call with
        the next ones, within the margin the message's visibility leaves.
        """
        held = self._held.pop(delivery.receipt_handle)
        if not delete:
            self._payload_objects.pop(delivery.receipt_handle, None)  # it comes back: its object is needed
        if held is None or (not delete and delay_seconds is None):
            return
        _, lapses = held
        try:
            if delete:
                due = _due(min(DELETE_LINGER_SECONDS, lapses - time.monotonic() - LAPSE_MARGIN_SECONDS))
                self._deleter.submit_nowait(delivery.queue_url, delivery.receipt_handle, due=due)
            else:
                delay = max(0.0, delay_seconds or 0.0)
                timeout = max(0, min(43200, round(delay)))
                due = _due(min(RELEASE_LINGER_SECONDS, delay / 2))
                self._visibility_batcher.submit_nowait(delivery.queue_url, (delivery.receipt_handle, timeout), due=due)
        except anyio.ClosedResourceError:
            logger.debug("channel closed before settling %s; SQS will redeliver it", delivery.message_id)

    async def _delete_batch(self, address: str, handles: Sequence[str]) -> Sequence[BatchOutcome]:
        try:
            outcomes = await self._delete_messages(address, handles)
        except ChannelError:
            for handle in handles:
                self._payload_objects.pop(handle, None)  # the message comes back, and needs its object
            raise
        if self.payloads is not None:
            for handle, outcome in zip(handles, outcomes, strict=True):
                pointer = self._payload_objects.pop(handle, None)
                if pointer is not None and outcome is None:
                    await self.payloads.discard(pointer)  # only once nothing can deliver its message again
        return outcomes

    async def _delete_messages(self, address: str, handles: Sequence[str]) -> Sequence[BatchOutcome]:
        if len(handles) == 1:
            await self.api.call("DeleteMessage", "delete_message", address, QueueUrl=address, ReceiptHandle=handles[0])
            return [None]
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        response = await self.api.call(
            "DeleteMessageBatch", "delete_message_batch", address, QueueUrl=address, Entries=entries
        )
        return self._batch_outcomes(address, len(handles), response)

    async def _visibility_batch(self, address: str, items: Sequence[tuple[str, int]]) -> Sequence[BatchOutcome]:
        entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": t} for i, (h, t) in enumerate(items)]
        response = await self.api.call(
            "ChangeMessageVisibilityBatch",
            "change_message_visibility_batch",
            address,
            QueueUrl=address,
            Entries=entries,
        )
        return self._batch_outcomes(address, len(items), response)

    @staticmethod
    def _batch_outcomes(address: str, count: int, response: Mapping[str, Any]) -> list[BatchOutcome]:
        outcomes: list[BatchOutcome] = [None] * count
        for failed in response.get("Failed", []):
            code = failed.get("Code")
            outcomes[int(failed["Id"])] = ChannelError(
                f"{code}: {failed.get('Message', '')}", address=address, code=code, permanent=is_permanent(code)
            )
        return outcomes

    def _renew(self, delivery: SqsDelivery, seconds: float, lapses: float) -> None:
        """Extend a held message's visibility (the heartbeat of `Holds`), in time before it lapses."""
        due = _due(lapses - time.monotonic() - LAPSE_MARGIN_SECONDS)
        self._visibility_batcher.submit_nowait(delivery.queue_url, (delivery.receipt_handle, round(seconds)), due=due)

    # -- what is kept with a queue ---------------------------------------------------------

    async def stored_secret(self, address: str, tag: str) -> str:
        """The secret kept as tag `tag` of queue `address`, created when absent.

        SQS has no conditional TagQueue, so workers starting at once may all write, and a write can
        land well after its worker read nothing (a slow answer to that read): after writing, each
        reads the tag again every `SECRET_SETTLE_SECONDS` until two reads in a row agree (at most
        `SECRET_SETTLE_ROUNDS` times) and uses that, the last write; so they end up with one secret
        unless a write lands a whole quiet pause after the others.
        """
        found = await self._tag(address, tag)
        if found:
            return found
        await self.api.call(
            "TagQueue", "tag_queue", address, QueueUrl=address, Tags={tag: secrets.token_hex(SECRET_BYTES)}
        )
        stored = await self._tag(address, tag)
        for _ in range(SECRET_SETTLE_ROUNDS):
            await anyio.sleep(SECRET_SETTLE_SECONDS)
            again = await self._tag(address, tag)
            if again == stored:
                break
            stored = again
        if not stored:
            raise ChannelError(f"the {tag} tag of {address} did not stick", address=address, permanent=True)
        return stored

    async def _tag(self, address: str, tag: str) -> str | None:
        response = await self.api.call("ListQueueTags", "list_queue_tags", address, QueueUrl=address)
        tags = as_mapping(response.get("Tags"))
        value = tags.get(tag) if tags is not None else None
        return value if isinstance(value, str) and value else None

    # -- reply queues ----------------------------------------------------------------------

    async def learn_limits(self, address: str) -> dict[str, str]:
        """Read a queue's attributes once and remember its size limit; returns them."""
        response = await self.api.call(
            "GetQueueAttributes", "get_queue_attributes", address, QueueUrl=address, AttributeNames=["All"]
        )
        attributes: dict[str, str] = response.get("Attributes", {})
        if "MaximumMessageSize" in attributes:
            self._limits[address] = int(attributes["MaximumMessageSize"])
        return attributes

    async def create_reply_address(self, name_hint: str) -> str:
        """Create a temporary reply queue, tagged as temporary and alive now (see `sweep_temporary`)."""
        name = _QUEUE_NAME_OK.sub("-", name_hint)[:80]
        response = await self.api.call(
            "CreateQueue",
            "create_queue",
            None,
            QueueName=name,
            Attributes={"MessageRetentionPeriod": "3600", "VisibilityTimeout": str(self._visibility)},
            tags={TEMPORARY_TAG: str(int(time.time()))},
        )
        return str(response["QueueUrl"])

    async def mark_alive(self, address: str) -> None:
        """Tell `sweep_temporary` that the owner of temporary queue `address` is still running."""
        await self.api.call(
            "TagQueue", "tag_queue", address, QueueUrl=address, Tags={TEMPORARY_TAG: str(int(time.time()))}
        )

    async def sweep_temporary(self, prefix: str, idle_seconds: float) -> list[str]:
        """Delete the queues named `prefix*` that carry the temporary tag and whose owner last marked
        them alive more than `idle_seconds` ago; queues without the tag are never touched."""
        deleted: list[str] = []
        now = time.time()
        for url in await self._queue_urls(prefix):
            try:
                alive = await self._tag(url, TEMPORARY_TAG)
                if alive is None or not alive.isdigit() or now - int(alive) <= idle_seconds:
                    continue
                await self.delete_reply_address(url)
            except AddressNotFoundError:
                continue  # deleted meanwhile (by its owner, or another sweeper)
            logger.info("deleted %s: a temporary queue idle for %.0f s", url, now - int(alive))
            deleted.append(url)
        return deleted

    async def _queue_urls(self, prefix: str) -> list[str]:
        urls: list[str] = []
        token: str | None = None
        while True:
            page = {"NextToken": token} if token else {}
            response = await self.api.call(
                "ListQueues", "list_queues", None, QueueNamePrefix=prefix, MaxResults=1000, **page
            )
            urls.extend(str(url) for url in response.get("QueueUrls", []))
            token = response.get("NextToken")
            if not token:
                return urls

    async def delete_reply_address(self, address: str) -> None:
        for batcher in (self._deleter, self._visibility_batcher):
            batcher.discard(address)  # messages of a deleted queue need no deleting
        await self.api.call("DeleteQueue", "delete_queue", address, QueueUrl=address)
