"""The server engine: serves an MCP `Server` to many clients over any `Channel`, on many workers.

Every request is served on its own short-lived SDK loop over a shared lifespan, so any worker
can answer any request and no two clients ever share an SDK stream pair:

- a 2026-07-28 request (it carries the `_meta` envelope) runs on `serve_dual_era_loop`, which
  opens a modern connection for it;
- `initialize` runs on the same loop (legacy era); its answer carries a signed session id
  (`sessions.py`) that holds everything later requests of that session need;
- any other 2025-era request runs on a *born-ready* legacy connection rebuilt from that session
  id, the way the SDK's stateless HTTP path serves legacy clients, so the worker that takes it
  needs no memory of the `initialize`.

Delivery is at-least-once: a request's message is acknowledged only after its answer was sent
(or after the client cancelled it; `answering.py` says what a failed send costs); while the
handler runs the channel keeps the message hidden from other workers where it can
(`Capabilities.holds_deliveries`: SQS's visibility heartbeat). If the worker dies the message
reappears and another worker serves it. A worker remembers what it answered for
`dedupe_window_seconds`, so a redelivered request is never run twice by the worker that saw it.

Server-to-client requests of the 2025 era (sampling, elicitation) are renumbered with this
worker's tag before they leave, so the client's answer, which arrives on the shared request
queue, is recognised by the worker whose handler waits for it; another worker hands it back to
the queue for the right one to take (`receiving.hand_back`). On a channel that cannot redeliver
nothing is ever handed back: the engine relies only on what the channel declares. Handlers
waiting for such an answer have a bound and a timeout of their own (`max_waiting_on_clients`,
`client_answer_timeout_seconds`).

A request is known by its client id, JSON-RPC id and the client's request token
(`codec.ATTR_REQUEST_TOKEN`), and every frame answering it carries the token back: whoever can
write to the request queue cannot have a forged request taken for another client's (which the
dedupe would swallow), cancel another client's request, or answer a handler's question in another
client's name.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.abc
from mcp.server import Server
from mcp.server.connection import Connection
from mcp.server.runner import serve_connection, serve_dual_era_loop
from mcp.shared.dispatcher import coerce_request_id
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp.shared.transport_context import TransportContext
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    REQUEST_TIMEOUT,
    UNSUPPORTED_PROTOCOL_VERSION,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION, MODERN_PROTOCOL_VERSIONS

from asyncmcp.channels.base import Delivery, ServerBinding
from asyncmcp.channels.config import ServerSettings
from asyncmcp.codec import (
    ATTR_REPLY_TO,
    ATTR_SESSION_ID,
    Envelope,
    as_mapping,
    has_modern_envelope,
    jsonrpc_error,
    seed_reply_address,
)
from asyncmcp.expiring import ExpiringSet
from asyncmcp.receiving import Poller, hand_back, open_delivery
from asyncmcp.server.answering import UNSENT_RETRY_DELAY, Answers, Caller, close_stream_frame
from asyncmcp.server.sessions import InvalidSessionError, LegacySession, SessionSigner, SessionTooLargeError

__all__ = [
    "UNKNOWN_SESSION_REASON",
    "AfterAnswer",
    "EngineOptions",
    "RequestFacts",
    "RequestKey",
    "ServerEngine",
    "lowlevel_server",
    "request_key",
]

logger = logging.getLogger(__name__)

UNKNOWN_SESSION_REASON = "unknown-session"
"""`error.data.reason` of the answer to a request whose 2025 session id this fleet cannot verify."""

CANCEL_RETRY_DELAY = 1
"""Seconds before a cancellation for a request this worker is not running is offered again."""

RequestKey = tuple[str, RequestId, str]
"""(client id or reply address, JSON-RPC id, request token): what makes two deliveries one request."""


def request_key(envelope: Envelope, reply_to: str | None, request_id: RequestId) -> RequestKey:
    """The key of a request (or of the request a cancel names); ids compare the way the SDK compares
    them (`"5"` is request `5`). A client without tokens (an older one) is keyed by id alone."""
    return (envelope.client_id or reply_to or "", coerce_request_id(request_id), envelope.request_token or "")


def lowlevel_server(app: Any) -> Server[Any]:
    """The lowlevel `Server` behind `app` (a `Server` or an `MCPServer`)."""
    if isinstance(app, Server):
        return app  # pyright: ignore[reportUnknownVariableType]
    inner = getattr(app, "_lowlevel_server", None)
    if isinstance(inner, Server):
        return inner  # pyright: ignore[reportUnknownVariableType]
    raise TypeError(f"expected an mcp Server or MCPServer, got {type(app).__name__}")


@dataclass(frozen=True)
class EngineOptions:
    """How a worker receives and serves; a channel's server config fills these in (`from_settings`)."""

    max_in_flight: int = 64
    """Requests served at once; at the limit the worker stops receiving so others take the work."""
    max_batch: int = 10
    """Frames asked for per receive call."""
    on_bad_message: Literal["delete", "dead-letter"] = "delete"
    """Unservable messages: delete them, or leave them for the queue's redrive policy."""
    dedupe_window_seconds: float = 600.0
    """How long answered requests are remembered so a redelivery does not run a tool twice."""
    request_timeout_seconds: float | None = None
    """A handler still running after this is cancelled and answered with a timeout error."""
    shutdown_grace_seconds: float = 0.0
    """On `stop()`, how long in-flight requests may finish before they are handed back to the queue."""
    worker_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    """Names this worker in server-to-client request ids and its wake frames."""
    shadow: bool = False
    """Serve every request but send nothing back (a shadow deployment on an observer queue)."""
    max_waiting_on_clients: int = 64
    """Server-to-client requests (2025 sampling, elicitation) awaiting their client's answer at once;
    beyond it a handler's request is answered with an error at once instead of being sent."""
    client_answer_timeout_seconds: float = 300.0
    """How long a handler waits for a client's answer before its request fails with a timeout error."""

    @classmethod
    def from_settings(cls, settings: ServerSettings, *, shutdown_grace_seconds: float = 0.0) -> EngineOptions:
        return cls(
            max_in_flight=settings.max_in_flight,
            max_batch=settings.max_messages,
            on_bad_message=settings.on_bad_message,
            dedupe_window_seconds=settings.dedupe_window_seconds,
            request_timeout_seconds=settings.transport_timeout_seconds,
            shutdown_grace_seconds=shutdown_grace_seconds,
            shadow=settings.shadow,
            max_waiting_on_clients=settings.max_waiting_on_clients,
            client_answer_timeout_seconds=settings.client_answer_timeout_seconds,
        )


AfterAnswer = Callable[[Callable[[], Awaitable[None]]], None]
"""Hands the engine work to run after a request's answer is sent, with its message still held."""


@dataclass(frozen=True)
class RequestFacts:
    """What the transport knows about a request; handlers read it as `ctx.request`.

    (`ctx.request_context.request` on `MCPServer` tools.)
    """

    address: str
    client_id: str | None
    reply_to: str
    session_id: str | None
    attributes: Mapping[str, str]
    receive_count: int
    after_answer: AfterAnswer | None = None
    """Work to run once the answer is out, before the request's message is acknowledged (a task's
    run, `asyncmcp.tasks`): the message stays held meanwhile, so if this worker dies it reappears
    and another worker's redelivery resumes the work; if the work fails or the worker stops, the
    message is handed back rather than acknowledged."""

    @classmethod
    def of(
        cls,
        address: str,
        delivery: Delivery,
        envelope: Envelope,
        reply_to: str,
        after_answer: AfterAnswer | None = None,
    ) -> RequestFacts:
        return cls(
            address=address,
            client_id=envelope.client_id,
            reply_to=reply_to,
            session_id=envelope.session_id,
            attributes=dict(delivery.frame.attributes),
            receive_count=delivery.receive_count,
            after_answer=after_answer,
        )


class ServerEngine:
    """Serves `server` on a channel's request address (`binding`) until cancelled or stopped."""

    def __init__(
        self,
        server: Any,
        binding: ServerBinding,
        *,
        signer: SessionSigner,
        options: EngineOptions | None = None,
    ) -> None:
        self.server = lowlevel_server(server)
        self.binding = binding
        self.channel = channel = binding.channel
        self.address = address = binding.address
        self.policy = binding.policy
        self.signer = signer
        self.options = options or EngineOptions()
        if self.options.on_bad_message == "dead-letter" and not channel.capabilities.dead_letter:
            raise ValueError(
                f"on_bad_message='dead-letter' needs a channel with a dead-letter queue; {address} has none: "
                "use on_bad_message='delete'"
            )
        self.stats: Counter[str] = Counter()
        self.answers = Answers(channel, self.stats, silent=self.options.shadow)
        self._runs: dict[RequestKey, _RequestRun] = {}
        self._answered = ExpiringSet(self.options.dedupe_window_seconds)
        self._cancelled = ExpiringSet(max(self.options.dedupe_window_seconds, 60.0))
        self._back_routes: dict[str, tuple[_RequestRun, RequestId]] = {}
        self._in_flight = 0
        self._slot_free = anyio.Event()
        self._receive_scope: anyio.CancelScope | None = None
        self._poller = Poller(channel, address, wake_token=self.options.worker_tag)
        self._stop_requested = anyio.Event()
        self._receive_done = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self.lifespan_state: Any = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting_on_clients(self) -> int:
        """Server-to-client requests (2025 sampling, elicitation) whose client has not answered yet."""
        return len(self._back_routes)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Receive and serve until cancelled, or until `stop()` and the grace period end."""
        async with self.server.lifespan(self.server) as state:
            self.lifespan_state = state
            async with anyio.create_task_group() as tg:
                self._tg = tg
                with anyio.CancelScope() as self._receive_scope:
                    tg.start_soon(self._stop_receiving)
                    task_status.started()
                    await self._receive_loop(tg)
                # stop() was called: let in-flight requests finish within the grace period.
                with anyio.move_on_after(self.options.shutdown_grace_seconds):
                    while self._in_flight:
                        self._slot_free = anyio.Event()
                        await self._slot_free.wait()
                tg.cancel_scope.cancel()

    def stop(self) -> None:
        """Stop receiving; in-flight requests get `shutdown_grace_seconds` to finish."""
        self._stop_requested.set()

    async def _stop_receiving(self) -> None:
        """On `stop()`, end the outstanding long poll (`Poller.stop`), then stop the receive loop."""
        await self._stop_requested.wait()
        await self._poller.stop(self._receive_done)
        if self._receive_scope is not None:
            self._receive_scope.cancel()

    async def _receive_loop(self, tg: anyio.abc.TaskGroup) -> None:
        poller = self._poller
        limit = self.options.max_in_flight
        while not self._stop_requested.is_set():
            while self._busy() >= limit:
                self._slot_free = anyio.Event()
                await self._slot_free.wait()
            for delivery in await poller.next_batch(min(self.options.max_batch, limit - self._busy())):
                self._in_flight += 1
                tg.start_soon(self._handle, delivery)
        self._receive_done.set()

    def _busy(self) -> int:
        """Requests counted against `max_in_flight`: a handler parked on a client's answer (2025
        sampling/elicitation) does not count, so the answers it waits for can still be received;
        those have their own bound (`max_waiting_on_clients`)."""
        return self._in_flight - len({run for run, _ in self._back_routes.values()})

    async def _handle(self, delivery: Delivery) -> None:
        try:
            await self._route(delivery)
        except Exception:
            logger.exception("unexpected failure serving a message from %s; handing it back", self.address)
            delivery.release(None)
        finally:
            self._in_flight -= 1
            self._slot_free.set()

    async def _route(self, delivery: Delivery) -> None:
        opened = open_delivery(delivery, self.options.worker_tag)
        if opened is None:
            return
        envelope, message = opened.envelope, opened.message
        if message is None:
            await self._refuse(delivery, envelope, opened.error, envelope.reply_to)
        elif isinstance(message, JSONRPCRequest):
            await self._serve_request(delivery, envelope, message)
        elif isinstance(message, JSONRPCNotification):
            await self._on_notification(delivery, envelope, message)
        else:
            await self._on_client_answer(delivery, envelope, message)

    async def _refuse(
        self, delivery: Delivery, envelope: Envelope, error: JSONRPCError | None, reply_to: str | None
    ) -> None:
        """Answer an unservable message when possible, then dispose of it as configured.

        Never silently: a message deleted here is answered when it names an allowed reply address
        (whatever its receive count: a request redelivered after a worker died is deleted now, so
        this is its only answer), and every refusal with an error is logged. A message left for the
        dead-letter queue comes back, so it is answered on its first delivery only.
        """
        self.stats["refused"] += 1
        deleting = self.options.on_bad_message == "delete"
        if error is not None:
            disposal = "deleting it" if deleting else "leaving it for the dead-letter queue"
            logger.warning(
                "refused message %r from client %s on %s (delivery %d): %s; %s",
                error.id,
                envelope.client_id or "?",
                self.address,
                delivery.receive_count,
                error.error.message,
                disposal,
            )
        if error is not None and reply_to and (deleting or delivery.receive_count <= 1):
            if self._may_answer(reply_to):
                await self.answers.send_quietly(Caller(reply_to, envelope.client_id, envelope.request_token), error)
            else:
                logger.warning("not answering %s: reply address %s is not allowed", self.address, reply_to)
        if deleting:
            delivery.ack()
        else:
            delivery.release(None)  # let the hold lapse; the redrive policy moves it to the dead-letter queue

    def _may_answer(self, reply_to: str) -> bool:
        """Whether `reply_to` may be sent to: the operator's reply policy allows it, and it is not the
        request address itself (an answer there would come back to the workers as a stray frame, and
        every stray answered there would make another)."""
        return reply_to != self.address and self.policy.allows(reply_to)

    def _reply_address(self, envelope: Envelope, message: JSONRPCRequest, session: LegacySession | None) -> str | None:
        if envelope.reply_to:
            return envelope.reply_to
        if session is not None and session.reply_to:
            return session.reply_to
        if message.method == "initialize":
            named = seed_reply_address(message.params, self.binding.handshake_meta_key)
            if named is not None:
                return named
        return self.binding.default_reply_to

    async def _serve_request(self, delivery: Delivery, envelope: Envelope, message: JSONRPCRequest) -> None:
        session: LegacySession | None = None
        session_error: str | None = None
        if envelope.session_id and message.method != "initialize":
            try:
                session = self.signer.verify(envelope.session_id)
                if session.client_id and session.client_id != envelope.client_id:
                    session, session_error = None, "the session id belongs to another client"
                elif session.reply_to and envelope.reply_to and session.reply_to != envelope.reply_to:
                    session, session_error = None, "the session id belongs to another reply address"
            except InvalidSessionError as exc:
                session_error = str(exc)
        reply_to = self._reply_address(envelope, message, session)
        if reply_to is None:
            logger.warning(
                "request %r (%s) on %s names no reply address (attribute %s or initialize _meta.%s); %s",
                message.id,
                message.method,
                self.address,
                ATTR_REPLY_TO,
                self.binding.handshake_meta_key,
                "dropping it" if self.options.on_bad_message == "delete" else "leaving it for the dead-letter queue",
            )
            await self._refuse(delivery, envelope, None, None)
            return
        if not self._may_answer(reply_to):
            logger.warning(
                "refused request %r from client %s: reply address %s is not allowed; this server replies only to %s",
                message.id,
                envelope.client_id,
                reply_to,
                "an address other than its request address" if reply_to == self.address else self.policy.describe(),
            )
            await self._refuse(delivery, envelope, None, None)
            return
        if session_error is not None:
            await self._refuse(
                delivery,
                envelope,
                jsonrpc_error(
                    message.id,
                    INVALID_REQUEST,
                    f"Unknown session ({session_error}). Initialize a new session; if several workers share "
                    "the queue, give them all the same state key (ASYNCMCP_STATE_KEY).",
                    {"reason": UNKNOWN_SESSION_REASON},
                ),
                reply_to,
            )
            return
        version = envelope.protocol_version
        known = (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)
        if version is not None and version not in known and not has_modern_envelope(message.params):
            await self._refuse(
                delivery,
                envelope,
                jsonrpc_error(
                    message.id,
                    UNSUPPORTED_PROTOCOL_VERSION,
                    f"Unsupported protocol version {version!r}; this server speaks {', '.join(known)}",
                    {"supported": list(known), "requested": version},
                ),
                reply_to,
            )
            return

        key = request_key(envelope, reply_to, message.id)
        if self.answers.kept(key):
            await self.answers.resend(key, delivery)
            self._answered.add(key)
            return
        running = self._runs.get(key)
        if running is not None:
            self.stats["duplicates"] += 1
            running.deliveries.append(delivery)  # redelivered while running: settle it with the first
            return
        if key in self._answered or key in self._cancelled:
            self.stats["duplicates"] += 1
            delivery.ack()
            return
        run = _RequestRun(self, delivery, envelope, message, reply_to, session)
        self._runs[key] = run
        try:
            await run.serve()
            await run.finish_after_answer()
        finally:
            # Also reached when the worker shuts down mid-request: an unsettled request is handed
            # straight back to the queue so another worker answers it without waiting out visibility.
            del self._runs[key]
            for route in run.back_route_ids:
                self._back_routes.pop(route, None)
            done = run.settled and run.after_answer_done
            if done:
                self._answered.add(key)
            for each in run.deliveries:
                if done:
                    each.ack()
                else:
                    each.release(UNSENT_RETRY_DELAY if self.answers.kept(key) else 0)

    async def _on_notification(self, delivery: Delivery, envelope: Envelope, message: JSONRPCNotification) -> None:
        if message.method == "notifications/cancelled":
            request_id = (message.params or {}).get("requestId")
            if not isinstance(request_id, str | int):
                delivery.ack()
                return
            key = request_key(envelope, envelope.reply_to, request_id)
            run = self._runs.get(key)
            if run is not None:
                await run.deliver(SessionMessage(message))
                delivery.ack()
            elif key in self._answered:
                delivery.ack()
            else:
                # Not running here: maybe on another worker, maybe not yet received. Remember it
                # so the request is never started here, and offer the cancel to the others.
                self._cancelled.add(key)
                self._hand_back_stray(delivery, min_delay=CANCEL_RETRY_DELAY)
            return
        if message.method != "notifications/initialized":
            logger.debug("ignoring notification %s from %s: sessions are stateless", message.method, envelope.client_id)
        delivery.ack()

    async def _on_client_answer(
        self, delivery: Delivery, envelope: Envelope, message: JSONRPCResponse | JSONRPCError
    ) -> None:
        """A client's answer to a server-to-client request: feed it to the waiting handler, hand it back
        when it may be another live worker's, drop it otherwise."""
        answer_id = str(message.id)
        route = self._back_routes.get(answer_id)
        if route is not None and not route[0].answered_by(envelope):
            self.stats["forged_answers"] += 1
            logger.warning(
                "an answer to server request %s came without its client's id and request token; ignored", answer_id
            )
            delivery.ack()
        elif route is not None:
            del self._back_routes[answer_id]
            run, original_id = route
            await run.deliver(SessionMessage(message.model_copy(update={"id": original_id})))
            delivery.ack()
        elif _another_workers_route(message.id, self.options.worker_tag):
            self._hand_back_stray(delivery)
        else:
            # A late answer to this worker (its handler finished) or one no worker can have asked for.
            self.stats["strays_dropped"] += 1
            logger.debug("dropping a client answer %s that no handler waits for", answer_id)
            delivery.ack()

    def _hand_back_stray(self, delivery: Delivery, *, min_delay: float = 0) -> None:
        """Offer a frame another worker may be waiting for back to the channel (`receiving.hand_back`
        bounds what it can cost)."""
        if hand_back(delivery, self.channel, min_delay=min_delay):
            self.stats["handed_back"] += 1
        else:
            self.stats["strays_dropped"] += 1

    def back_route(self, run: _RequestRun, original_id: RequestId) -> str | None:
        """Give a server-to-client request an id that names this worker and cannot be guessed; None
        when `max_waiting_on_clients` requests already wait for their clients."""
        if len(self._back_routes) >= self.options.max_waiting_on_clients:
            return None
        new_id = f"{self.options.worker_tag}.{secrets.token_hex(8)}"
        self._back_routes[new_id] = (run, original_id)
        run.back_route_ids.append(new_id)
        self._slot_free.set()  # a parked handler frees its slot: the receive loop may take more
        return new_id

    def forget_back_route(self, route_id: str) -> bool:
        """Stop waiting for the answer to a server-to-client request; False when it was answered."""
        return self._back_routes.pop(route_id, None) is not None


_ROUTE_ID = re.compile(r"^([A-Za-z0-9_-]{1,64})\.[0-9a-f]{16}$")
"""A server-to-client request id as `ServerEngine.back_route` writes it: `<worker tag>.<16 hex>`."""


def _another_workers_route(answer_id: RequestId | None, own_tag: str) -> bool:
    """Whether an answer's id can be that of another worker's server-to-client request."""
    match = _ROUTE_ID.match(answer_id) if isinstance(answer_id, str) else None
    return match is not None and match.group(1) != own_tag


class _RequestRun:
    """One request served on its own SDK loop; forwards everything the loop emits to the client."""

    def __init__(
        self,
        engine: ServerEngine,
        delivery: Delivery,
        envelope: Envelope,
        message: JSONRPCRequest,
        reply_to: str,
        session: LegacySession | None,
    ) -> None:
        self.engine = engine
        self.deliveries: list[Delivery] = [delivery]
        self.envelope = envelope
        self.message = message
        self.reply_to = reply_to
        self.session = session
        self.settled = False
        """The request is finished with: answered, or cancelled by the client (acknowledge it)."""
        self.key = request_key(envelope, reply_to, message.id)
        self.caller = Caller(reply_to, envelope.client_id, envelope.request_token)
        self.back_route_ids: list[str] = []
        self._tg: anyio.abc.TaskGroup | None = None
        self._finished = anyio.Event()
        """The run is over: timers of its questions to the client stop waiting."""
        self.after_answer: list[Callable[[], Awaitable[None]]] = []
        self.after_answer_done = True
        """False while work handed over with `RequestFacts.after_answer` is unfinished or failed."""
        self._inbound: anyio.abc.ObjectSendStream[SessionMessage | Exception] | None = None
        if message.method == "initialize":
            self.era: Literal["modern", "initialize", "legacy"] = "initialize"
        elif has_modern_envelope(message.params):
            self.era = "modern"
        else:
            self.era = "legacy"

    async def serve(self) -> None:
        inbound_send, inbound_receive = anyio.create_memory_object_stream[SessionMessage | Exception](16)
        outbound_send, outbound_receive = anyio.create_memory_object_stream[SessionMessage](16)
        self._inbound = inbound_send
        facts = RequestFacts.of(
            self.engine.address, self.deliveries[0], self.envelope, self.reply_to, self._defer_after_answer
        )
        metadata = ServerMessageMetadata(
            request_context=facts,
            on_request_unanswered=self._unanswered,
            # SSE polling is a 2025-era feature: the SDK offers no stream to close at 2026-07-28.
            close_sse_stream=self._close_stream if self.era != "modern" else None,
        )
        timeout = self.engine.options.request_timeout_seconds
        keepalive = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._serve_loop, inbound_receive, outbound_send)
            asked = self.envelope.keepalive_seconds
            if asked is not None:
                answers = self.engine.answers
                tg.start_soon(answers.keep_alive, self.caller, self.message.id, asked, keepalive)
            await inbound_send.send(SessionMessage(self.message, metadata))
            async with outbound_receive:
                final: JSONRPCMessage | None = None
                with anyio.move_on_after(timeout if timeout is not None else float("inf")) as scope:
                    async for item in outbound_receive:
                        if self._is_final(item.message):
                            final = item.message  # sent outside the timeout: a cut-off send would lose it
                            break
                        related = item.metadata if isinstance(item.metadata, ServerMessageMetadata) else None
                        await self._forward(item.message, related.related_request_id if related else None)
                        if self.settled:
                            break
                keepalive.cancel()
                if final is not None:
                    await self._forward(final)
                elif scope.cancelled_caught and not self.settled:
                    await self._forward(
                        jsonrpc_error(
                            self.message.id,
                            REQUEST_TIMEOUT,
                            f"{self.message.method} ran longer than the server's transport_timeout_seconds "
                            f"({timeout:g} s) and was cancelled",
                        )
                    )
                await inbound_send.aclose()  # EOF: the loop cancels whatever is left and exits
                async for _late in outbound_receive:
                    pass  # frames emitted during teardown have no one to go to
            self._finished.set()

    def answered_by(self, envelope: Envelope) -> bool:
        """Whether a client's answer to one of this run's server-to-client requests comes from the
        client that made the request: its client id and, when the request carried one, its token."""
        token = self.envelope.request_token
        return envelope.client_id == self.envelope.client_id and (token is None or envelope.request_token == token)

    def _defer_after_answer(self, work: Callable[[], Awaitable[None]]) -> None:
        self.after_answer.append(work)
        self.after_answer_done = False

    async def finish_after_answer(self) -> None:
        """Run the work handed over for after the answer (only once the answer went out).

        A failure is logged and leaves the message unacknowledged, so it is handed back and the
        work is tried again on a redelivery (at-least-once, as for the request itself).
        """
        if not self.settled or not self.after_answer:
            return
        self.engine.stats["after_answer"] += 1
        try:
            for work in self.after_answer:
                await work()
        except Exception:
            logger.exception(
                "work after answering %r for client %s failed; handing the request back",
                self.message.id,
                self.envelope.client_id,
            )
            return
        self.after_answer_done = True

    async def deliver(self, item: SessionMessage) -> None:
        """Feed a client frame (cancel, or an answer to a server request) into this run's loop."""
        if self._inbound is not None:
            try:
                await self._inbound.send(item)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass

    async def _close_stream(self) -> None:
        """The handler closed its SSE stream: tell the client, which may front one (the proxy)."""
        await self.engine.answers.send_control(self.caller, close_stream_frame(self.message.id), self.message.id)

    async def _unanswered(self) -> None:
        """The SDK settled the request with no response: the client cancelled it."""
        self.settled = True
        self.engine.stats["cancelled"] += 1
        if self._inbound is not None:
            await self._inbound.aclose()

    async def _serve_loop(
        self,
        inbound: anyio.abc.ObjectReceiveStream[SessionMessage | Exception],
        outbound: anyio.abc.ObjectSendStream[SessionMessage],
    ) -> None:
        server, state = self.engine.server, self.engine.lifespan_state
        if self.era != "legacy":
            await serve_dual_era_loop(server, inbound, outbound, lifespan_state=state)
            return
        session = self.session
        version = session.protocol_version if session else self.envelope.protocol_version or LATEST_HANDSHAKE_VERSION
        if version not in HANDSHAKE_PROTOCOL_VERSIONS:
            version = LATEST_HANDSHAKE_VERSION
        dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(
            inbound, outbound, inline_methods=frozenset({"initialize"})
        )
        connection = Connection.from_envelope(
            version,
            session.client_info if session else None,
            session.capabilities if session else None,
            outbound=dispatcher,
        )
        connection.session_id = self.envelope.session_id
        await serve_connection(server, dispatcher, connection=connection, lifespan_state=state)

    def _is_final(self, message: JSONRPCMessage) -> bool:
        """Whether `message` is the request's answer (its response or error)."""
        return isinstance(message, JSONRPCResponse | JSONRPCError) and message.id == self.message.id

    async def _forward(self, message: JSONRPCMessage, related_request_id: RequestId | None = None) -> None:
        final = self._is_final(message)
        attributes: dict[str, str] = {}
        if final and self.era == "initialize" and isinstance(message, JSONRPCResponse):
            try:
                attributes[ATTR_SESSION_ID] = self._mint_session(message)
            except SessionTooLargeError as exc:
                logger.warning("refused initialize %r from client %s: %s", message.id, self.envelope.client_id, exc)
                message = jsonrpc_error(message.id, INVALID_PARAMS, f"initialize refused: {exc}")
        elif self.envelope.session_id:
            attributes[ATTR_SESSION_ID] = self.envelope.session_id
        answers = self.engine.answers
        if final:
            self.settled = await answers.send_final(self.key, self.caller, message, self.message.id, attributes)
        elif isinstance(message, JSONRPCRequest):
            await self._ask_client(message, attributes, related_request_id)
        else:
            await answers.send_notice(
                self.caller, message, self.message.id, attributes, related_request_id=related_request_id
            )

    async def _ask_client(
        self, request: JSONRPCRequest, attributes: dict[str, str], related_request_id: RequestId | None
    ) -> None:
        """Send a handler's request to the client (2025 sampling, elicitation), bounded in number and
        in time; a request over the bound, or one that cannot be sent, fails back to the handler."""
        engine = self.engine
        route_id = engine.back_route(self, request.id)
        if route_id is None:
            engine.stats["client_requests_refused"] += 1
            await self.deliver(
                SessionMessage(
                    jsonrpc_error(
                        request.id,
                        INTERNAL_ERROR,
                        f"{engine.options.max_waiting_on_clients} handlers of this worker already wait for their "
                        f"clients' answers (max_waiting_on_clients); {request.method} was not sent, try again later",
                    )
                )
            )
            return
        renamed = request.model_copy(update={"id": route_id})
        sent = await engine.answers.send_notice(
            self.caller, renamed, self.message.id, attributes, related_request_id=related_request_id
        )
        if not sent:
            engine.forget_back_route(route_id)
            await self.deliver(
                SessionMessage(jsonrpc_error(request.id, INTERNAL_ERROR, f"{request.method} could not be sent"))
            )
            return
        if self._tg is not None:
            self._tg.start_soon(self._expire_client_request, route_id, request)

    async def _expire_client_request(self, route_id: str, request: JSONRPCRequest) -> None:
        timeout = self.engine.options.client_answer_timeout_seconds
        with anyio.move_on_after(timeout):
            await self._finished.wait()
        if not self._finished.is_set() and self.engine.forget_back_route(route_id):
            self.engine.stats["client_answer_timeouts"] += 1
            message = (
                f"the client did not answer {request.method} within {timeout:g} s "
                "(the server's client_answer_timeout_seconds)"
            )
            await self.deliver(SessionMessage(jsonrpc_error(request.id, REQUEST_TIMEOUT, message)))

    def _mint_session(self, response: JSONRPCResponse) -> str:
        params = self.message.params or {}
        negotiated = response.result.get("protocolVersion")
        info = as_mapping(params.get("clientInfo"))
        # Icons may be large data: URIs; the token travels on every message and must stay small.
        client_info = {k: v for k, v in info.items() if k != "icons"} if info is not None else None
        capabilities = as_mapping(params.get("capabilities"))
        return self.engine.signer.mint(
            LegacySession(
                protocol_version=negotiated if isinstance(negotiated, str) else LATEST_HANDSHAKE_VERSION,
                client_id=self.envelope.client_id,
                reply_to=self.reply_to,
                client_info=client_info,
                capabilities=dict(capabilities) if capabilities is not None else None,
            )
        )
