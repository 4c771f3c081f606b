"""Bounded in-memory event stores, so 2025 clients can resume an SSE stream with `Last-Event-ID`.

The SDK ships the interface but no implementation. A transport names its streams by JSON-RPC
request id, which repeats across sessions, so one store shared by all sessions would replay one
session's events to another: `SessionEventStores` gives every session a store of its own.
Events are kept per stream, at most `max_events_per_stream` each and `max_streams` streams
(oldest dropped first): enough to resume after a dropped connection, not an archive. Event ids
carry a random part, so a client cannot guess its way into another stream.
"""

from __future__ import annotations

import itertools
import secrets
import weakref
from collections import OrderedDict, deque
from typing import Any

from mcp.server.streamable_http import (
    EventCallback,
    EventId,
    EventMessage,
    EventStore,
    StreamableHTTPServerTransport,
    StreamId,
)
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import JSONRPCMessage

__all__ = ["MemoryEventStore", "SessionEventStores"]

SSE_RETRY_MILLISECONDS = 1000
"""The `retry` of each SSE stream's priming event: how soon a 2025 client whose stream dropped
reconnects with `Last-Event-ID` (left unsaid, each client picks its own delay)."""


class MemoryEventStore(EventStore):
    def __init__(self, *, max_events_per_stream: int = 256, max_streams: int = 10_000) -> None:
        self._streams: OrderedDict[StreamId, deque[tuple[EventId, JSONRPCMessage | None]]] = OrderedDict()
        self._owner: dict[EventId, StreamId] = {}
        self._counter = itertools.count(1)
        self._per_stream = max_events_per_stream
        self._max_streams = max_streams

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = f"{next(self._counter)}.{secrets.token_urlsafe(9)}"
        events = self._streams.get(stream_id)
        if events is None:
            events = self._streams[stream_id] = deque()
            while len(self._streams) > self._max_streams:
                _, dropped = self._streams.popitem(last=False)
                for old_id, _ in dropped:
                    self._owner.pop(old_id, None)
        events.append((event_id, message))
        self._owner[event_id] = stream_id
        while len(events) > self._per_stream:
            old_id, _ = events.popleft()
            self._owner.pop(old_id, None)
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        stream_id = self._owner.get(last_event_id)
        if stream_id is None:
            return None
        seen = False
        for event_id, message in list(self._streams.get(stream_id, ())):
            if seen and message is not None:
                await send_callback(EventMessage(message, event_id))
            if event_id == last_event_id:
                seen = True
        return stream_id


class SessionEventStores(StreamableHTTPSessionManager):
    """The SDK's session manager, giving each 2025 session its own `MemoryEventStore`, telling clients
    when to reconnect (`SSE_RETRY_MILLISECONDS`), and able to end every session at once (a stopping
    proxy does, after its in-flight calls finished)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, event_store=MemoryEventStore(), retry_interval=SSE_RETRY_MILLISECONDS, **kwargs)
        self._sessions: weakref.WeakSet[StreamableHTTPServerTransport] = weakref.WeakSet()

    def _admit_session(self, requestor: Any) -> StreamableHTTPServerTransport | None:
        transport = super()._admit_session(requestor)
        if transport is not None:
            # The manager hands every session the one store it was built with; mcp is pinned to 2.3.x.
            transport._event_store = MemoryEventStore()  # pyright: ignore[reportPrivateUsage]
            self._sessions.add(transport)
        return transport

    async def terminate_sessions(self) -> None:
        """End every 2025 session: their open SSE streams (the GET stream included) close, so the
        HTTP server's graceful shutdown does not wait on streams that would never end by themselves."""
        for transport in list(self._sessions):
            await transport.terminate()
