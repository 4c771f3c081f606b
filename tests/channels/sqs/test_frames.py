"""Property tests of how the SQS channel counts a frame against a queue's size limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from asyncmcp.channels.sqs.channel import sqs_frame_size
from asyncmcp.codec import Frame


@given(st.text(), st.dictionaries(st.text(min_size=1, max_size=30), st.text(max_size=100), max_size=10))
def test_frame_size_counts_body_and_attributes_in_utf8_bytes(body: str, attributes: dict[str, str]) -> None:
    frame = Frame(body, attributes)
    utf8 = len(body.encode("utf-8")) + sum(
        len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in attributes.items()
    )
    # SQS counts each attribute's name, data type ("String") and value.
    assert sqs_frame_size(frame) == utf8 + len("String") * len(attributes)
    assert sqs_frame_size(frame) >= len(body.encode("utf-8"))


@given(st.text(min_size=1), st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=50))
def test_frame_size_grows_by_the_bytes_of_an_added_attribute(body: str, name: str, value: str) -> None:
    before = sqs_frame_size(Frame(body, {}))
    after = sqs_frame_size(Frame(body, {name: value}))
    assert after - before >= len(name.encode()) + len(value.encode())
