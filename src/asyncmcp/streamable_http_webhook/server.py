"""The hybrid server: the SDK's own Streamable HTTP, with chosen tools answered by webhook.

Every request goes to the SDK's `StreamableHTTPSessionManager` (both eras: 2025 sessions with
resumable SSE and a per-session event store, 2026 stateless requests), with one exception, looked
for in the POST body before the SDK sees it: a `tools/call` of a webhook tool from a client that
named a webhook URL (its 2025 `initialize` `_meta.webhookUrl`; a 2026 request's own
`_meta.webhookUrl`). That POST is answered `202 Accepted` (`asyncmcp-webhook: accepted`) and
closed at once; the same request is then served by the SDK in the background, as an HTTP exchange
of its own whose answer stream is read here, and every message on it (progress, log lines, the
handler's requests to a 2025 client, the final answer) is POSTed to the webhook, signed, in order.
Going through the SDK rather than around it keeps everything a request gets there: the session, the
era's validation, middleware, capabilities, `input_required`.

- A client that named no webhook URL (any standard client) never reaches the exception: every tool
  is answered inline.
- The answer is kept (`calls.py`) and served inline to a resend of the same request or a fetch
  (`asyncmcp-fetch: result`), so an answer whose webhook failed is not lost; a running call is
  answered 202 again, never started twice.
- `notifications/cancelled` naming a running webhook call cancels it (at 2026 the SDK would drop
  the notification: its cancellation is closing the request's stream, which is closed already).
- Webhook URLs are client input: the webhook transport's SSRF rules judge them (a refused one is
  answered 403 with the reason before anything runs), and its sender signs and retries.
"""

from __future__ import annotations

import codecs
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server import Server
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, is_version_at_least
from starlette.types import Message, Receive, Scope, Send

from asyncmcp.channels.webhook.delivery import WebhookSender
from asyncmcp.channels.webhook.ingress import BodyTooLarge, read_body
from asyncmcp.channels.webhook.transport import WebhookReplyPolicy, egress_policy, webhook_sender
from asyncmcp.codec import ATTR_CLIENT_ID, ATTR_RELATED_REQUEST_ID, ATTR_SESSION_ID, Frame, as_mapping
from asyncmcp.errors import ChannelError
from asyncmcp.proxy.events import EventBudget
from asyncmcp.proxy.http import FrontSecurity
from asyncmcp.proxy.sessions import BoundedSessions
from asyncmcp.server.engine import lowlevel_server
from asyncmcp.streamable_http_webhook.calls import CallKey, WebhookCall, WebhookCalls
from asyncmcp.streamable_http_webhook.config import StreamableHTTPWebhookConfig
from asyncmcp.streamable_http_webhook.tools import AdvertiseWebhookTools, WebhookTools
from asyncmcp.streamable_http_webhook.wire import (
    ACCEPTED,
    ACCEPTED_HEADER,
    FETCH_HEADER,
    FETCH_RESULT,
    WEBHOOK_URL_META_KEY,
)

__all__ = ["HybridServer"]

logger = logging.getLogger(__name__)

MAX_QUEUED_MESSAGES = 1024
"""Messages of one webhook call waiting for their webhook at most: a handler that outruns a slow
receiver by more than this waits for it (the SDK's stream applies the back-pressure)."""

MAX_REMEMBERED_SESSIONS = 10_000
"""2025 sessions whose webhook URL is remembered (the SDK's own default session limit)."""

INTERNAL_ERROR = -32603


PRIMED_SINCE = "2025-11-25"
"""From this version on, the SDK opens a session's every SSE answer with a priming event (an event
id and the retry interval, for `Last-Event-ID` resumption) written before the request is
dispatched."""

_READ_HEADERS = {
    name.encode(): name for name in (ATTR_SESSION_ID, ATTR_CLIENT_ID, FETCH_HEADER, MCP_PROTOCOL_VERSION_HEADER)
}
"""The request headers the routing reads; only these are decoded (a request carries a dozen more;
ASGI gives header names lower-cased)."""


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name in _READ_HEADERS:
            out[_READ_HEADERS[name]] = value.decode("latin-1")
    return out


def _primed(headers: dict[str, str]) -> bool:
    """Whether the SDK's SSE answer to this request of a 2025 session opens with a priming event."""
    version = headers.get(MCP_PROTOCOL_VERSION_HEADER)
    return (
        ATTR_SESSION_ID in headers
        and version in HANDSHAKE_PROTOCOL_VERSIONS
        and is_version_at_least(version, PRIMED_SINCE)
    )


def _start_with_first_chunk(send: Send) -> Send:
    """`send`, holding an SSE answer's start until its first body chunk, so the headers and the
    priming event that follows at once leave in one go and the client reads them as one: otherwise
    every call of a 2025 session costs the client a read of its own for the headers."""
    held: list[Message] = []

    async def coalesced(message: Message) -> None:
        if message["type"] == "http.response.start" and not held:
            content_type = next((v for k, v in message.get("headers", []) if k == b"content-type"), b"")
            if bytes(content_type).startswith(b"text/event-stream"):
                held.append(message)
                return
        if held:
            await send(held.pop())
        await send(message)

    return coalesced


async def _answer(send: Send, status: int, payload: object, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error(request_id: object, message: str, code: int = INTERNAL_ERROR) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})


class _AnswerStream:
    """The JSON-RPC messages of one Streamable HTTP answer, as they arrive: a JSON body, or SSE events
    (their `data:` lines; comments, priming events and pings carry none)."""

    def __init__(self) -> None:
        self.status = 0
        self._sse = False
        self._buffer = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span chunks

    def start(self, message: Message) -> None:
        self.status = int(message["status"])
        headers = {bytes(k).lower(): bytes(v) for k, v in message.get("headers", [])}
        self._sse = headers.get(b"content-type", b"").startswith(b"text/event-stream")

    def feed(self, chunk: bytes, *, more: bool) -> list[str]:
        self._buffer += self._decoder.decode(chunk, final=not more)
        if not self._sse:
            if more:
                return []
            text, self._buffer = self._buffer.strip(), ""
            return [text] if text else []
        self._buffer = self._buffer.replace("\r\n", "\n")
        events: list[str] = []
        while "\n\n" in self._buffer:
            event, self._buffer = self._buffer.split("\n\n", 1)
            data = [line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")]
            if data and "".join(data).strip():
                events.append("\n".join(data))
        return events


class HybridServer:
    """An MCP server (`Server` or `MCPServer`) as an ASGI app: Streamable HTTP, webhook tools by webhook.

    Run `running()` around serving it (the app's lifespan): it runs the SDK's session manager, the
    webhook sender and the background calls.
    """

    def __init__(self, server: Any, config: StreamableHTTPWebhookConfig) -> None:
        self.config = config
        self.lowlevel: Server[Any] = lowlevel_server(server)
        self.tools = WebhookTools(server, config.webhook_tools)
        if not any(isinstance(each, AdvertiseWebhookTools) for each in self.lowlevel.middleware):
            self.lowlevel.middleware.append(AdvertiseWebhookTools(self.tools))
        self.manager = BoundedSessions(
            app=self.lowlevel,
            max_sessions_per_client=None,
            event_budget=EventBudget(),
            security_settings=FrontSecurity(
                allowed_hosts=config.allowed_hosts, allowed_origins=config.allowed_origins
            ).transport_settings(config.host),
            max_request_body_size=config.max_body_bytes,
        )
        self.calls = WebhookCalls(ttl_seconds=config.result_ttl_seconds, max_kept=config.max_kept_results)
        self.reply_policy = WebhookReplyPolicy(egress_policy(config))
        self._session_webhooks: OrderedDict[str, str] = OrderedDict()
        self._sender: WebhookSender | None = None
        self._tg: anyio.abc.TaskGroup | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[HybridServer]:
        async with (
            webhook_sender(self.config, egress_policy(self.config), self.config.retry_delays) as sender,
            self.manager.run(),
            anyio.create_task_group() as tg,
        ):
            self._sender, self._tg = sender, tg
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
                self._sender = self._tg = None

    @property
    def sender(self) -> WebhookSender:
        if self._sender is None:
            raise RuntimeError("HybridServer used outside `running()` (the app's lifespan)")
        return self._sender

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.manager.handle_request(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.config.max_body_bytes)
        except BodyTooLarge:
            await _answer(send, 413, {"error": f"body over {self.config.max_body_bytes} bytes"})
            return
        if body is None:
            return
        replayed = _replaying(body, receive)
        try:
            parsed: object = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            await self.manager.handle_request(scope, replayed, send)
            return
        message = cast("dict[str, Any]", parsed)
        headers = _headers(scope)
        method = message.get("method")
        if method == "initialize":
            await self._initialize(message, scope, replayed, send)
            return
        if method == "notifications/cancelled" and self._cancel(message, headers):
            if ATTR_SESSION_ID not in headers:
                await _answer(send, 202, {"accepted": True})  # 2026: the SDK has nothing to cancel
                return
        elif (
            method == "tools/call"
            and "id" in message
            and await self._webhook_call(message, bytes(body), headers, scope, send)
        ):
            return
        if "id" in message and _primed(headers):
            send = _start_with_first_chunk(send)
        await self.manager.handle_request(scope, replayed, send)

    def _webhook_url(self, message: dict[str, Any], headers: dict[str, str]) -> str | None:
        session_id = headers.get(ATTR_SESSION_ID)
        if session_id is not None:
            return self._session_webhooks.get(session_id)
        meta = as_mapping((as_mapping(message.get("params")) or {}).get("_meta"))
        url = meta.get(WEBHOOK_URL_META_KEY) if meta is not None else None
        return url if isinstance(url, str) and url else None

    def _key(self, request_id: object, webhook_url: str, headers: dict[str, str]) -> CallKey:
        who = headers.get(ATTR_SESSION_ID) or headers.get(ATTR_CLIENT_ID, "")
        return (who, webhook_url, json.dumps(request_id))

    async def _initialize(self, message: dict[str, Any], scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a 2025 `initialize`; remember the webhook URL it names for the session it opens."""
        meta = as_mapping((as_mapping(message.get("params")) or {}).get("_meta"))
        url = meta.get(WEBHOOK_URL_META_KEY) if meta is not None else None
        if not isinstance(url, str) or not url:
            await self.manager.handle_request(scope, receive, send)
            return

        async def remember(reply: Message) -> None:
            if reply["type"] == "http.response.start":
                for name, value in reply.get("headers", []):
                    if bytes(name).lower() == ATTR_SESSION_ID.encode():
                        self._session_webhooks[bytes(value).decode("latin-1")] = url
                        while len(self._session_webhooks) > MAX_REMEMBERED_SESSIONS:
                            self._session_webhooks.popitem(last=False)
            await send(reply)

        await self.manager.handle_request(scope, receive, remember)

    def _cancel(self, message: dict[str, Any], headers: dict[str, str]) -> bool:
        """Cancel the running webhook call a `notifications/cancelled` names; True if there was one."""
        params = as_mapping(message.get("params")) or {}
        url = self._webhook_url(message, headers)
        if url is None or "requestId" not in params:
            return False
        call = self.calls.get(self._key(params["requestId"], url, headers))
        if call is None or call.finished_at is not None:
            return False
        logger.info("webhook call %s cancelled by its client", call.key[2])
        call.scope.cancel()
        return True

    async def _webhook_call(
        self, message: dict[str, Any], raw: bytes, headers: dict[str, str], scope: Scope, send: Send
    ) -> bool:
        """Answer a `tools/call` by webhook when it is one; False to let the SDK answer it inline."""
        url = self._webhook_url(message, headers)
        if url is None:
            return False
        request_id = message["id"]
        key = self._key(request_id, url, headers)
        fetch = headers.get(FETCH_HEADER) == FETCH_RESULT
        call = self.calls.get(key)
        if call is not None:
            if call.answer is None:
                await _answer(
                    send, 202, {"accepted": True, "running": True}, [(ACCEPTED_HEADER.encode(), ACCEPTED.encode())]
                )
            else:
                await _answer_raw(send, call.answer)
            return True
        if fetch:
            await _answer(
                send, 404, json.loads(_error(request_id, f"this server knows no webhook call {request_id} of yours: "
                                             "it was restarted, or the answer expired", code=-32600)),
            )  # fmt: skip
            return True
        name = (as_mapping(message.get("params")) or {}).get("name")
        if name not in self.tools:
            return False
        refusal = self.reply_policy.refusal(Frame("", {"mcp-reply-to": url}))
        if refusal is not None:
            logger.warning("refused webhook call %s: %s", request_id, refusal)
            await _answer(send, 403, json.loads(_error(request_id, refusal, code=-32600)))
            return True
        if self._tg is None:
            raise RuntimeError("HybridServer used outside `running()` (the app's lifespan)")
        call = self.calls.start(key, url)
        self._tg.start_soon(self._run_call, call, dict(scope), headers.get(ATTR_CLIENT_ID), request_id, raw)
        await _answer(send, 202, {"accepted": True}, [(ACCEPTED_HEADER.encode(), ACCEPTED.encode())])
        return True

    async def _run_call(
        self, call: WebhookCall, scope: Scope, client_id: str | None, request_id: object, body: bytes
    ) -> None:
        """Serve one webhook call through the SDK as an exchange of its own, POSTing what it answers."""
        outbox, queued = anyio.create_memory_object_stream[tuple[str, bool]](MAX_QUEUED_MESSAGES)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._deliver, call, queued, client_id, request_id)
            async with outbox:
                with call.scope:
                    await self._exchange(call, scope, body, outbox, request_id)
                if call.scope.cancel_called:
                    self.calls.finished(call, None)  # a cancelled request gets no answer at all
                elif call.answer is None:
                    answer = _error(request_id, "the server ended the call without an answer")
                    self.calls.finished(call, answer)
                    await outbox.send((answer, True))

    async def _exchange(
        self,
        call: WebhookCall,
        scope: Scope,
        body: bytes,
        outbox: MemoryObjectSendStream[tuple[str, bool]],
        request_id: object,
    ) -> None:
        stream = _AnswerStream()
        closed = anyio.Event()

        async def disconnect_when_closed() -> Message:
            await closed.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                stream.start(message)
                return
            if message["type"] != "http.response.body":
                return
            more = bool(message.get("more_body", False))
            for each in stream.feed(bytes(message.get("body", b"")), more=more):
                text = each
                if stream.status >= 400 and not _is_answer(each, request_id):
                    text = _error(request_id, f"the server answered HTTP {stream.status}: {each[:200]}")
                final = _is_answer(text, request_id)
                if final:
                    self.calls.finished(call, text)
                await outbox.send((text, final))
            if not more:
                closed.set()

        try:
            await self.manager.handle_request(scope, _replaying(body, disconnect_when_closed), send)
        finally:
            closed.set()

    async def _deliver(
        self,
        call: WebhookCall,
        queued: MemoryObjectReceiveStream[tuple[str, bool]],
        client_id: str | None,
        request_id: object,
    ) -> None:
        attributes = {ATTR_RELATED_REQUEST_ID: str(request_id)}
        if client_id:
            attributes[ATTR_CLIENT_ID] = client_id
        async with queued:
            async for text, final in queued:
                try:
                    await self.sender.send(call.webhook_url, Frame(text, attributes))
                except ChannelError as exc:
                    what = "answer (kept for the client's fetch)" if final else "notification"
                    logger.warning("webhook call %s: could not deliver its %s: %s", request_id, what, exc)
                    continue
                if final:
                    call.delivered = True


def _is_answer(text: str, request_id: object) -> bool:
    try:
        parsed: object = json.loads(text)
    except ValueError:
        return False
    if not isinstance(parsed, dict):
        return False
    message = cast("dict[str, Any]", parsed)
    return "method" not in message and message.get("id") == request_id and ("result" in message or "error" in message)


async def _answer_raw(send: Send, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then whatever the connection sends next."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
