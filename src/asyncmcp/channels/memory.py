"""An in-process channel with a queue service's semantics, for tests (yours and ours).

`MemoryBroker` holds queues the way SQS does: a received frame is hidden for a visibility timeout
and comes back when it is released or its holder lets the hold lapse, receive counts and ages are
kept, `release(delay)` delays redelivery, a redrive policy moves a frame to a dead-letter queue
after too many receives, each queue has a size limit, and a receive waits (long poll) until a frame
is visible. So a server and a client can be tested over asyncmcp with no broker process, and the
engine's behaviour under redelivery can be tested without timing a real one:

```python
from asyncmcp.testing import MemoryBroker, MemoryClientConfig, MemoryServerConfig, connect, serve

broker = MemoryBroker()
async with anyio.create_task_group() as tg:
    await tg.start(serve, my_server, MemoryServerConfig(queue="requests", broker=broker))
    async with Client(connect(MemoryClientConfig(queue="requests", broker=broker))) as client:
        ...
```

`broker.fail_next(operation, ...)` makes the next calls of an operation fail, to test error paths.
Addresses are `memory://<queue name>`. A broker is used from one event loop at a time. Unlike SQS,
a receive that is abandoned takes nothing with it, so no wake frames are needed.
"""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, ClassVar

import anyio
import anyio.abc
from pydantic import ConfigDict, Field, field_validator

from asyncmcp.channels.base import Capabilities, ChannelTransport, ClientBinding, ServerBinding
from asyncmcp.channels.config import ClientSettings, ServerSettings
from asyncmcp.channels.holding import Holds
from asyncmcp.codec import Frame, utf8_length
from asyncmcp.errors import AddressNotFoundError, ChannelError, FrameTooLargeError

__all__ = [
    "MEMORY_CAPABILITIES",
    "PUSH_CAPABILITIES",
    "MemoryBroker",
    "MemoryChannel",
    "MemoryClientConfig",
    "MemoryDelivery",
    "MemoryReplyPolicy",
    "MemoryServerConfig",
    "MemoryTransport",
    "memory_address",
]

SCHEME = "memory://"

DEFAULT_MAX_FRAME_BYTES = 1_048_576
"""A queue's size limit unless created with another (the same as SQS's)."""

MEMORY_CAPABILITIES = Capabilities(
    redelivers=True,
    delayed_release=True,
    holds_deliveries=True,
    dead_letter=True,
    wake_frames=False,
    shared_addresses=True,
)

PUSH_CAPABILITIES = Capabilities(
    redelivers=False,
    delayed_release=False,
    holds_deliveries=False,
    dead_letter=False,
    wake_frames=False,
    shared_addresses=False,
)
"""What a push channel (a webhook) declares; `MemoryChannel(push=True)` behaves so, for tests of the
engine's push path: a released frame is dropped, nothing is ever redelivered."""


def memory_address(name_or_address: str) -> str:
    """`requests` or `memory://requests` -> `memory://requests`."""
    return name_or_address if name_or_address.startswith(SCHEME) else f"{SCHEME}{name_or_address}"


@dataclass(eq=False)
class _Message:
    message_id: str
    frame: Frame
    sent_at: float
    visible_at: float
    receive_count: int = 0
    receipt: str | None = None


@dataclass(eq=False)
class _Queue:
    address: str
    max_frame_size: int
    visibility_timeout: float
    dead_letter: str | None
    max_receive_count: int | None
    messages: dict[str, _Message] = field(default_factory=dict[str, _Message])
    waiters: set[anyio.Event] = field(default_factory=set[anyio.Event])
    secret: str | None = None

    def wake_all(self) -> None:
        for event in list(self.waiters):
            event.set()

    def next_visible_at(self) -> float | None:
        return min((m.visible_at for m in self.messages.values()), default=None)


@dataclass
class _Failure:
    remaining: int
    permanent: bool
    code: str


class MemoryBroker:
    """Queues held in this process, with visibility, redelivery, receive counts, delays and redrive."""

    _default: ClassVar[MemoryBroker | None] = None

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._failures: dict[str, _Failure] = {}
        self._receipts = itertools.count(1)

    @classmethod
    def default(cls) -> MemoryBroker:
        """The process-wide broker that configs use when they name none."""
        if cls._default is None:
            cls._default = cls()
        return cls._default

    # -- administration (tests call these directly) -------------------------------------------

    def create_queue(
        self,
        name: str,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_BYTES,
        visibility_timeout: float = 30.0,
        dead_letter: str | None = None,
        max_receive_count: int | None = None,
    ) -> str:
        """Create a queue (idempotent) and return its address; `dead_letter` names its redrive target."""
        address = memory_address(name)
        if address not in self._queues:
            self._queues[address] = _Queue(
                address,
                max_frame_size,
                visibility_timeout,
                memory_address(dead_letter) if dead_letter else None,
                max_receive_count,
            )
        return address

    def delete_queue(self, address: str) -> None:
        queue = self._queues.pop(memory_address(address), None)
        if queue is not None:
            queue.wake_all()

    def exists(self, address: str) -> bool:
        return memory_address(address) in self._queues

    def counts(self, address: str) -> tuple[int, int]:
        """(visible, held) frames of a queue."""
        queue = self._queue(address)
        now = time.monotonic()
        visible = sum(1 for m in queue.messages.values() if m.visible_at <= now)
        return visible, len(queue.messages) - visible

    def frames(self, address: str) -> list[Frame]:
        """Every frame on a queue, visible or held, oldest first (nothing is received)."""
        return [m.frame for m in self._queue(address).messages.values()]

    def secret_of(self, address: str) -> str:
        """The secret kept with a queue (made on first use), as a broker's queue tag would keep it."""
        queue = self._queue(address)
        if queue.secret is None:
            queue.secret = secrets.token_hex(32)
        return queue.secret

    def fail_next(self, operation: str, *, times: int = 1, permanent: bool = False, code: str = "Injected") -> None:
        """Make the next `times` calls of `operation` (`send`, `receive`, `delete`, `change_visibility`)
        raise a `ChannelError`, transient unless `permanent`."""
        self._failures[operation] = _Failure(times, permanent, code)

    # -- what channels call -------------------------------------------------------------------

    def _queue(self, address: str) -> _Queue:
        queue = self._queues.get(memory_address(address))
        if queue is None:
            raise AddressNotFoundError(
                f"memory queue {address} does not exist; create it with broker.create_queue()",
                address=address,
                code="NonExistentQueue",
            )
        return queue

    def _check_failure(self, operation: str, address: str) -> None:
        failure = self._failures.get(operation)
        if failure is None:
            return
        failure.remaining -= 1
        if failure.remaining <= 0:
            del self._failures[operation]
        raise ChannelError(
            f"injected {operation} failure on {address}",
            address=address,
            code=failure.code,
            permanent=failure.permanent,
        )

    def _put(self, address: str, frame: Frame) -> None:
        self._check_failure("send", address)
        queue = self._queue(address)
        now = time.monotonic()
        message = _Message(uuid.uuid4().hex, frame, sent_at=now, visible_at=now)
        queue.messages[message.message_id] = message
        queue.wake_all()

    def _take(self, address: str, max_frames: int, visibility: float) -> list[_Message]:
        self._check_failure("receive", address)
        queue = self._queue(address)
        now = time.monotonic()
        taken: list[_Message] = []
        for message in list(queue.messages.values()):
            if len(taken) >= max_frames:
                break
            if message.visible_at > now:
                continue
            if (
                queue.dead_letter is not None
                and queue.max_receive_count is not None
                and message.receive_count >= queue.max_receive_count
            ):
                del queue.messages[message.message_id]
                target = self._queues.get(queue.dead_letter)
                if target is not None:
                    message.receipt, message.receive_count, message.visible_at = None, 0, now
                    target.messages[message.message_id] = message
                    target.wake_all()
                continue
            message.receive_count += 1
            message.receipt = f"r{next(self._receipts)}"
            message.visible_at = now + visibility
            taken.append(message)
        return taken

    def _settle(self, address: str, receipt: str, *, delete: bool, visible_in: float = 0.0) -> bool:
        """Delete a held frame, or make it visible after `visible_in`; False when the receipt is stale."""
        self._check_failure("delete" if delete else "change_visibility", address)
        queue = self._queues.get(memory_address(address))
        if queue is None:
            return False
        for message in queue.messages.values():
            if message.receipt == receipt:
                if delete:
                    del queue.messages[message.message_id]
                else:
                    message.visible_at = time.monotonic() + visible_in
                    queue.wake_all()
                return True
        return False

    async def _wait(self, address: str, until: float) -> None:
        """Wait until something may have become visible on `address`, or `until` (monotonic)."""
        queue = self._queue(address)
        now = time.monotonic()
        timeout = until - now
        next_visible = queue.next_visible_at()
        if next_visible is not None and next_visible > now:
            timeout = min(timeout, next_visible - now)
        if timeout <= 0:
            return
        event = anyio.Event()
        queue.waiters.add(event)
        try:
            with anyio.move_on_after(timeout):
                await event.wait()
        finally:
            queue.waiters.discard(event)


@dataclass(eq=False)
class MemoryDelivery:
    """A frame received from a `MemoryBroker` queue, held until acknowledged or released."""

    frame: Frame
    receive_count: int
    sent_at: float
    address: str
    receipt: str
    message_id: str
    _channel: MemoryChannel = field(repr=False)

    @property
    def age_seconds(self) -> float:
        return max(0.0, time.monotonic() - self.sent_at)

    def ack(self) -> None:
        self._channel.settle(self, delete=True)

    def release(self, delay_seconds: float | None = 0.0) -> None:
        self._channel.settle(self, delete=False, delay_seconds=delay_seconds)


class MemoryChannel:
    """`Channel` over a `MemoryBroker`. Use as `async with MemoryChannel(broker) as channel`.

    `wait_seconds` is a receive's long poll; `visibility_timeout_seconds` how long a received frame
    stays hidden, extended by a heartbeat while it is held (like the SQS channel's). `push=True`
    makes it declare and behave like a push channel (`PUSH_CAPABILITIES`): a received frame is
    gone from the queue at once, and releasing it drops it.
    """

    def __init__(
        self,
        broker: MemoryBroker | None = None,
        *,
        wait_seconds: float = 1.0,
        visibility_timeout_seconds: float = 30.0,
        push: bool = False,
    ) -> None:
        self.broker = broker or MemoryBroker.default()
        self.push = push
        self._wait = wait_seconds
        self._visibility = visibility_timeout_seconds
        self._held: Holds[MemoryDelivery] = Holds(visibility_timeout_seconds, min_interval=0.05)
        self._calls: Counter[str] = Counter()
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> MemoryChannel:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._held.heartbeat, self._renew)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(None, None, None)
            self._tg = None

    @property
    def capabilities(self) -> Capabilities:
        return PUSH_CAPABILITIES if self.push else MEMORY_CAPABILITIES

    @property
    def calls(self) -> Counter[str]:
        return self._calls

    def frame_size(self, frame: Frame) -> int:
        return utf8_length(frame.body) + sum(len(k.encode()) + len(v.encode()) for k, v in frame.attributes.items())

    def max_frame_size(self, address: str) -> int:
        queue = self.broker._queues.get(memory_address(address))  # pyright: ignore[reportPrivateUsage]
        return queue.max_frame_size if queue is not None else DEFAULT_MAX_FRAME_BYTES

    async def send(self, address: str, frame: Frame, *, urgent: bool = False) -> None:
        self._calls["send"] += 1
        size, limit = self.frame_size(frame), self.max_frame_size(address)
        if size > limit:
            raise FrameTooLargeError(size=size, limit=limit, address=address)
        await anyio.lowlevel.checkpoint()
        self.broker._put(address, frame)  # pyright: ignore[reportPrivateUsage]

    async def receive(self, address: str, max_frames: int) -> Sequence[MemoryDelivery]:
        until = time.monotonic() + self._wait
        while True:
            self._calls["receive"] += 1
            taken = self.broker._take(address, max(1, max_frames), self._visibility)  # pyright: ignore[reportPrivateUsage]
            if taken or time.monotonic() >= until:
                break
            await self.broker._wait(address, until)  # pyright: ignore[reportPrivateUsage]
        await anyio.lowlevel.checkpoint()
        deliveries: list[MemoryDelivery] = []
        for message in taken:
            assert message.receipt is not None
            delivery = MemoryDelivery(
                message.frame,
                message.receive_count,
                message.sent_at,
                memory_address(address),
                message.receipt,
                message.message_id,
                self,
            )
            if self.push:
                self.broker._settle(delivery.address, delivery.receipt, delete=True)  # pyright: ignore[reportPrivateUsage]
            else:
                self._held.add(delivery.receipt, delivery)
            deliveries.append(delivery)
        return deliveries

    def settle(self, delivery: MemoryDelivery, *, delete: bool, delay_seconds: float | None = 0.0) -> None:
        """Stop holding `delivery`: delete it, or make it visible after `delay_seconds` (None: let the hold lapse)."""
        if self._held.pop(delivery.receipt) is None or (not delete and delay_seconds is None):
            return
        self._calls["delete" if delete else "change_visibility"] += 1
        try:
            self.broker._settle(  # pyright: ignore[reportPrivateUsage]
                delivery.address, delivery.receipt, delete=delete, visible_in=max(0.0, delay_seconds or 0.0)
            )
        except ChannelError:
            pass  # as on SQS, a failed delete means the frame comes back when its hold lapses

    def _renew(self, delivery: MemoryDelivery, seconds: float, lapses: float) -> None:
        self._calls["change_visibility"] += 1
        try:
            self.broker._settle(delivery.address, delivery.receipt, delete=False, visible_in=seconds)  # pyright: ignore[reportPrivateUsage]
        except ChannelError:
            pass

    async def create_reply_address(self, name_hint: str) -> str:
        self._calls["create"] += 1
        return self.broker.create_queue(name_hint, visibility_timeout=self._visibility)

    async def delete_reply_address(self, address: str) -> None:
        self._calls["delete_queue"] += 1
        self.broker.delete_queue(address)


class MemoryReplyPolicy:
    """Allows reply addresses matching `patterns` (globs), or by default any queue of the broker."""

    def __init__(self, broker: MemoryBroker, patterns: tuple[str, ...] | None = None) -> None:
        self._broker = broker
        self._patterns = patterns

    def allows(self, address: str) -> bool:
        if not address.startswith(SCHEME):
            return False
        if self._patterns is not None:
            return any(fnmatchcase(address, pattern) for pattern in self._patterns)
        return self._broker.exists(address)

    def describe(self) -> str:
        if self._patterns is not None:
            return f"reply addresses matching {list(self._patterns)}"
        return "queues of the same memory broker"


_MEMORY_CONFIG = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class MemoryServerConfig(ServerSettings):
    """A server on a `MemoryBroker` queue (created if missing)."""

    model_config = _MEMORY_CONFIG
    transport: ClassVar[str] = "memory"

    queue: str
    """The request queue: a name or a `memory://` address."""
    broker: MemoryBroker | None = None
    """The broker holding the queues; None: `MemoryBroker.default()`."""
    wait_seconds: float = Field(default=1.0, ge=0)
    visibility_timeout_seconds: float = Field(default=30.0, gt=0)
    allowed_reply_addresses: tuple[str, ...] | None = None
    push: bool = False
    """Behave like a push channel (nothing is redelivered): for tests of the engine's push path."""

    @field_validator("queue")
    @classmethod
    def _queue(cls, value: str) -> str:
        return memory_address(value)

    @property
    def request_address(self) -> str:
        return self.queue


class MemoryClientConfig(ClientSettings):
    """A client of a server on a `MemoryBroker` queue."""

    model_config = _MEMORY_CONFIG
    transport: ClassVar[str] = "memory"

    queue: str
    """The server's request queue."""
    reply_queue: str | None = None
    """This client's reply queue; None: a temporary one, deleted on close."""
    broker: MemoryBroker | None = None
    wait_seconds: float = Field(default=1.0, ge=0)
    visibility_timeout_seconds: float = Field(default=5.0, gt=0)

    @field_validator("queue")
    @classmethod
    def _queue(cls, value: str) -> str:
        return memory_address(value)

    @field_validator("reply_queue")
    @classmethod
    def _reply_queue(cls, value: str | None) -> str | None:
        return None if value is None else memory_address(value)

    @property
    def server_address(self) -> str:
        return self.queue

    @property
    def named_reply_address(self) -> str | None:
        return self.reply_queue


class MemoryTransport(ChannelTransport):
    """`memory`: queues in this process (tests)."""

    name = "memory"
    summary = "in-process queues with a queue service's semantics, for tests"
    server_config = MemoryServerConfig
    client_config = MemoryClientConfig
    cli = False

    @asynccontextmanager
    async def open_server(self, config: MemoryServerConfig, clients: Mapping[str, Any]) -> AsyncIterator[ServerBinding]:
        broker = config.broker or MemoryBroker.default()
        broker.create_queue(config.queue, visibility_timeout=config.visibility_timeout_seconds)
        channel = MemoryChannel(
            broker,
            wait_seconds=config.wait_seconds,
            visibility_timeout_seconds=config.visibility_timeout_seconds,
            push=config.push,
        )
        async with channel:
            yield ServerBinding(channel, config.queue, MemoryReplyPolicy(broker, config.allowed_reply_addresses))

    @asynccontextmanager
    async def open_client(
        self, config: MemoryClientConfig, clients: Mapping[str, Any], *, purpose: str = "reply"
    ) -> AsyncIterator[ClientBinding]:
        broker = config.broker or MemoryBroker.default()
        channel = MemoryChannel(
            broker, wait_seconds=config.wait_seconds, visibility_timeout_seconds=config.visibility_timeout_seconds
        )
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(channel)
            reply = config.reply_queue
            private = reply is None
            if reply is None:
                reply = await channel.create_reply_address(f"asyncmcp-{purpose}-{uuid.uuid4().hex[:16]}")
                stack.push_async_callback(channel.delete_reply_address, reply)
            elif not broker.exists(reply):
                broker.create_queue(reply, visibility_timeout=config.visibility_timeout_seconds)
            yield ClientBinding(channel, config.queue, reply, reply, private)

    async def fleet_secret(self, binding: ServerBinding) -> str | None:
        channel = binding.channel
        return channel.broker.secret_of(binding.address) if isinstance(channel, MemoryChannel) else None

    async def check_ready(self, binding: ClientBinding) -> None:
        channel = binding.channel
        if isinstance(channel, MemoryChannel) and not channel.broker.exists(binding.server_address):
            raise AddressNotFoundError(f"memory queue {binding.server_address} does not exist")
