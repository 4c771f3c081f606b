"""The wire format shared by every channel: a JSON-RPC body plus string attributes.

The body is the JSON-RPC message exactly as the MCP SDK serializes it
(`model_dump_json(by_alias=True, exclude_unset=True)`), so any MCP tool can read a captured message.
Routing facts (who sent it, where replies go, which legacy session) travel beside the body as
attributes, never inside it, so the server can route a reply without trusting or rewriting the
payload, and so a channel can filter on them (SNS filter policies, SQS consoles).

Everything here is pure and property-tested; channels map `Frame` onto their own envelope. It
imports `mcp_types` only (not `mcp`, whose package imports the whole server stack), so a channel
module stays light.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from mcp_types import (
    INVALID_REQUEST,
    PARSE_ERROR,
    PROTOCOL_VERSION_META_KEY,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    RequestId,
    jsonrpc_message_adapter,
)
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError, to_json

__all__ = [
    "ATTR_CLIENT_ID",
    "ATTR_CONTROL",
    "ATTR_KEEPALIVE",
    "ATTR_METHOD",
    "ATTR_NAME",
    "ATTR_PROTOCOL_VERSION",
    "ATTR_RELATED_REQUEST_ID",
    "ATTR_REPLY_TO",
    "ATTR_REQUEST_TOKEN",
    "ATTR_SESSION_ID",
    "CONTROL_CLOSE_STREAM",
    "CONTROL_KEEPALIVE",
    "CONTROL_WAKE",
    "ENVELOPE_ATTRIBUTES",
    "MAX_FRAME_ATTRIBUTES",
    "MAX_ROUTING_ATTRIBUTES",
    "MAX_USER_ATTRIBUTES",
    "MIN_KEEPALIVE_SECONDS",
    "SEED_REPLY_META_KEY",
    "Envelope",
    "Frame",
    "FrameDecodeError",
    "FrameEncodeError",
    "as_mapping",
    "decode_frame",
    "decode_message",
    "encode_message",
    "has_modern_envelope",
    "jsonrpc_error",
    "keepalive_frame",
    "keepalive_request_id",
    "request_id_of_raw",
    "seed_reply_address",
    "utf8_length",
    "wake_frame",
]

ATTR_CLIENT_ID = "mcp-client-id"
"""Which client a frame belongs to; many clients may share one reply address."""
ATTR_REPLY_TO = "mcp-reply-to"
"""Where the server sends everything that answers this frame (queue URL, topic ARN, URL)."""
ATTR_SESSION_ID = "mcp-session-id"
"""The 2025-era session token minted by the server in answer to `initialize`."""
ATTR_PROTOCOL_VERSION = "mcp-protocol-version"
ATTR_METHOD = "mcp-method"
ATTR_NAME = "mcp-name"
ATTR_CONTROL = "mcp-control"
"""Transport control frames that carry no JSON-RPC meaning (see `CONTROL_WAKE`, `CONTROL_KEEPALIVE`,
`CONTROL_CLOSE_STREAM`)."""
ATTR_RELATED_REQUEST_ID = "mcp-related-request-id"
"""On a server's notifications and requests sent while it serves a request: that request's id
(`str(id)`; the SDK correlates `"7"` and `7` as one id). The body cannot say which request a log
line or a subscription event belongs to, and a client with several requests in flight on one
connection (the proxy's shared 2026 link) must hand it to the right one."""
ATTR_KEEPALIVE = "mcp-keepalive"
"""On a request: while it runs, tell me every this many seconds that it is still running (the
client's timeout then means "no worker has taken it", not "the tool took too long")."""
MIN_KEEPALIVE_SECONDS = 1.0
"""The shortest keep-alive interval: a worker never sends them more often (each is a send), and a
client never asks for less. Both ends use this one value: a worker that honoured only a longer
interval than a client asked for would let a running call time out at that client."""
ATTR_REQUEST_TOKEN = "mcp-request-token"
"""A random value the client chose for one request; every frame that answers the request carries it
back (its progress, logs, server-to-client requests, its answer or error), and so do the client's
cancel of it and the client's answers to those server-to-client requests. Only the requester knows
it, so whoever can merely write to a request queue can neither answer for another client nor make
a server take a forged request for another client's (the server's dedupe key includes it)."""

MAX_FRAME_ATTRIBUTES = 10
"""Attributes one message may carry on every channel: SQS's limit, above which SNS raw delivery
silently drops the message."""
MAX_ROUTING_ATTRIBUTES = 7
"""The most asyncmcp puts on one frame: a request carries client id, reply address, protocol
version, method, keep-alive, request token, and either its 2025 session id or its 2026 name (the
client transport never puts both)."""
MAX_USER_ATTRIBUTES = MAX_FRAME_ATTRIBUTES - MAX_ROUTING_ATTRIBUTES
"""What is left for a config's own `message_attributes` (3)."""

SEED_REPLY_META_KEY = "responseQueueUrl"
"""The original asyncmcp handshake: a reply queue named in `initialize` params `_meta`."""

CONTROL_WAKE = "wake"
"""Sent by a closing receiver to its own queue so its outstanding long poll returns at once; its
`mcp-client-id` is the receiver's wake token, so another receiver of the queue hands it back."""

CONTROL_CLOSE_STREAM = "close-stream"
"""Sent by a worker whose 2025 handler closed its SSE stream (`ctx.close_sse_stream()`, SEP-1699
polling): the request named by `mcp-related-request-id` goes on, and a client that fronts an HTTP
stream for it (the proxy) closes that stream, so its own client reconnects and resumes."""
CONTROL_KEEPALIVE = "keepalive"
"""Sent by a worker to a request's reply address while the request runs, when the request asked
for it (`ATTR_KEEPALIVE`); the body is `{"id": <request id>}` and `mcp-client-id` the requester."""

MAX_ATTRIBUTE_VALUE = 8192
"""Longest attribute value accepted on input; real values are ids, URLs and a session token."""

_ENVELOPE_ATTRIBUTES = {
    ATTR_CLIENT_ID: "client_id",
    ATTR_REPLY_TO: "reply_to",
    ATTR_SESSION_ID: "session_id",
    ATTR_PROTOCOL_VERSION: "protocol_version",
    ATTR_METHOD: "method",
    ATTR_NAME: "name",
    ATTR_CONTROL: "control",
    ATTR_RELATED_REQUEST_ID: "related_request_id",
    ATTR_KEEPALIVE: "keepalive",
    ATTR_REQUEST_TOKEN: "request_token",
}
ENVELOPE_ATTRIBUTES: tuple[str, ...] = tuple(_ENVELOPE_ATTRIBUTES)
"""Every attribute name asyncmcp routes by (an HTTP channel carries them as headers of the same names)."""

_UNCARRIED = ("\ufffe", "\uffff")
"""Characters a JSON serializer leaves raw but SQS (and SNS) refuse: every channel carries XML 1.0
characters only (#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF). The other characters
outside that set never appear raw in a body: JSON escapes the controls, and lone surrogates are
replaced before serializing (`encode_message`)."""

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Frame:
    """One message on a channel: the body and its routing attributes.

    `ordering_key` and `dedupe_key` are channel-neutral hints; a broker with ordered groups and
    deduplication (SQS FIFO queues) maps them onto those, others ignore them. How many bytes a
    frame counts against a destination's limit is the channel's rule (`Channel.frame_size`).
    """

    body: str
    attributes: Mapping[str, str] = field(default_factory=dict[str, str])
    ordering_key: str | None = None
    dedupe_key: str | None = None
    unreadable: str | None = None
    """Why the channel could not read this frame's body (an offloaded payload it refused or could
    not fetch); the receiver answers it with this reason as a JSON-RPC error (`decode_frame`)."""


@dataclass(frozen=True)
class Envelope:
    """The routing facts of a frame, decoded from its attributes."""

    client_id: str | None = None
    reply_to: str | None = None
    session_id: str | None = None
    protocol_version: str | None = None
    method: str | None = None
    name: str | None = None
    control: str | None = None
    related_request_id: str | None = None
    keepalive: str | None = None
    request_token: str | None = None

    @property
    def keepalive_seconds(self) -> float | None:
        """The keep-alive interval the request asked for, or None (absent or not a positive number)."""
        try:
            seconds = float(self.keepalive) if self.keepalive is not None else None
        except ValueError:
            return None
        return seconds if seconds is not None and 0 < seconds < float("inf") else None

    def to_attributes(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for attribute, field_name in _ENVELOPE_ATTRIBUTES.items():
            value = getattr(self, field_name)
            if value is not None:
                out[attribute] = value
        return out

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, str]) -> Envelope:
        """Read the known attributes; unknown ones are ignored, oversized ones dropped."""
        values: dict[str, str] = {}
        for attribute, field_name in _ENVELOPE_ATTRIBUTES.items():
            value = attributes.get(attribute)
            if isinstance(value, str) and 0 < len(value) <= MAX_ATTRIBUTE_VALUE:
                values[field_name] = value
        return cls(**values)


UTF8_COUNT_CHARS = 1024 * 1024
"""Characters encoded at a time to count a non-ASCII text's bytes, so counting never copies all of it."""


def utf8_length(text: str) -> int:
    """Bytes of `text` in UTF-8, without encoding a full copy (a frame may be tens of MiB)."""
    if text.isascii():
        return len(text)
    return sum(len(text[start : start + UTF8_COUNT_CHARS].encode()) for start in range(0, len(text), UTF8_COUNT_CHARS))


def as_mapping(value: object) -> Mapping[str, Any] | None:
    """`value` as a string-keyed mapping when it is one (JSON objects are), else None."""
    return cast("Mapping[str, Any]", value) if isinstance(value, Mapping) else None


def seed_reply_address(params: Mapping[str, Any] | None, key: str = SEED_REPLY_META_KEY) -> str | None:
    """The reply address an original-asyncmcp client names in `initialize` params `_meta[key]`
    (`responseQueueUrl` on SQS, `clientTopicArn` on SNS+SQS, `webhookUrl` on webhooks)."""
    meta = as_mapping((params or {}).get("_meta"))
    value = meta.get(key) if meta is not None else None
    return value if isinstance(value, str) else None


def wake_frame(token: str) -> Frame:
    """The control frame a receiver sends itself to end its own long poll (see `CONTROL_WAKE`)."""
    return Frame(body="{}", attributes={ATTR_CONTROL: CONTROL_WAKE, ATTR_CLIENT_ID: token})


def keepalive_frame(client_id: str | None, request_id: RequestId) -> Frame:
    """The control frame that says request `request_id` of `client_id` is still running."""
    attributes = {ATTR_CONTROL: CONTROL_KEEPALIVE}
    if client_id:
        attributes[ATTR_CLIENT_ID] = client_id
    return Frame(body=json.dumps({"id": request_id}), attributes=attributes, ordering_key=client_id)


def keepalive_request_id(body: str) -> RequestId | None:
    """The request id a keep-alive frame names, or None when the body is not one."""
    try:
        raw: Any = json.loads(body)
    except ValueError:
        return None
    fields = as_mapping(raw)
    rid = fields.get("id") if fields is not None else None
    return rid if isinstance(rid, str | int) and not isinstance(rid, bool) else None


class FrameDecodeError(ValueError):
    """A body that is not a JSON-RPC message; `code` is the JSON-RPC error code to answer with."""

    def __init__(self, code: int, message: str, request_id: str | int | None) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id


def jsonrpc_error(request_id: RequestId | None, code: int, message: str, data: Any = None) -> JSONRPCError:
    """A JSON-RPC error answer; `data` is left off the wire when None."""
    error = ErrorData(code=code, message=message) if data is None else ErrorData(code=code, message=message, data=data)
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=error)


class FrameEncodeError(ValueError):
    """A message that cannot be written as JSON (a value with no JSON form); never raised for what
    the SDK emits, whose values are JSON data already."""


def encode_message(message: JSONRPCMessage) -> str:
    """Serialize exactly as the SDK's own transports do (keeps `"id": null` on errors), in characters
    every channel carries.

    Two things the SDK's serializer cannot give a broker are mended here, so that a result never
    fails to leave (which would re-run its tool) and is never refused by the broker:

    - a lone surrogate (Python's stand-in for an undecodable byte, e.g. `os.listdir` on a file name
      that is not UTF-8) has no UTF-8 form, and no strict JSON reader (the SDK's included) accepts
      one escaped: it is replaced with U+FFFD, as decoding with `errors="replace"` would;
    - U+FFFE and U+FFFF, which SQS and SNS refuse, are written as the JSON escapes `\\ufffe` and
      `\\uffff`: the same string to any JSON reader, so nothing is lost.
    """
    try:
        body = message.model_dump_json(by_alias=True, exclude_unset=True)
    except PydanticSerializationError:
        body = _encode_replacing_surrogates(message)
    if body.isascii() or not any(character in body for character in _UNCARRIED):
        return body
    for character in _UNCARRIED:
        body = body.replace(character, f"\\u{ord(character):04x}")
    return body


def _encode_replacing_surrogates(message: JSONRPCMessage) -> str:
    try:
        data = message.model_dump(by_alias=True, exclude_unset=True)
        return to_json(_without_lone_surrogates(data)).decode()
    except PydanticSerializationError as exc:
        raise FrameEncodeError(f"the message cannot be written as JSON: {exc}") from None


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        items = cast("dict[Any, Any]", value).items()
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in items}
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in cast("list[Any]", value)]
    return value


def decode_message(body: str | bytes) -> JSONRPCMessage:
    """Parse a body into a JSON-RPC message, or raise `FrameDecodeError` with the code to answer.

    Invalid JSON answers -32700 (parse error); valid JSON that is not a JSON-RPC 2.0 message
    answers -32600 (invalid request), echoing the request id when one can be read.
    """
    try:
        message = jsonrpc_message_adapter.validate_json(body, by_name=False)
    except ValidationError as exc:
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            raise FrameDecodeError(PARSE_ERROR, "Parse error: the message body is not valid JSON", None) from None
        raise FrameDecodeError(
            INVALID_REQUEST,
            "Invalid request: the message body is not a JSON-RPC 2.0 request, notification or response",
            request_id_of_raw(body),
        ) from None
    if isinstance(message, JSONRPCNotification) and _has_top_level_id(body):
        # The SDK's union reads a request with an id it cannot use (1.5, true, {}) as a notification,
        # which would leave the sender waiting forever; it is an invalid request.
        raise FrameDecodeError(INVALID_REQUEST, "Invalid request: id must be a string or an integer", None)
    return message


def decode_frame(frame: Frame) -> JSONRPCMessage:
    """`decode_message` of a frame's body; a frame the channel marked `unreadable` raises
    `FrameDecodeError` (invalid request) with the channel's reason."""
    if frame.unreadable is not None:
        raise FrameDecodeError(
            INVALID_REQUEST, f"Invalid request: the message could not be read: {frame.unreadable}", None
        )
    return decode_message(frame.body)


def _has_top_level_id(body: str | bytes) -> bool:
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    if '"id"' not in text:
        return False
    try:
        raw: Any = json.loads(text)
    except ValueError:
        return False
    return isinstance(raw, dict) and "id" in raw


def request_id_of_raw(body: str | bytes) -> str | int | None:
    """Best-effort JSON-RPC id of a body that failed validation, so the error can echo it."""
    try:
        raw: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    fields = as_mapping(raw)
    rid = fields.get("id") if fields is not None else None
    if isinstance(rid, str | int) and not isinstance(rid, bool):
        return rid
    return None


def has_modern_envelope(params: Mapping[str, Any] | None) -> bool:
    """Whether a request's params carry the 2026-07-28 per-request envelope (`_meta` protocol version)."""
    meta = as_mapping((params or {}).get("_meta"))
    return meta is not None and PROTOCOL_VERSION_META_KEY in meta
