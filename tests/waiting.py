"""Bounded waits for a condition, for tests that must not sleep to paper over a race."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio


async def wait_for(condition: Callable[[], Any], *, within: float = 15.0, interval: float = 0.02) -> Any:
    """Poll `condition` until it returns something truthy; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {within} s")
        await anyio.sleep(interval)
