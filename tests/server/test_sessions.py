"""Property tests of the signed 2025 session tokens."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from asyncmcp.server.sessions import (
    MAX_SESSION_ID_CHARS,
    InvalidSessionError,
    LegacySession,
    SessionSigner,
    SessionTooLargeError,
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)

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


def _session(capabilities: dict, client_info: dict | None = None) -> LegacySession:
    return LegacySession("2025-11-25", "c", "https://q", client_info, capabilities)


def test_a_session_too_large_for_an_id_is_trimmed_to_its_structure() -> None:
    capabilities = {
        "roots": {"listChanged": True},
        "elicitation": {"form": {}, "url": {}},
        "experimental": {"big": {"blob": "x" * 20_000}},
    }
    info = {"name": "n", "version": "1", "description": "d" * 5000}
    signer = SessionSigner(b"k")
    token = signer.mint(_session(capabilities, info))
    assert len(token) <= MAX_SESSION_ID_CHARS
    verified = signer.verify(token)
    assert verified.capabilities == {
        "roots": {"listChanged": True},
        "elicitation": {"form": {}, "url": {}},
        "experimental": {"big": {}},
    }
    assert verified.client_info == {"name": "n", "version": "1"}


def test_a_small_session_is_not_trimmed() -> None:
    capabilities = {"experimental": {"feature": {"level": 3}}}
    signer = SessionSigner(b"k")
    assert signer.verify(signer.mint(_session(capabilities))).capabilities == capabilities


def test_a_session_too_large_even_trimmed_is_refused() -> None:
    capabilities = {"experimental": {f"capability-{n}": {} for n in range(1000)}}
    with pytest.raises(SessionTooLargeError):
        SessionSigner(b"k").mint(_session(capabilities))


def test_a_session_id_expires_after_its_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = SessionSigner(b"k", ttl_seconds=60)
    now = {"t": 1_000_000.0}
    monkeypatch.setattr("asyncmcp.server.sessions.time.time", lambda: now["t"])
    token = signer.mint(_session({}))
    now["t"] += 60
    assert signer.verify(token).client_id == "c"
    now["t"] += 1
    with pytest.raises(InvalidSessionError, match="expired"):
        signer.verify(token)
    assert SessionSigner(b"k", ttl_seconds=None).verify(token).client_id == "c"
