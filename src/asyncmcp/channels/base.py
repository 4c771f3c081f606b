"""The seam between the MCP engine and a concrete channel (SQS, SNS+SQS, webhook, memory, ...).

The server engine and the client transport speak only these Protocols; a channel is the only
code that calls a broker or HTTP. Addresses are plain strings in the channel's own vocabulary (a
queue URL, a topic ARN, an HTTPS URL, `memory://name`).

What differs between channels is *declared*, never assumed: a channel states its `Capabilities`
(can a frame come back after it was released, can a delivery be held while its handler runs, is
there a dead-letter queue, must a receiver end its own receive with a wake frame) and raises
`ChannelError`s that say themselves whether trying again can help. The generic code asks; it
knows no broker's error codes. `ChannelTransport` is what a channel registers under a name (see
`registry.py`): how to open it from a config, for a server or for a client, and which command-line
options it takes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from asyncmcp.channels.config import ClientSettings, ServerSettings
from asyncmcp.codec import SEED_REPLY_META_KEY, Frame

__all__ = [
    "TEMPORARY_ALIVE_SECONDS",
    "TEMPORARY_PREFIX",
    "Capabilities",
    "Channel",
    "ChannelTransport",
    "ClientBinding",
    "Delivery",
    "Option",
    "ReplyPolicy",
    "ServerBinding",
]


TEMPORARY_PREFIX = "asyncmcp-"
"""Names of the temporary addresses `open_client` makes start with this (`asyncmcp-reply-*`, `asyncmcp-proxy-*`)."""

TEMPORARY_ALIVE_SECONDS = 600.0
"""How often the owner of a temporary address marks it as alive, so `sweep` can tell it from a leftover."""


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do; the engine, receivers and client transport choose their path by it.

    A *pull* channel (SQS, SNS->SQS, the memory channel) keeps a frame until it is acknowledged and
    hands it out again when it is released or its holder dies. A *push* channel (webhook: a request
    arrives as an HTTP POST) has nothing that redelivers: the engine then answers directly, retries
    its own sends instead of handing a request back, and never relies on another receiver taking a
    frame it released.
    """

    redelivers: bool
    """A frame that was released, or whose holder died, is delivered again (to any receiver)."""
    delayed_release: bool
    """`release(delay)` makes the frame reappear only after `delay` seconds."""
    holds_deliveries: bool
    """While a delivery is held, nobody else receives it (SQS: a visibility heartbeat extends it)."""
    dead_letter: bool
    """`release(None)` counts toward a redrive policy that moves a frame to a dead-letter address."""
    wake_frames: bool
    """An abandoned receive stays open at the broker and may take the next frame, so a receiver that
    stops ends its own outstanding receive by sending itself a wake frame (`codec.wake_frame`)."""
    shared_addresses: bool
    """Several receivers may read one address, so a frame meant for another receiver can be handed
    back for it to take (requires `redelivers`)."""


class Delivery(Protocol):
    """One received frame, held by the channel until it is acknowledged or released.

    While held, the channel keeps it from being handed to anyone else where it can
    (`Capabilities.holds_deliveries`), so a long handler never races a second worker for it.
    """

    @property
    def frame(self) -> Frame: ...

    @property
    def receive_count(self) -> int:
        """How many times the broker has handed this frame out (1 on first delivery)."""
        ...

    @property
    def age_seconds(self) -> float:
        """Seconds since the frame was first sent, as the broker reports it (0 if unknown)."""
        ...

    def ack(self) -> None:
        """Done with it: remove it from the channel. Never blocks; the channel batches the work."""
        ...

    def release(self, delay_seconds: float | None = 0.0) -> None:
        """Give it back so any receiver may take it after `delay_seconds`.

        `None` stops holding it without touching the broker: it reappears when its current hold
        lapses, and counts toward the address's redrive policy. On a channel that does not
        redeliver, releasing drops the frame (the engine never relies on it there).
        """
        ...


class ReplyPolicy(Protocol):
    """Which reply addresses a server may send to; the operator's guard against confused deputies."""

    def allows(self, address: str) -> bool: ...

    def describe(self) -> str:
        """A one-line description of the rule, for the error a refused client sees in the log."""
        ...


class Channel(Protocol):
    """Moves frames between addresses. Implementations must never block the event loop."""

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def calls(self) -> Counter[str]:
        """Broker calls made so far, per operation name (what a bill counts)."""
        ...

    async def send(self, address: str, frame: Frame, *, urgent: bool = False) -> None:
        """Send one frame; returns once the broker accepted it.

        Raises `FrameTooLargeError` when the frame exceeds the destination's limit and
        `ChannelError` (or a subclass) when the broker refuses it; `ChannelError.permanent` says
        whether trying again can help. Frames submitted concurrently to the same address may be
        sent in one batched call; `urgent` sends from the caller's own task instead (used while
        shutting down, when batching tasks may already be cancelled).
        """
        ...

    async def receive(self, address: str, max_frames: int) -> Sequence[Delivery]:
        """One receive call: waits for frames (long poll) and returns up to `max_frames`, maybe none."""
        ...

    def frame_size(self, frame: Frame) -> int:
        """Bytes `frame` counts against a destination's limit (SQS counts attributes, HTTP only the body)."""
        ...

    def max_frame_size(self, address: str) -> int:
        """Largest frame (as `frame_size` counts it) that `address` accepts."""
        ...


@dataclass(frozen=True)
class ServerBinding:
    """A server's side of a channel, opened from its config: where requests arrive and who may be answered."""

    channel: Channel
    address: str
    """The address the server receives requests on (a queue URL, `memory://requests`, ...)."""
    policy: ReplyPolicy
    default_reply_to: str | None = None
    """Where to answer a request that names no reply address (SNS+SQS: the server's reply topic)."""
    handshake_meta_key: str = SEED_REPLY_META_KEY
    """The `initialize` `params._meta` key an original-asyncmcp client names its reply address under."""
    endpoint: str | None = None
    """Where clients reach this server when that is not `address` (an HTTP ingress in front of a queue)."""


@dataclass(frozen=True)
class ClientBinding:
    """A client's side of a channel, opened from its config.

    `receive_address` is where this client reads replies; `reply_to` is what it names as its reply
    address on every frame. They are the same on SQS; on SNS+SQS the client reads a queue but names
    the topic that feeds it. A temporary reply address made for this binding is removed with it.
    """

    channel: Channel
    server_address: str
    receive_address: str
    reply_to: str | None
    """None: name no reply address; the server answers at its default one (`ServerBinding.default_reply_to`)."""
    private: bool
    """Only this binding's client(s) read `receive_address` (a temporary address)."""
    handshake_meta_key: str = SEED_REPLY_META_KEY
    """Where the client names its reply address in `initialize` `params._meta` (the original handshake)."""


@dataclass(frozen=True)
class Option:
    """One command-line option a channel takes, mapped onto a field of its config.

    The CLI builds `asyncmcp serve` and `asyncmcp proxy` from these, so a new channel brings its
    own flags without an edit to the CLI.
    """

    flag: str
    field: str
    help: str
    env: tuple[str, ...] = ()
    """Environment variables read when the flag is absent, first set one wins."""
    parse: Callable[[str], Any] = str
    repeat: bool = False
    """The flag may be given several times; the field gets a tuple."""
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    switch: bool = False
    """A flag without a value (`--fifo`); the field gets True when given."""


class ChannelTransport(ABC):
    """What a channel registers under its transport name (see `registry.py`).

    It opens the channel from a config, for a server or for a client, and lists the command-line
    options its configs take. `clients` maps the names in `client_names` (for example
    `"sqs_client"`) to broker clients the caller built (a boto3 or an aiobotocore client); a missing
    one is built from the environment.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    server_config: ClassVar[type[ServerSettings]]
    client_config: ClassVar[type[ClientSettings]]
    client_names: ClassVar[tuple[str, ...]] = ()
    server_options: ClassVar[tuple[Option, ...]] = ()
    client_options: ClassVar[tuple[Option, ...]] = ()
    provision_options: ClassVar[tuple[Option, ...]] = ()
    cli: ClassVar[bool] = True
    """Whether `asyncmcp serve` / `asyncmcp proxy` offer it (an in-process channel cannot be served from a shell)."""
    serves_mcp: ClassVar[bool] = False
    """The server side is an HTTP app that speaks MCP itself (the Streamable HTTP + webhook hybrid:
    the SDK's own Streamable HTTP), not a consumer of frames on a channel. Such a transport serves
    and connects with `serve_mcp` / `connect_mcp` instead of `open_server` / `open_client`, and the
    generic assembly (`serving.Worker`, `connecting.connect`, the proxy's backend) asks this flag."""

    @abstractmethod
    def open_server(self, config: Any, clients: Mapping[str, Any]) -> AbstractAsyncContextManager[ServerBinding]:
        """Open the channel for a server reading `config`'s request address."""

    @abstractmethod
    def open_client(
        self, config: Any, clients: Mapping[str, Any], *, purpose: str = "reply"
    ) -> AbstractAsyncContextManager[ClientBinding]:
        """Open the channel for a client of `config`'s server.

        When the config names no reply address a temporary one is created, named
        `asyncmcp-<purpose>-<random>` (the name reveals nothing about the client), and removed on exit.
        """

    def serve_mcp(self, server: Any, config: Any, clients: Mapping[str, Any]) -> AbstractAsyncContextManager[str]:
        """(`serves_mcp` transports) Serve the MCP `server` for the block; yields the URL clients use."""
        raise NotImplementedError(f"the {self.name} transport serves frames on a channel: use open_server")

    def connect_mcp(self, config: Any, clients: Mapping[str, Any]) -> AbstractAsyncContextManager[tuple[Any, Any]]:
        """(`serves_mcp` transports) The SDK's `(read, write)` pair to the server of `config`."""
        raise NotImplementedError(f"the {self.name} transport serves frames on a channel: use open_client")

    async def fleet_secret(self, binding: ServerBinding) -> str | None:
        """A secret kept with the binding's request address, made on first use and the same for every
        worker of that address, across restarts; None when this channel can keep none.

        It becomes the fleet's state key when the operator configured none, so a restarted worker
        still verifies the 2025 sessions it minted. Only principals that may manage the address can
        read it (SQS: a queue tag). Raises `ChannelError` when the broker refuses (no permission).
        """
        return None

    async def check_ready(self, binding: ClientBinding) -> None:
        """Raise `ChannelError` when the server address or the reply address cannot be reached (the
        proxy's /readyz); without waiting for an outstanding receive to notice."""
        return None

    async def sweep(self, config: Any, clients: Mapping[str, Any], *, idle_seconds: float) -> list[str]:
        """Delete temporary addresses (`asyncmcp-*`, made by `open_client`) whose owner has not been
        seen for `idle_seconds`: what crashed processes left behind. Returns the addresses deleted.

        `config` (a client config of this channel) says which account/endpoint to look in. An owner
        marks its temporary address as alive more often than `TEMPORARY_ALIVE_SECONDS`, so any
        `idle_seconds` above that never deletes a live one.
        """
        raise NotImplementedError(f"the {self.name} transport has nothing to sweep")

    async def provision(
        self, name: str, values: Mapping[str, Any], clients: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        """Create (idempotently) what a deployment named `name` needs; returns (variable, value) pairs
        that point asyncmcp at it (`asyncmcp provision` prints them as `export` lines)."""
        raise NotImplementedError(f"the {self.name} transport has nothing to provision")
