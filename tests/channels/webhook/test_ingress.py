"""The verifying ingress over real HTTP: unsigned, wrongly signed, stale, replayed and oversized POSTs are refused."""

from __future__ import annotations

import time

import httpx2
import pytest

from asyncmcp.channels.http_server import serve_asgi
from asyncmcp.channels.webhook.ingress import WebhookIngress
from asyncmcp.channels.webhook.signing import Signer, generate_secret
from asyncmcp.codec import Frame

pytestmark = pytest.mark.anyio

SECRET = generate_secret()
BODY = b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'


async def _post(url: str, headers: dict[str, str], body: bytes = BODY) -> httpx2.Response:
    async with httpx2.AsyncClient(trust_env=False) as client:
        return await client.post(url, content=body, headers={"content-type": "application/json", **headers})


async def test_the_ingress_refuses_what_it_cannot_trust_and_takes_a_retry_once() -> None:
    signer = Signer([SECRET])
    taken: list[Frame] = []

    async def sink(frame: Frame) -> None:
        taken.append(frame)

    ingress = WebhookIngress(signer, sink, path="/mcp", max_body_bytes=2048)
    async with serve_asgi(ingress, "127.0.0.1", 0) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        good = signer.sign("msg_1", BODY).as_dict()

        unsigned = await _post(url, {})
        assert unsigned.status_code == 401 and "missing" in unsigned.json()["error"]
        other = Signer([generate_secret()]).sign("msg_1", BODY).as_dict()
        assert (await _post(url, other)).status_code == 401
        stale = signer.sign("msg_1", BODY, timestamp=int(time.time()) - 3600).as_dict()
        assert "more than 300 s" in (await _post(url, stale)).json()["error"]
        tampered = await _post(url, good, body=BODY.replace(b"list", b"call"))
        assert tampered.status_code == 401

        accepted = await _post(url, {**good, "mcp-client-id": "c1", "x-other": "ignored"})
        assert accepted.status_code == 202 and accepted.json() == {"accepted": True}
        replayed = await _post(url, good)
        assert replayed.status_code == 401 and "replayed" in replayed.json()["error"]
        retry = signer.sign("msg_1", BODY, timestamp=int(time.time()) + 1).as_dict()
        duplicate = await _post(url, retry)
        assert duplicate.status_code == 202 and duplicate.json()["duplicate"] is True

        big = b"x" * 4096
        assert (await _post(url, signer.sign("msg_2", big).as_dict(), body=big)).status_code == 413
        assert (await httpx2.AsyncClient(trust_env=False).get(url)).status_code == 405
    assert [(frame.body, dict(frame.attributes)) for frame in taken] == [(BODY.decode(), {"mcp-client-id": "c1"})]
    assert ingress.stats["unsigned"] == 4 and ingress.stats["replayed"] == 1 and ingress.stats["duplicates"] == 1
