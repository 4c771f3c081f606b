"""Running a long-lived command (`asyncmcp serve`, `asyncmcp proxy`) until it is signalled.

The first SIGINT or SIGTERM asks the service to stop gracefully (a worker finishes its in-flight
requests, the proxy lets calls finish); a second aborts at once. Both commands run this one loop,
so they stop the same way.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc

__all__ = ["run_service"]

logger = logging.getLogger(__name__)

Service = Callable[..., Awaitable[None]]
"""`async def service(*, task_status)`: serves until done; reports what it serves through `task_status.started(x)`."""


def run_service(service: Service, stop: Callable[[], None], announce: Callable[[Any], None]) -> None:
    """Run `service` to its end; `announce` gets what it reported once it serves."""

    async def main() -> None:
        async with anyio.create_task_group() as tg:

            async def watch_signals() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    count = 0
                    async for _ in signals:
                        count += 1
                        if count == 1:
                            logger.info("stopping: finishing what is in flight (signal again to abort)")
                            stop()
                        else:
                            tg.cancel_scope.cancel()

            async def run(*, task_status: anyio.abc.TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
                await service(task_status=task_status)
                tg.cancel_scope.cancel()  # stopped and drained

            tg.start_soon(watch_signals)
            announce(await tg.start(run))

    anyio.run(main)
