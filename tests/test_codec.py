"""Property tests of the wire codec: bodies, attributes, decoding of anything."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from mcp.types import ErrorData, JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse
from mcp_types import INVALID_REQUEST, PARSE_ERROR

from asyncmcp.codec import (
    ATTR_CLIENT_ID,
    ATTR_CONTROL,
    ATTR_METHOD,
    ATTR_NAME,
    ATTR_PROTOCOL_VERSION,
    ATTR_RELATED_REQUEST_ID,
    ATTR_REPLY_TO,
    ATTR_REQUEST_TOKEN,
    ATTR_SESSION_ID,
    MAX_ATTRIBUTE_VALUE,
    Envelope,
    FrameDecodeError,
    decode_message,
    encode_message,
    request_id_of_raw,
)
from tests.sqs_rules import carried

# -- strategies ---------------------------------------------------------------------------

request_ids = st.one_of(st.text(max_size=40), st.integers(min_value=-(2**63), max_value=2**63))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
params = st.dictionaries(st.text(), json_values, max_size=5)
methods = st.text(min_size=1, max_size=40)


@st.composite
def requests(draw: st.DrawFn) -> JSONRPCRequest:
    return JSONRPCRequest(jsonrpc="2.0", id=draw(request_ids), method=draw(methods), params=draw(st.none() | params))


@st.composite
def notifications(draw: st.DrawFn) -> JSONRPCNotification:
    return JSONRPCNotification(jsonrpc="2.0", method=draw(methods), params=draw(st.none() | params))


@st.composite
def responses(draw: st.DrawFn) -> JSONRPCResponse:
    return JSONRPCResponse(jsonrpc="2.0", id=draw(request_ids), result=draw(params))


@st.composite
def errors(draw: st.DrawFn) -> JSONRPCError:
    data = draw(st.just(None) | json_values)
    error = ErrorData(code=draw(st.integers(-(2**31), 2**31)), message=draw(st.text()), data=data)
    return JSONRPCError(jsonrpc="2.0", id=draw(st.none() | request_ids), error=error)


messages = st.one_of(requests(), notifications(), responses(), errors())

attribute_values = st.text(min_size=1, max_size=200)
envelopes = st.builds(
    Envelope,
    client_id=st.none() | attribute_values,
    reply_to=st.none() | attribute_values,
    session_id=st.none() | attribute_values,
    protocol_version=st.none() | attribute_values,
    method=st.none() | attribute_values,
    name=st.none() | attribute_values,
    control=st.none() | attribute_values,
    related_request_id=st.none() | attribute_values,
    request_token=st.none() | attribute_values,
)
ENVELOPE_FIELDS = {
    ATTR_CLIENT_ID: "client_id",
    ATTR_REPLY_TO: "reply_to",
    ATTR_SESSION_ID: "session_id",
    ATTR_PROTOCOL_VERSION: "protocol_version",
    ATTR_METHOD: "method",
    ATTR_NAME: "name",
    ATTR_CONTROL: "control",
    ATTR_RELATED_REQUEST_ID: "related_request_id",
    ATTR_REQUEST_TOKEN: "request_token",
}


def _oversized(parts: tuple[str, int]) -> str:
    seed, extra = parts
    return (seed * (MAX_ATTRIBUTE_VALUE // len(seed) + 1))[: MAX_ATTRIBUTE_VALUE + extra]


def _is_valid_json(body: str | bytes) -> bool:
    """JSON by RFC 8259 as the wire carries it: UTF-8 text that parses (json.loads would also
    sniff UTF-16/32 from bytes, which SQS never delivers)."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True


def _expected_id(raw: Any) -> str | int | None:
    if isinstance(raw, dict):
        rid = raw.get("id")
        if isinstance(rid, str | int) and not isinstance(rid, bool):
            return rid
    return None


# -- codec ---------------------------------------------------------------------------------


@given(messages)
def test_encode_decode_round_trip(message: Any) -> None:
    body = encode_message(message)
    decoded = decode_message(body)
    assert type(decoded) is type(message)
    assert decoded == message
    # Bytes as read off the wire decode the same, and encoding is stable.
    assert decode_message(body.encode()) == message
    assert encode_message(decoded) == body


any_text = st.text(st.characters(exclude_categories=()), max_size=30)
"""Text as Python holds it, lone surrogates included (`os.listdir` on a name that is not UTF-8)."""


@given(st.dictionaries(any_text, any_text, max_size=3), any_text)
@example({}, "\udcff\ufffe\uffff\x00\x07")
def test_every_body_is_carried_by_every_channel_and_decodes_to_the_same_text(fields: dict[str, str], text: str) -> None:
    message = JSONRPCResponse(jsonrpc="2.0", id=1, result={"text": text, "fields": fields})
    body = encode_message(message)
    assert carried(body)  # nothing SQS or SNS would refuse
    decoded = decode_message(body)
    assert isinstance(decoded, JSONRPCResponse)
    # Only lone surrogates change (to U+FFFD): they have no UTF-8 form at all.
    assert decoded.result["text"] == "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    assert encode_message(decoded) == body


@given(errors())
def test_error_with_null_id_keeps_id_on_the_wire(message: JSONRPCError) -> None:
    message = message.model_copy(update={"id": None})
    assert json.loads(encode_message(message))["id"] is None
    assert decode_message(encode_message(message)) == message


@given(envelopes)
def test_envelope_attribute_round_trip(envelope: Envelope) -> None:
    attributes = envelope.to_attributes()
    assert all(isinstance(v, str) for v in attributes.values())
    assert set(attributes) <= set(ENVELOPE_FIELDS)
    assert Envelope.from_attributes(attributes) == envelope


@given(
    st.dictionaries(
        st.sampled_from([*ENVELOPE_FIELDS, "other", "mcp-unknown", "MCP-CLIENT-ID"]),
        st.text(max_size=20) | st.tuples(st.text(min_size=1, max_size=3), st.integers(1, 3)).map(_oversized),
    )
)
def test_envelope_keeps_known_sane_attributes_only(attributes: dict[str, str]) -> None:
    envelope = Envelope.from_attributes(attributes)
    for attribute, field_name in ENVELOPE_FIELDS.items():
        value = attributes.get(attribute)
        expected = value if value and len(value) <= MAX_ATTRIBUTE_VALUE else None
        assert getattr(envelope, field_name) == expected


@given(st.binary())
@example(b"")
@example(b"\xff")
@example(b'"\xff"')
@example(b"\xef\xbb\xbf{}")
def test_decode_arbitrary_bytes_raises_only_frame_decode_error(body: bytes) -> None:
    _check_decode_contract(body)


@given(st.text())
@example("")
@example("not json{")
@example("[]")
@example('{"jsonrpc": "2.0"}')
@example('{"jsonrpc": "2.0", "id": 7}')
@example('{"jsonrpc": "2.0", "id": true, "method": "x"}')
def test_decode_arbitrary_text_raises_only_frame_decode_error(body: str) -> None:
    _check_decode_contract(body)


def _check_decode_contract(body: str | bytes) -> None:
    try:
        decoded = decode_message(body)
    except FrameDecodeError as exc:
        if _is_valid_json(body):
            assert exc.code == INVALID_REQUEST, body
            assert exc.request_id == _expected_id(json.loads(body))
        else:
            assert exc.code == PARSE_ERROR, body
            assert exc.request_id is None
        assert str(exc)
    else:
        assert isinstance(decoded, JSONRPCRequest | JSONRPCNotification | JSONRPCResponse | JSONRPCError)


@given(json_values)
def test_valid_json_that_is_not_jsonrpc_is_invalid_request(value: Any) -> None:
    assume(not (isinstance(value, dict) and value.get("jsonrpc") == "2.0"))
    body = json.dumps(value)
    with pytest.raises(FrameDecodeError) as info:
        decode_message(body)
    assert info.value.code == INVALID_REQUEST
    assert info.value.request_id == _expected_id(value)


@given(
    request_ids,
    st.sampled_from([None, "1.0", 2, "2.0"]),
    st.dictionaries(st.sampled_from(["params", "foo", "result_", "error"]), json_scalars, max_size=2),
)
def test_invalid_request_echoes_the_request_id(rid: str | int, version: Any, extra: dict[str, Any]) -> None:
    """A body with an id that is not a valid JSON-RPC message gets -32600 with that id echoed."""
    raw: dict[str, Any] = {"id": rid, **extra}
    if version is not None:
        raw["jsonrpc"] = version
    if version == "2.0":
        # Make it invalid as a 2.0 message: a request needs a method, a response a result.
        raw.pop("error", None)
        raw["method"] = 12
    with pytest.raises(FrameDecodeError) as info:
        decode_message(json.dumps(raw))
    assert info.value.code == INVALID_REQUEST
    assert info.value.request_id == rid
    assert request_id_of_raw(json.dumps(raw)) == rid


@given(st.text() | st.binary())
def test_request_id_of_raw_never_raises(body: str | bytes) -> None:
    rid = request_id_of_raw(body)
    assert rid is None or (isinstance(rid, str | int) and not isinstance(rid, bool))
