"""Bounded in-memory event stores, so 2025 clients can resume an SSE stream with `Last-Event-ID`.

The SDK ships the interface but no implementation. A transport names its streams by JSON-RPC
request id, which repeats across sessions, so one store shared by all sessions would replay one
session's events to another: every session gets a store of its own (`sessions.py`).

Resuming is for a dropped connection, not an archive, and one proxy holds many sessions, so what
is kept is bounded by bytes and by time, oldest dropped first:

- per session, `MAX_SESSION_EVENT_BYTES` of events and `MAX_SESSION_EVENTS` events;
- by age, nothing older than `EVENT_MAX_AGE_SECONDS`;
- overall, every store of the proxy draws on one `EventBudget`; an event that does not fit once
  its session's own old events are gone is not kept (its stream cannot be resumed past it, and
  the client starts the call over).

Events are kept as their JSON text, a fraction of the memory of the parsed message, and parsed
again only when replayed. Event ids carry a random part, so a client cannot guess its way into
another stream.
"""

from __future__ import annotations

import itertools
import secrets
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.types import JSONRPCMessage
from mcp_types import jsonrpc_message_adapter

__all__ = [
    "EVENT_MAX_AGE_SECONDS",
    "MAX_EVENT_BYTES_OVERALL",
    "MAX_SESSION_EVENTS",
    "MAX_SESSION_EVENT_BYTES",
    "SSE_RETRY_MILLISECONDS",
    "EventBudget",
    "MemoryEventStore",
]

MAX_SESSION_EVENT_BYTES = 256 * 1024
"""Event bytes one session keeps: enough to resume a call whose result is large, not an archive."""

MAX_SESSION_EVENTS = 256
"""Events one session keeps (small ones, such as progress, are counted by number)."""

EVENT_MAX_AGE_SECONDS = 300.0
"""A client that reconnects later than this starts over; resuming is for a dropped connection."""

MAX_EVENT_BYTES_OVERALL = 32 * 1024 * 1024
"""Event bytes all sessions of a proxy keep together."""


class EventBudget:
    """The event bytes all the stores of one proxy may hold together."""

    def __init__(self, max_bytes: int = MAX_EVENT_BYTES_OVERALL) -> None:
        self.max_bytes = max_bytes
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.max_bytes:
            return False
        self.used += size
        return True

    def give_back(self, size: int) -> None:
        self.used -= size


@dataclass(frozen=True)
class _Event:
    event_id: EventId
    stream_id: StreamId
    payload: str | None
    stored_at: float


@dataclass
class _Held:
    """What a store holds of its budget; given back when the store is dropped with its session."""

    bytes: int = 0


def _give_back(budget: EventBudget, held: _Held) -> None:
    budget.give_back(held.bytes)


SSE_RETRY_MILLISECONDS = 1000
"""The `retry` of each SSE stream's priming event: how soon a 2025 client whose stream dropped
reconnects with `Last-Event-ID` (left unsaid, each client picks its own delay)."""


class MemoryEventStore(EventStore):
    """One session's events, bounded by count, bytes, age and the proxy's overall `budget`."""

    def __init__(
        self,
        budget: EventBudget | None = None,
        *,
        max_bytes: int = MAX_SESSION_EVENT_BYTES,
        max_events: int = MAX_SESSION_EVENTS,
        max_age_seconds: float = EVENT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._budget = budget or EventBudget()
        self._clock = clock
        self._max_bytes = max_bytes
        self._max_events = max_events
        self._max_age = max_age_seconds
        self._events: deque[_Event] = deque()
        self._by_id: dict[EventId, _Event] = {}
        self._held = _Held()
        self._counter = itertools.count(1)
        weakref.finalize(self, _give_back, self._budget, self._held)

    @property
    def held_bytes(self) -> int:
        return self._held.bytes

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = f"{next(self._counter)}.{secrets.token_urlsafe(9)}"
        payload = message.model_dump_json(by_alias=True, exclude_unset=True) if message is not None else None
        size = len(payload or "")
        now = self._clock()
        self._expire(now)
        if size > self._max_bytes:
            return event_id  # larger than a session may keep at all: not kept
        while self._events and (self._held.bytes + size > self._max_bytes or len(self._events) >= self._max_events):
            self._drop_oldest()
        while not self._budget.take(size):
            if not self._events:
                return event_id  # the proxy's budget is spent and this session holds nothing: not kept
            self._drop_oldest()
        event = _Event(event_id, stream_id, payload, now)
        self._events.append(event)
        self._by_id[event_id] = event
        self._held.bytes += size
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        self._expire(self._clock())
        last = self._by_id.get(last_event_id)
        if last is None:
            return None
        after = False
        for event in list(self._events):
            if event.stream_id != last.stream_id:
                continue
            if after and event.payload is not None:
                await send_callback(EventMessage(jsonrpc_message_adapter.validate_json(event.payload), event.event_id))
            after = after or event is last
        return last.stream_id

    def _expire(self, now: float) -> None:
        while self._events and now - self._events[0].stored_at > self._max_age:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        event = self._events.popleft()
        del self._by_id[event.event_id]
        size = len(event.payload or "")
        self._held.bytes -= size
        self._budget.give_back(size)
