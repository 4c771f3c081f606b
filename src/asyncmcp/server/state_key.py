"""The secret every worker of one queue shares.

Two things must verify on a worker other than the one that produced them, and on the same worker
after a restart: the 2025 session ids this engine mints, and the MCP `requestState` that
`MCPServer` seals into `input_required` results (2026 elicitation and sampling). Both are derived
from one key, found in this order:

1. `state_key=` in the server config;
2. the `ASYNCMCP_STATE_KEY` environment variable;
3. the channel's fleet secret (`ChannelTransport.fleet_secret`: on SQS a tag of the request queue,
   created by the first worker that starts), so a fleet nobody configured still shares one key
   that outlives its processes;
4. a key made up by this process, when the channel keeps none or the broker refused (a warning
   says what is lost and how to fix it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from typing import Any

from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity

from asyncmcp.channels.base import ChannelTransport, ServerBinding
from asyncmcp.errors import ChannelError
from asyncmcp.server.sessions import DEFAULT_SESSION_TTL_SECONDS, SessionSigner

__all__ = ["STATE_KEY_ENV", "StateKey", "share_request_state"]

logger = logging.getLogger(__name__)

STATE_KEY_ENV = "ASYNCMCP_STATE_KEY"

_PROCESS_SECRET = secrets.token_bytes(32)
"""The fallback key: one per process, so a worker restarted in the same process keeps its sessions."""


@dataclass(frozen=True)
class StateKey:
    secret: bytes
    shared: bool
    """True when the operator supplied the key (so other workers can hold the same one)."""

    @classmethod
    def resolve(cls, configured: str | None) -> StateKey:
        """The operator's key (config, then environment), else this process's own."""
        value = configured or os.environ.get(STATE_KEY_ENV)
        if value:
            return cls(value.encode(), shared=True)
        return cls(_PROCESS_SECRET, shared=False)

    @classmethod
    async def for_fleet(cls, configured: str | None, transport: ChannelTransport, binding: ServerBinding) -> StateKey:
        """The operator's key, else the channel's fleet secret, else this process's own (see above)."""
        key = cls.resolve(configured)
        if key.shared:
            return key
        try:
            stored = await transport.fleet_secret(binding)
        except ChannelError as exc:
            logger.warning(
                "no shared state key for %s (%s): 2025 sessions will not survive a restart of this worker and "
                "will not verify on other workers; set %s, or let the worker keep one with the queue (%s)",
                binding.address,
                exc,
                STATE_KEY_ENV,
                "docs/operations.md",
            )
            return key
        if stored is None:
            return key
        return cls(stored.encode(), shared=True)

    def signer(self, *, ttl_seconds: float | None = DEFAULT_SESSION_TTL_SECONDS) -> SessionSigner:
        return SessionSigner(self.secret, ttl_seconds=ttl_seconds)

    def request_state_key(self) -> bytes:
        return hashlib.sha256(b"asyncmcp requestState v1\x00" + self.secret).digest()


def share_request_state(server: Any, key: StateKey) -> None:
    """Make `server`'s requestState sealing use the shared key, so any worker can open it.

    `MCPServer` installs a `RequestStateBoundary` with a process-local key unless it was built
    with `request_state_security=`; when the operator configured a shared key, that boundary is
    replaced by one sealing with a key derived from it (keeping the server's TTL).
    """
    if not key.shared:
        return
    lowlevel = getattr(server, "_lowlevel_server", server)
    middleware: list[Any] = getattr(lowlevel, "middleware", [])
    for index, item in enumerate(middleware):
        if isinstance(item, RequestStateBoundary):
            previous: RequestStateSecurity | None = getattr(item, "_security", None)
            ttl = previous.ttl if previous is not None else 600.0
            shared = RequestStateSecurity(keys=[key.request_state_key()], ttl=ttl)
            middleware[index] = RequestStateBoundary(shared, default_audience=lowlevel.name)
            logger.debug("requestState of %s now sealed with the shared state key", lowlevel.name)
