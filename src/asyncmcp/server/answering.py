"""Sending what answers a request, written once for the engine and the single-connection server.

A request is acknowledged only after its answer went out, so how an answer is sent decides what
a failure costs:

- a transient broker failure is retried a few times; if it persists on a channel that redelivers,
  the answer is *kept* and the request handed back: when it comes back the kept answer is sent
  instead of running the tool again. On a channel that cannot redeliver (a push channel) the send
  is retried in place for longer, since nothing would bring the request back;
- an answer larger than the reply address accepts is replaced by a JSON-RPC error naming both
  sizes, which fits;
- a permanent refusal (the reply queue is gone, access denied, content the broker will not carry)
  is logged at error level with the request id and counted, and the caller is sent a small error
  frame, which may get through where the result did not (not when the reply address itself is
  gone: that is one log line). Then the request is acknowledged: trying again cannot help.

Progress, log and server-to-client frames, and keep-alives (`keep_alive`), are best effort: a
failure is logged, never fatal.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace

import anyio
from mcp_types import INTERNAL_ERROR, JSONRPCError, JSONRPCMessage, JSONRPCResponse, RequestId

from asyncmcp.channels.base import Channel, Delivery
from asyncmcp.codec import (
    ATTR_CLIENT_ID,
    ATTR_CONTROL,
    ATTR_RELATED_REQUEST_ID,
    ATTR_REQUEST_TOKEN,
    CONTROL_CLOSE_STREAM,
    MIN_KEEPALIVE_SECONDS,
    Frame,
    FrameEncodeError,
    encode_message,
    jsonrpc_error,
    keepalive_frame,
)
from asyncmcp.errors import AddressNotFoundError, ChannelError, FrameTooLargeError

__all__ = ["UNSENT_RETRY_DELAY", "Answers", "Caller", "close_stream_frame", "reply_frame"]

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 3
"""Tries for an answer when the broker fails transiently (the broker client has already retried each call)."""

PUSH_SEND_ATTEMPTS = 8
"""Tries for an answer on a channel that cannot redeliver: nothing else will bring the request back."""

RETRY_PAUSE_SECONDS = 0.5
"""Pause before the second try of a send; it doubles with each further try (capped at 30 s)."""

UNSENT_RETRY_DELAY = 5.0
"""Seconds before a request whose answer could not be sent is offered again (its answer is re-sent)."""

MAX_UNSENT = 10_000
"""Answers kept for re-sending at most (oldest forgotten first)."""


@dataclass(frozen=True)
class Caller:
    """Whom a request's answer goes to: its reply address and the labels copied from the request onto
    every frame that answers it (the client id routes it on a shared reply queue; the request token
    proves to the client that the frame answers the request it sent, `codec.ATTR_REQUEST_TOKEN`)."""

    reply_to: str
    client_id: str | None = None
    request_token: str | None = None

    def label(self, frame: Frame) -> Frame:
        """`frame` with this caller's labels, ordered per client (or per reply address, for a client
        without an id)."""
        labels = dict(frame.attributes)
        if self.client_id:
            labels[ATTR_CLIENT_ID] = self.client_id
        if self.request_token:
            labels[ATTR_REQUEST_TOKEN] = self.request_token
        return replace(frame, attributes=labels, ordering_key=self.client_id or self.reply_to)


def reply_frame(
    message: JSONRPCMessage,
    caller: Caller,
    attributes: Mapping[str, str] | None = None,
    *,
    related_request_id: RequestId | None = None,
) -> Frame:
    """The frame of a server-to-client message, labelled for its caller and, for a notification or
    request the SDK sent within a request, with that request's id.

    An answer that cannot be encoded becomes an error answer naming why, so the caller is told and the
    request is finished with; for any other message `FrameEncodeError` is raised.
    """
    labels = dict(attributes or {})
    if related_request_id is not None:
        labels[ATTR_RELATED_REQUEST_ID] = str(related_request_id)
    try:
        body = encode_message(message)
    except FrameEncodeError as exc:
        if not isinstance(message, JSONRPCResponse | JSONRPCError):
            raise
        logger.error("the answer to request %r cannot be encoded: %s", message.id, exc)
        body = encode_message(
            jsonrpc_error(message.id, INTERNAL_ERROR, f"the server's answer cannot be encoded: {exc}")
        )
    return caller.label(Frame(body, labels))


def close_stream_frame(request_id: RequestId) -> Frame:
    """The control frame telling a client that the handler of `request_id` closed its stream (send it
    with `Answers.send_control`, which labels it for the caller)."""
    return Frame("{}", {ATTR_CONTROL: CONTROL_CLOSE_STREAM, ATTR_RELATED_REQUEST_ID: str(request_id)})


@dataclass(frozen=True)
class _Unsent:
    caller: Caller
    frame: Frame
    request_id: RequestId


class Answers:
    """Sends answers over `channel`, keeping those the broker would not take for a later re-send."""

    def __init__(self, channel: Channel, stats: Counter[str], *, silent: bool = False) -> None:
        self.channel = channel
        self.stats = stats
        self.silent = silent
        """Send nothing (a shadow deployment): every send succeeds at once, counted as `shadowed`."""
        self._unsent: OrderedDict[Hashable, _Unsent] = OrderedDict()

    def kept(self, key: Hashable) -> bool:
        """Whether an answer is waiting to be re-sent for this request."""
        return key in self._unsent

    async def send_final(
        self,
        key: Hashable,
        caller: Caller,
        message: JSONRPCMessage,
        request_id: RequestId,
        attributes: Mapping[str, str] | None = None,
    ) -> bool:
        """Send a request's answer; True when the request is finished with (acknowledge it).

        False means the answer was kept (transient failure on a channel that redelivers): hand the
        request back with `UNSENT_RETRY_DELAY` and call `resend` when it returns.
        """
        if self.silent:
            self.stats["shadowed"] += 1
            return True
        frame = reply_frame(message, caller, attributes)
        reply_to = caller.reply_to
        try:
            await self._send_with_retries(reply_to, frame)
        except FrameTooLargeError as exc:
            logger.warning("answer to request %r does not fit %s: %s", request_id, reply_to, exc)
            error = jsonrpc_error(request_id, INTERNAL_ERROR, str(exc), {"size": exc.size, "limit": exc.limit})
            await self.send_quietly(caller, error)
        except ChannelError as exc:
            if not exc.permanent and self.channel.capabilities.redelivers:
                logger.warning("answer to request %r not sent to %s yet: %s", request_id, reply_to, exc)
                self._keep(key, _Unsent(caller, frame, request_id))
                return False
            await self._give_up(caller, request_id, exc)
            return True
        self.stats["answered"] += 1
        return True

    async def resend(self, key: Hashable, delivery: Delivery) -> None:
        """The request of a kept answer came back: send the answer again instead of running the tool."""
        unsent = self._unsent[key]
        reply_to = unsent.caller.reply_to
        try:
            await self.channel.send(reply_to, unsent.frame)
        except ChannelError as exc:
            if not exc.permanent:
                logger.warning("answer to %r still cannot be sent to %s: %s", unsent.request_id, reply_to, exc)
                delivery.release(UNSENT_RETRY_DELAY)
                return
            del self._unsent[key]
            await self._give_up(unsent.caller, unsent.request_id, exc)
            delivery.ack()
            return
        del self._unsent[key]
        self.stats["answered"] += 1
        delivery.ack()

    async def send_notice(
        self,
        caller: Caller,
        message: JSONRPCMessage,
        request_id: RequestId | None,
        attributes: Mapping[str, str] | None = None,
        *,
        related_request_id: RequestId | None = None,
    ) -> bool:
        """Send progress, a log line or a server-to-client request (labelled with the request it was
        sent within, `related_request_id`); a failure is logged, never fatal. True when it went out."""
        try:
            frame = reply_frame(message, caller, attributes, related_request_id=related_request_id)
        except FrameEncodeError as exc:
            logger.error("dropped a %s for request %r: %s", type(message).__name__, request_id, exc)
            return False
        return await self.send_control(caller, frame, request_id)

    async def send_control(self, caller: Caller, frame: Frame, request_id: RequestId | None) -> bool:
        """Send a frame about one of the caller's requests (a notice, a keep-alive, a closed stream),
        labelled for the caller; best effort: a failure is logged. True when it went out."""
        if self.silent:
            return True
        try:
            await self.channel.send(caller.reply_to, caller.label(frame))
        except ChannelError as exc:
            logger.warning("could not send a notice for request %r to %s: %s", request_id, caller.reply_to, exc)
            return False
        return True

    async def keep_alive(
        self,
        caller: Caller,
        request_id: RequestId,
        asked_seconds: float,
        scope: anyio.CancelScope,
    ) -> None:
        """Until `scope` is cancelled (the request is answered), tell its client every `asked_seconds`
        (at least `MIN_KEEPALIVE_SECONDS`) that the request is still running; it asked (`mcp-keepalive`).

        The first one leaves only after a whole interval, so a quick request costs no extra send, and
        for a long one the client's timeout keeps meaning "no worker has taken it", never "the tool is
        slow". Best effort, like any notice.
        """
        interval = max(MIN_KEEPALIVE_SECONDS, asked_seconds)
        frame = keepalive_frame(caller.client_id, request_id)
        with scope:
            while True:
                await anyio.sleep(interval)
                self.stats["keepalives"] += 1
                await self.send_control(caller, frame, request_id)

    async def send_quietly(self, caller: Caller, message: JSONRPCMessage) -> bool:
        """Send an error answer once; a failure is logged. True when it went out."""
        if self.silent:
            return True
        try:
            await self.channel.send(caller.reply_to, reply_frame(message, caller))
        except ChannelError as exc:
            logger.warning("could not send an error reply to %s: %s", caller.reply_to, exc)
            return False
        return True

    async def _send_with_retries(self, reply_to: str, frame: Frame) -> None:
        attempts = SEND_ATTEMPTS if self.channel.capabilities.redelivers else PUSH_SEND_ATTEMPTS
        pause = RETRY_PAUSE_SECONDS
        for attempt in range(1, attempts + 1):
            try:
                await self.channel.send(reply_to, frame)
                return
            except ChannelError as exc:
                if exc.permanent or attempt == attempts:
                    raise
            await anyio.sleep(pause)
            pause = min(30.0, pause * 2)

    async def _give_up(self, caller: Caller, request_id: RequestId, exc: ChannelError) -> None:
        self.stats["undeliverable"] += 1
        logger.error("could not deliver the answer to request %r at %s: %s", request_id, caller.reply_to, exc)
        if isinstance(exc, AddressNotFoundError):
            return  # the address is gone or never answered: an error frame would not get there either
        error = jsonrpc_error(request_id, INTERNAL_ERROR, f"the server could not deliver its answer: {exc}")
        if await self.send_quietly(caller, error):
            logger.info("told the client of request %r that its answer could not be delivered", request_id)

    def _keep(self, key: Hashable, unsent: _Unsent) -> None:
        self._unsent[key] = unsent
        while len(self._unsent) > MAX_UNSENT:
            self._unsent.popitem(last=False)
