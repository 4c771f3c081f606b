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
from collections.abc import Hashable
from dataclasses import dataclass

import anyio
from mcp_types import INTERNAL_ERROR, JSONRPCMessage, RequestId

from asyncmcp.channels.base import Channel, Delivery
from asyncmcp.codec import (
    ATTR_CLIENT_ID,
    ATTR_CONTROL,
    ATTR_RELATED_REQUEST_ID,
    CONTROL_CLOSE_STREAM,
    Frame,
    encode_message,
    jsonrpc_error,
    keepalive_frame,
)
from asyncmcp.errors import AddressNotFoundError, ChannelError, FrameTooLargeError

__all__ = ["UNSENT_RETRY_DELAY", "Answers", "close_stream_frame", "reply_frame"]

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 3
"""Tries for an answer when the broker fails transiently (the broker client has already retried each call)."""

PUSH_SEND_ATTEMPTS = 8
"""Tries for an answer on a channel that cannot redeliver: nothing else will bring the request back."""

RETRY_PAUSE_SECONDS = 0.5
"""Pause before the second try of a send; it doubles with each further try (capped at 30 s)."""

UNSENT_RETRY_DELAY = 5.0
"""Seconds before a request whose answer could not be sent is offered again (its answer is re-sent)."""

MIN_KEEPALIVE_SECONDS = 5.0
"""The shortest keep-alive interval a worker honours, whatever a request asks for (each is a send)."""

MAX_UNSENT = 10_000
"""Answers kept for re-sending at most (oldest forgotten first)."""


def reply_frame(
    message: JSONRPCMessage,
    client_id: str | None,
    attributes: dict[str, str] | None = None,
    *,
    group: str | None = None,
    related_request_id: RequestId | None = None,
) -> Frame:
    """The frame of a server-to-client message: labelled with its client id, ordered per client
    (or per `group`, for a client without an id: its reply address), and, for a notification or
    request the SDK sent within a request, with that request's id."""
    labels = dict(attributes or {})
    if client_id:
        labels[ATTR_CLIENT_ID] = client_id
    if related_request_id is not None:
        labels[ATTR_RELATED_REQUEST_ID] = str(related_request_id)
    return Frame(encode_message(message), labels, ordering_key=client_id or group)


def close_stream_frame(client_id: str | None, request_id: RequestId, *, group: str | None = None) -> Frame:
    """The control frame telling a client that the handler of `request_id` closed its stream."""
    labels = {ATTR_CONTROL: CONTROL_CLOSE_STREAM, ATTR_RELATED_REQUEST_ID: str(request_id)}
    if client_id:
        labels[ATTR_CLIENT_ID] = client_id
    return Frame("{}", labels, ordering_key=client_id or group)


@dataclass(frozen=True)
class _Unsent:
    reply_to: str
    frame: Frame
    request_id: RequestId
    client_id: str | None


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
        self, key: Hashable, reply_to: str, frame: Frame, request_id: RequestId, client_id: str | None
    ) -> bool:
        """Send a request's answer; True when the request is finished with (acknowledge it).

        False means the answer was kept (transient failure on a channel that redelivers): hand the
        request back with `UNSENT_RETRY_DELAY` and call `resend` when it returns.
        """
        if self.silent:
            self.stats["shadowed"] += 1
            return True
        try:
            await self._send_with_retries(reply_to, frame)
        except FrameTooLargeError as exc:
            logger.warning("answer to request %r does not fit %s: %s", request_id, reply_to, exc)
            error = jsonrpc_error(request_id, INTERNAL_ERROR, str(exc), {"size": exc.size, "limit": exc.limit})
            await self.send_quietly(reply_to, client_id, error)
        except ChannelError as exc:
            if not exc.permanent and self.channel.capabilities.redelivers:
                logger.warning("answer to request %r not sent to %s yet: %s", request_id, reply_to, exc)
                self._keep(key, _Unsent(reply_to, frame, request_id, client_id))
                return False
            await self._give_up(reply_to, request_id, client_id, exc)
            return True
        self.stats["answered"] += 1
        return True

    async def resend(self, key: Hashable, delivery: Delivery) -> None:
        """The request of a kept answer came back: send the answer again instead of running the tool."""
        unsent = self._unsent[key]
        try:
            await self.channel.send(unsent.reply_to, unsent.frame)
        except ChannelError as exc:
            if not exc.permanent:
                logger.warning("answer to %r still cannot be sent to %s: %s", unsent.request_id, unsent.reply_to, exc)
                delivery.release(UNSENT_RETRY_DELAY)
                return
            del self._unsent[key]
            await self._give_up(unsent.reply_to, unsent.request_id, unsent.client_id, exc)
            delivery.ack()
            return
        del self._unsent[key]
        self.stats["answered"] += 1
        delivery.ack()

    async def send_notice(self, reply_to: str, frame: Frame, request_id: RequestId) -> None:
        """Send progress, a log line or a server-to-client request; a failure is logged, never fatal."""
        if self.silent:
            return
        try:
            await self.channel.send(reply_to, frame)
        except ChannelError as exc:
            logger.warning("could not send a notice for request %r to %s: %s", request_id, reply_to, exc)

    async def keep_alive(
        self,
        reply_to: str,
        client_id: str | None,
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
        frame = keepalive_frame(client_id, request_id)
        with scope:
            while True:
                await anyio.sleep(interval)
                self.stats["keepalives"] += 1
                await self.send_notice(reply_to, frame, request_id)

    async def send_quietly(self, reply_to: str, client_id: str | None, message: JSONRPCMessage) -> bool:
        """Send an error answer once; a failure is logged. True when it went out."""
        if self.silent:
            return True
        try:
            await self.channel.send(reply_to, reply_frame(message, client_id))
        except ChannelError as exc:
            logger.warning("could not send an error reply to %s: %s", reply_to, exc)
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

    async def _give_up(self, reply_to: str, request_id: RequestId, client_id: str | None, exc: ChannelError) -> None:
        self.stats["undeliverable"] += 1
        logger.error("could not deliver the answer to request %r at %s: %s", request_id, reply_to, exc)
        if isinstance(exc, AddressNotFoundError):
            return  # the address is gone or never answered: an error frame would not get there either
        error = jsonrpc_error(request_id, INTERNAL_ERROR, f"the server could not deliver its answer: {exc}")
        if await self.send_quietly(reply_to, client_id, error):
            logger.info("told the client of request %r that its answer could not be delivered", request_id)

    def _keep(self, key: Hashable, unsent: _Unsent) -> None:
        self._unsent[key] = unsent
        while len(self._unsent) > MAX_UNSENT:
            self._unsent.popitem(last=False)
