"""Standard Webhooks signing: round trips, tampering, rotation, staleness, and the reference library as an oracle."""

from __future__ import annotations

import base64
import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook  # pyright: ignore[reportMissingTypeStubs]

from asyncmcp.channels.webhook.signing import SignatureError, Signer, generate_secret

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=40)
bodies = st.binary(max_size=2000)
SECRET = generate_secret()
NOW = 1_800_000_000


@given(ids, bodies)
def test_a_signed_body_verifies_and_any_change_does_not(webhook_id: str, body: bytes) -> None:
    signer = Signer([SECRET])
    headers = signer.sign(webhook_id, body, timestamp=NOW).as_dict()
    assert signer.verify(headers, body, now=NOW).webhook_id == webhook_id
    with pytest.raises(SignatureError):
        signer.verify(headers, body + b"x", now=NOW)
    with pytest.raises(SignatureError):
        signer.verify({**headers, "webhook-id": webhook_id + "z"}, body, now=NOW)
    with pytest.raises(SignatureError):
        signer.verify({**headers, "webhook-timestamp": str(NOW + 1)}, body, now=NOW)


@given(ids, st.text(max_size=500))
def test_signatures_match_the_reference_library(webhook_id: str, text: str) -> None:
    """The `standardwebhooks` package (the spec's reference) signs identically and verifies ours."""
    body = text.encode()
    ours = Signer([SECRET]).sign(webhook_id, body, timestamp=NOW)
    reference = Webhook(SECRET)
    when = datetime.datetime.fromtimestamp(NOW, tz=datetime.timezone.utc)
    assert reference.sign(webhook_id, when, text) == ours.signature
    # And ours verifies what the reference signed.
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(NOW),
        "webhook-signature": reference.sign(webhook_id, when, text),
    }
    assert Signer([SECRET]).verify(headers, body, now=NOW).webhook_id == webhook_id


def test_rotation_signs_with_every_secret_and_verifies_with_any() -> None:
    old, new = generate_secret(), generate_secret()
    rotating = Signer([new, old])
    headers = rotating.sign("msg_1", b"{}", timestamp=NOW).as_dict()
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Signer([old]).verify(headers, b"{}", now=NOW)  # a receiver not yet rotated
    assert Signer([new]).verify(headers, b"{}", now=NOW)  # a receiver already rotated
    with pytest.raises(SignatureError, match="no webhook-signature matches"):
        Signer([generate_secret()]).verify(headers, b"{}", now=NOW)


def test_a_stale_or_future_timestamp_is_refused() -> None:
    signer = Signer([SECRET], tolerance_seconds=300)
    headers = signer.sign("msg_1", b"{}", timestamp=NOW).as_dict()
    assert signer.verify(headers, b"{}", now=NOW + 299)
    for now in (NOW + 301, NOW - 301):
        with pytest.raises(SignatureError, match="more than 300 s"):
            signer.verify(headers, b"{}", now=now)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "msg_1", "webhook-timestamp": str(NOW)},
        {"webhook-id": "msg_1", "webhook-timestamp": "soon", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "a.b", "webhook-timestamp": str(NOW), "webhook-signature": "v1,AAAA"},
        {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": "no-comma"},
        {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": "v1,not base64!!"},
        {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": "v1a,AAAA v2,BBBB"},
    ],
)
def test_every_malformed_header_is_one_typed_error(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        Signer([SECRET]).verify(headers, b"{}", now=NOW)


def test_secrets_are_checked_when_configured() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        Signer(["whsec_not*base64"])
    with pytest.raises(ValueError, match="24 to 64"):
        Signer(["whsec_" + base64.b64encode(b"short").decode()])
    with pytest.raises(ValueError, match="signing secret"):
        Signer([])
