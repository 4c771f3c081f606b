"""Bounded memories: what a peer can make us remember stays within its bound."""

from __future__ import annotations

from asyncmcp.expiring import BoundedDict


def test_a_bounded_dict_forgets_its_oldest_entries_past_its_bound() -> None:
    remembered: BoundedDict[int, str] = BoundedDict(3)
    for key in range(5):
        remembered[key] = f"request {key}"
    assert list(remembered) == [2, 3, 4]
    assert remembered.pop(3) == "request 3"
