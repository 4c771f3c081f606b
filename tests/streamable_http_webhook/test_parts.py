"""The hybrid's small parts on their own: reading an answer stream, the bounds on kept answers, and
an SSE answer's headers leaving with its first chunk."""

from __future__ import annotations

import json

import pytest
from starlette.types import Message

from asyncmcp.streamable_http_webhook.calls import WebhookCalls
from asyncmcp.streamable_http_webhook.server import (
    _AnswerStream,  # pyright: ignore[reportPrivateUsage]
    _start_with_first_chunk,  # pyright: ignore[reportPrivateUsage]
)


def test_an_sse_answer_yields_each_data_event_even_when_a_character_spans_two_chunks() -> None:
    stream = _AnswerStream()
    stream.start({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    body = (
        "id: 1\r\nretry: 1000\r\ndata: \r\n\r\n: ping\r\n\r\n"
        'event: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/message",'
        '"params":{"data":"caf\u00e9"}}\r\n\r\n'
        'data: {"jsonrpc":"2.0","id":7,"result":{}}\r\n\r\n'
    ).encode()
    split = body.index("\u00e9".encode()) + 1  # inside the two bytes of the accented letter
    messages = stream.feed(body[:split], more=True) + stream.feed(body[split:], more=False)
    assert [json.loads(message) for message in messages] == [
        {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "caf\u00e9"}},
        {"jsonrpc": "2.0", "id": 7, "result": {}},
    ]


def test_a_json_answer_is_one_message_once_its_body_is_complete() -> None:
    stream = _AnswerStream()
    stream.start({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    assert stream.feed(b'{"jsonrpc":"2.0",', more=True) == []
    assert stream.feed(b'"id":1,"result":{}}', more=False) == ['{"jsonrpc":"2.0","id":1,"result":{}}']


@pytest.mark.anyio
async def test_kept_answers_are_bounded_by_count_oldest_first_and_running_calls_stay() -> None:
    calls = WebhookCalls(ttl_seconds=600, max_kept=2)
    running = calls.start(("s", "u", "0"), "u")
    for index in range(1, 4):
        calls.finished(calls.start(("s", "u", str(index)), "u"), f"answer {index}")
    assert calls.get(("s", "u", "1")) is None
    assert [calls.get(("s", "u", str(index))) is not None for index in (2, 3)] == [True, True]
    assert calls.get(("s", "u", "0")) is running


@pytest.mark.anyio
async def test_kept_answers_expire_after_their_ttl_and_a_cancelled_call_keeps_nothing() -> None:
    calls = WebhookCalls(ttl_seconds=60, max_kept=10)
    finished = calls.start(("s", "u", "1"), "u")
    calls.finished(finished, "answer")
    cancelled = calls.start(("s", "u", "2"), "u")
    calls.finished(cancelled, None)
    assert calls.get(("s", "u", "2")) is None
    assert calls.get(("s", "u", "1")) is finished
    finished.finished_at = (finished.finished_at or 0) - 61  # older than the TTL, without waiting for it
    assert calls.get(("s", "u", "1")) is None


@pytest.mark.anyio
async def test_a_call_cancelled_after_its_answer_takes_no_room_from_kept_answers() -> None:
    calls = WebhookCalls(ttl_seconds=600, max_kept=1)
    kept = calls.start(("s", "u", "1"), "u")
    calls.finished(kept, "answer")
    late = calls.start(("s", "u", "2"), "u")
    calls.finished(late, "answer")
    calls.finished(late, None)  # its client cancelled it while the answer was being written
    assert calls.get(("s", "u", "2")) is None
    assert calls.get(("s", "u", "1")) is None  # the count evicted it when the second finished
    third = calls.start(("s", "u", "3"), "u")
    calls.finished(third, "answer")
    assert calls.get(("s", "u", "3")) is third


@pytest.mark.anyio
async def test_an_sse_answer_starts_with_its_first_chunk_and_a_json_answer_at_once() -> None:
    sent: list[str] = []

    async def send(message: Message) -> None:
        sent.append(message["type"])

    sse = _start_with_first_chunk(send)
    await sse({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    assert sent == []
    await sse({"type": "http.response.body", "body": b"id: 1\ndata: \n\n", "more_body": True})
    assert sent == ["http.response.start", "http.response.body"]
    sent.clear()
    json_answer = _start_with_first_chunk(send)
    json_headers = [(b"content-type", b"application/json")]
    await json_answer({"type": "http.response.start", "status": 200, "headers": json_headers})
    assert sent == ["http.response.start"]
