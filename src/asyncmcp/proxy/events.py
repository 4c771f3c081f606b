"""A bounded in-memory `EventStore`, so 2025 clients can resume an SSE stream with `Last-Event-ID`.

The SDK ships the interface but no implementation. Events are kept per stream, at most
`max_events_per_stream` each and `max_streams` streams (oldest dropped first): enough to resume
after a dropped connection, not an archive.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.types import JSONRPCMessage

__all__ = ["MemoryEventStore"]


class MemoryEventStore(EventStore):
    def __init__(self, *, max_events_per_stream: int = 256, max_streams: int = 10_000) -> None:
        self._streams: OrderedDict[StreamId, deque[tuple[EventId, JSONRPCMessage | None]]] = OrderedDict()
        self._owner: dict[EventId, StreamId] = {}
        self._counter = itertools.count(1)
        self._per_stream = max_events_per_stream
        self._max_streams = max_streams

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = f"{stream_id}.{next(self._counter)}"
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
