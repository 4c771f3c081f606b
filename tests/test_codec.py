"""Property tests of the pure parts: the wire codec, session tokens and the reply-queue policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from mcp.types import ErrorData, JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse
from mcp_types import INVALID_REQUEST, PARSE_ERROR

from asyncmcp.codec import (
    ATTR_CLIENT_ID,
    ATTR_CONTROL,
    ATTR_METHOD,
    ATTR_NAME,
    ATTR_PROTOCOL_VERSION,
    ATTR_REPLY_TO,
    ATTR_SESSION_ID,
    MAX_ATTRIBUTE_VALUE,
    Envelope,
    Frame,
    FrameDecodeError,
    decode_message,
    encode_message,
    request_id_of_raw,
)
from asyncmcp.server.sessions import InvalidSessionError, LegacySession, SessionSigner
from asyncmcp.sqs.policy import SqsReplyPolicy

settings.register_profile("asyncmcp", deadline=None, max_examples=150)
settings.load_profile("asyncmcp")

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
)
ENVELOPE_FIELDS = {
    ATTR_CLIENT_ID: "client_id",
    ATTR_REPLY_TO: "reply_to",
    ATTR_SESSION_ID: "session_id",
    ATTR_PROTOCOL_VERSION: "protocol_version",
    ATTR_METHOD: "method",
    ATTR_NAME: "name",
    ATTR_CONTROL: "control",
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


@given(st.text(), st.dictionaries(st.text(min_size=1, max_size=30), st.text(max_size=100), max_size=10))
def test_frame_size_counts_body_and_attributes_in_utf8_bytes(body: str, attributes: dict[str, str]) -> None:
    frame = Frame(body, attributes)
    utf8 = len(body.encode("utf-8")) + sum(
        len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in attributes.items()
    )
    # SQS counts each attribute's name, data type ("String") and value.
    assert frame.size() == utf8 + len("String") * len(attributes)
    assert frame.size() >= len(body.encode("utf-8"))


@given(st.text(min_size=1), st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=50))
def test_frame_size_grows_by_the_bytes_of_an_added_attribute(body: str, name: str, value: str) -> None:
    before = Frame(body, {}).size()
    after = Frame(body, {name: value}).size()
    assert after - before >= len(name.encode()) + len(value.encode())


# -- session tokens ------------------------------------------------------------------------

small_dicts = st.none() | st.dictionaries(st.text(max_size=10), json_scalars, max_size=4)
sessions = st.builds(
    LegacySession,
    protocol_version=st.text(min_size=1, max_size=20),
    client_id=st.none() | st.text(max_size=40),
    reply_to=st.none() | st.text(max_size=100),
    client_info=small_dicts,
    capabilities=small_dicts,
)
keys = st.binary(min_size=1, max_size=64)


@given(keys, sessions)
def test_session_mint_verify_round_trip(key: bytes, session: LegacySession) -> None:
    signer = SessionSigner(key)
    token = signer.mint(session)
    assert token.isascii()
    assert signer.verify(token) == session
    # Another worker holding the same key verifies it too.
    assert SessionSigner(key).verify(token) == session
    # Two mints of the same session differ (a nonce), and both verify.
    assert signer.mint(session) != token


@given(keys, sessions, st.data())
def test_session_tampering_with_ascii_fails_verify(key: bytes, session: LegacySession, data: st.DataObject) -> None:
    signer = SessionSigner(key)
    token = signer.mint(session)
    tampered = data.draw(_tamper(token, st.characters(max_codepoint=127)))
    assume(tampered != token)
    with pytest.raises(InvalidSessionError):
        signer.verify(tampered)


@given(keys, sessions, st.data())
@settings(max_examples=50)
def test_session_tampering_with_any_character_fails_verify(
    key: bytes, session: LegacySession, data: st.DataObject
) -> None:
    signer = SessionSigner(key)
    token = signer.mint(session)
    tampered = data.draw(_tamper(token, st.characters(blacklist_categories=("Cs",))))
    assume(tampered != token)
    with pytest.raises(InvalidSessionError):
        signer.verify(tampered)


def _tamper(token: str, alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    index = st.integers(0, len(token) - 1)
    replace = st.tuples(index, alphabet).map(lambda t: token[: t[0]] + t[1] + token[t[0] + 1 :])
    insert = st.tuples(index, alphabet).map(lambda t: token[: t[0]] + t[1] + token[t[0] :])
    delete = index.map(lambda i: token[:i] + token[i + 1 :])
    truncate = index.map(lambda i: token[:i])
    return st.one_of(replace, insert, delete, truncate)


@given(keys, keys, sessions)
def test_session_from_another_key_fails_verify(key: bytes, other: bytes, session: LegacySession) -> None:
    assume(key != other)
    token = SessionSigner(key).mint(session)
    with pytest.raises(InvalidSessionError):
        SessionSigner(other).verify(token)


@given(keys, st.text())
def test_session_verify_of_garbage_fails_cleanly(key: bytes, garbage: str) -> None:
    assume(garbage.isascii())
    with pytest.raises(InvalidSessionError):
        SessionSigner(key).verify(garbage)


# -- reply policy --------------------------------------------------------------------------

schemes = st.sampled_from(["http", "https"])
hosts = st.sampled_from(["sqs.us-east-1.amazonaws.com", "SQS.us-east-1.amazonaws.com", "sqs.eu-west-1.amazonaws.com"])
accounts = st.sampled_from(["123456789012", "999999999999", "000000000000"])
queue_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=30)


@given(schemes, hosts, accounts, queue_names, schemes, hosts, accounts, queue_names)
def test_default_policy_allows_same_account_and_region_only(
    scheme: str, host: str, account: str, name: str, r_scheme: str, r_host: str, r_account: str, r_name: str
) -> None:
    policy = SqsReplyPolicy(f"{scheme}://{host}/{account}/{name}")
    reply = f"{r_scheme}://{r_host}/{r_account}/{r_name}"
    same = (scheme, host.lower(), account) == (r_scheme, r_host.lower(), r_account)
    assert policy.allows(reply) == same
    assert account in policy.describe()


@given(schemes, hosts, accounts, queue_names, st.lists(queue_names, min_size=2, max_size=4))
def test_default_policy_refuses_other_shapes(
    scheme: str, host: str, account: str, name: str, segments: list[str]
) -> None:
    policy = SqsReplyPolicy(f"{scheme}://{host}/{account}/{name}")
    assert not policy.allows(f"{scheme}://{host}/{account}/{'/'.join(segments)}")  # extra segments
    assert not policy.allows(f"{scheme}://{host}/{name}")  # no account segment
    assert not policy.allows(f"ftp://{host}/{account}/{name}")
    assert not policy.allows(f"{scheme}://evil@{host}.example/{account}/{name}")
    assert not policy.allows(f"{account}/{name}")
    assert not policy.allows("")


@given(st.lists(st.text(max_size=30), max_size=4), st.text(max_size=60))
def test_pattern_policy_is_fnmatch(patterns: list[str], address: str) -> None:
    from fnmatch import fnmatchcase

    policy = SqsReplyPolicy("https://sqs.us-east-1.amazonaws.com/123456789012/requests", tuple(patterns))
    assert policy.allows(address) == any(fnmatchcase(address, p) for p in patterns)
    assert "allowed_reply_queues" in policy.describe()


@given(queue_names)
def test_pattern_policy_replaces_the_default(name: str) -> None:
    request = "https://sqs.us-east-1.amazonaws.com/123456789012/requests"
    allowed = "https://sqs.us-east-1.amazonaws.com/123456789012/replies-*"
    policy = SqsReplyPolicy(request, (allowed,))
    assert policy.allows(f"https://sqs.us-east-1.amazonaws.com/123456789012/replies-{name}")
    assume(not name.startswith("replies-"))
    assert not policy.allows(f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}")
    # An empty allowlist allows nothing, not everything.
    assert not SqsReplyPolicy(request, ()).allows(f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}")


def test_policy_without_account_segment_allows_nothing() -> None:
    policy = SqsReplyPolicy("http://127.0.0.1:4566/requests")
    assert not policy.allows("http://127.0.0.1:4566/requests")
    assert "allowed_reply_queues" in policy.describe()


def test_channel_errors_say_whether_retrying_can_help():
    from asyncmcp.errors import AddressNotFoundError, ChannelError, FrameTooLargeError

    assert AddressNotFoundError("gone", address="q").permanent
    assert FrameTooLargeError(size=2, limit=1, address="q").permanent
    assert ChannelError("denied", code="AccessDenied").permanent
    assert not ChannelError("slow down", code="ThrottlingException").permanent
    assert not ChannelError("connection reset").permanent
