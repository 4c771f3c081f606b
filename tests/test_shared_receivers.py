"""The registry behind `connect()`'s one receiver per reply address and process
(`client/shared_receivers.py`), with stand-in openers: who opens, who joins, what each user sees
when the opening fails, and that a receiver which stopped reading is never joined."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from asyncmcp.client import shared_receivers
from asyncmcp.client.shared_receivers import shared_receiver
from asyncmcp.errors import AddressNotFoundError

pytestmark = pytest.mark.anyio


@dataclass
class StandIn:
    """Opens a stand-in router (it has the `failure` a router reports) and records what happened."""

    error: Exception | None = None
    hold: anyio.Event | None = None
    opened: int = 0
    closed: int = 0
    cancelled: int = 0
    routers: list[Any] = field(default_factory=list[Any])

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Any]:
        try:
            if self.hold is not None:
                await self.hold.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        self.opened += 1
        router = type("Router", (), {"failure": None})()
        self.routers.append(router)
        try:
            yield router
        finally:
            self.closed += 1


def _registered() -> dict[Any, Any]:
    return shared_receivers._RECEIVERS  # pyright: ignore[reportPrivateUsage]


async def test_users_of_one_key_share_one_receiver_closed_with_the_last() -> None:
    opener = StandIn()
    async with (
        shared_receiver("k", opener.open, label="q") as first,
        shared_receiver("k", opener.open, label="q") as second,
    ):
        assert first is second and opener.opened == 1
        async with shared_receiver("other", opener.open, label="q2") as third:
            assert third is not first and opener.opened == 2
        assert opener.closed == 1
    assert opener.closed == 2 and _registered() == {}


async def test_a_receiver_that_stopped_reading_is_not_joined() -> None:
    opener = StandIn()
    async with shared_receiver("k", opener.open, label="q") as first:
        first.failure = AddressNotFoundError("queue q is gone")
        async with shared_receiver("k", opener.open, label="q") as second:
            assert second is not first and opener.opened == 2
    assert opener.closed == 2 and _registered() == {}


async def test_every_user_waiting_for_a_failed_opening_raises_its_own_copy_of_the_error() -> None:
    error = AddressNotFoundError("queue q does not exist", address="q", code="NonExistentQueue")
    opener = StandIn(error=error, hold=anyio.Event())
    raised: list[BaseException] = []

    async def use() -> None:
        try:
            async with shared_receiver("k", opener.open, label="q"):
                pass
        except AddressNotFoundError as exc:
            raised.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(use)
        tg.start_soon(use)
        await anyio.wait_all_tasks_blocked()
        opener.hold.set()  # pyright: ignore[reportOptionalMemberAttribute]
    assert len(raised) == 2 and raised[0] is not raised[1]
    assert all(exc.__cause__ is error and exc.address == "q" for exc in raised)  # pyright: ignore[reportAttributeAccessIssue]
    assert _registered() == {}


async def test_the_last_user_giving_up_while_it_opens_cancels_the_opening() -> None:
    opener = StandIn(hold=anyio.Event())
    gave_up = anyio.Event()

    async def use(scope: anyio.CancelScope) -> None:
        with scope:
            async with shared_receiver("k", opener.open, label="q"):
                pytest.fail("the receiver never opened")
        gave_up.set()

    scope = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(use, scope)
        await anyio.wait_all_tasks_blocked()  # the opening is under way, the user waits for it
        assert opener.cancelled == 0
        scope.cancel()
    assert gave_up.is_set()
    assert opener.cancelled == 1 and opener.opened == 0 and _registered() == {}
