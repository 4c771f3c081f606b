"""The settings every server and client config has, whatever its channel.

A channel's config (for example `SqsServerConfig`) extends these with its own addresses and broker
settings; the engine and the client transport read only what is declared here, so they serve any
channel. Configs are frozen pydantic models validated at construction: a wrong value fails at
start-up with a message naming the field, never deep inside a poll loop.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_CLIENT_TIMEOUT_SECONDS",
    "DEFAULT_SESSION_TTL_SECONDS",
    "FROZEN",
    "ClientSettings",
    "ServerSettings",
]

FROZEN = ConfigDict(frozen=True, extra="forbid")

DEFAULT_CLIENT_TIMEOUT_SECONDS = 45.0
"""How long a client waits for any sign of life from a worker before it is told nobody took its
request: below the 60 s after which the TypeScript SDK gives up on a request with its own generic
error, so a client behind the proxy sees asyncmcp's message naming the queue."""

DEFAULT_SESSION_TTL_SECONDS = 86_400.0
"""How long a 2025 session id verifies after `initialize`: a working day and more, after which the
client initializes again (the proxy does so by itself)."""


class ServerSettings(BaseModel):
    """How a server receives and serves, on any channel."""

    model_config = FROZEN

    transport: ClassVar[str] = ""
    """The registry name of the channel this config belongs to (`registry.for_config`)."""

    max_messages: int = Field(default=10, ge=1, le=1000)
    """Frames asked for per receive call."""
    transport_timeout_seconds: float | None = Field(default=None, gt=0)
    """A handler still running after this is cancelled and answered with a timeout error. None (the
    default) lets handlers run as long as they need; the channel keeps the request held meanwhile."""
    max_in_flight: int = Field(default=64, ge=1, le=10000)
    """Requests one worker handles at once; at the limit it stops receiving so other workers take the work."""
    on_bad_message: Literal["delete", "dead-letter"] = "delete"
    """What to do with a message that cannot be served (not JSON-RPC, no reply address, refused reply
    address): delete it, or leave it for the channel's redrive policy to move to a dead-letter address."""
    dedupe_window_seconds: float = Field(default=600.0, ge=0)
    """How long a worker remembers answered requests, so a redelivery does not run a tool twice."""
    state_key: str | None = None
    """Secret shared by every worker of the fleet; seals MCP requestState and signs 2025 session ids.
    Defaults to the ASYNCMCP_STATE_KEY environment variable (see server/state_key.py)."""
    session_ttl_seconds: float | None = Field(default=DEFAULT_SESSION_TTL_SECONDS, gt=0)
    """How long a 2025 session id verifies after `initialize` (then the client must initialize again);
    None: forever. Every worker of a fleet should use the same value."""
    shadow: bool = False
    """Serve every request but send nothing back: a shadow deployment reading an observer queue of a
    fan-out channel (its tools run; its clients never hear from it)."""
    max_waiting_on_clients: int = Field(default=64, ge=1, le=10000)
    """Server-to-client requests (2025 sampling, elicitation) one worker lets wait for their clients at
    once. Waiting handlers do not count against `max_in_flight` (they would block the very answers
    they wait for), so they have this bound of their own: past it a handler's request fails at once."""
    client_answer_timeout_seconds: float = Field(default=300.0, gt=0)
    """How long a handler waits for its client's answer to a sampling or elicitation request; then
    the request fails in the handler with a timeout error naming this setting."""

    @property
    def request_address(self) -> str:
        """Where this server receives requests."""
        raise NotImplementedError


class ClientSettings(BaseModel):
    """How a client sends and waits, on any channel."""

    model_config = FROZEN

    transport: ClassVar[str] = ""

    max_messages: int = Field(default=10, ge=1, le=1000)
    """Replies asked for per receive call."""
    transport_timeout_seconds: float | None = Field(default=DEFAULT_CLIENT_TIMEOUT_SECONDS, gt=0)
    """How long a request may go without any sign of life (its answer, progress, or a keep-alive)
    before it fails with an error naming the server's address. A worker running the request sends
    keep-alives (asked for on every request), so this bounds how long nobody takes a request, not
    how long a tool may run. None: wait forever."""
    client_id: str | None = Field(
        default_factory=lambda: f"client-{uuid.uuid4().hex[:12]}",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
    )
    """Client identifier (a per-connection suffix is added on the wire). Generated when not given
    (`client-<12 hex>`), as the original documents say, so `config.client_id` is always set."""
    keep_fresh_answers: bool = True
    """Let the connections `connect()` opens from equal configs keep what the server says stays
    fresh (SEP-2549 `ttlMs` on its `server/discover` answer and its tool listing) and open and call
    on it (docs/architecture.md). The server's hint enables it; False makes every connection ask
    the server, as `mcp.Client(cache=None)` does for the SDK's own cache, which cannot reach here."""

    @property
    def server_address(self) -> str:
        """Where this client sends requests."""
        raise NotImplementedError

    @property
    def named_reply_address(self) -> str | None:
        """The reply address this config names (one several clients may read), or None when each
        connection gets an address of its own (a temporary one, or a listener of its own).
        Connections of one process opened from equal configs that name one share its receiver."""
        return None
