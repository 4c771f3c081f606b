"""Child processes the tests start (workers, proxies, servers), each stopped whatever happens."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import anyio

__all__ = ["ROOT", "SERVING", "Proc", "processes"]

ROOT = Path(__file__).resolve().parents[1]
"""The repository root: children run there, so `tests.*` modules are importable by name."""

SERVING = re.compile(r"asyncmcp: serving .+ on \S+ \(pid (\d+)\)")
"""The line `asyncmcp serve` prints once a worker receives."""

T = TypeVar("T")


class Proc:
    """A child process whose output is collected by a thread, so its pipe never fills."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def serving_pids(self) -> list[int]:
        return [int(m.group(1)) for line in list(self.lines) if (m := SERVING.search(line))]

    async def wait_until(self, found: Callable[[], T | None], what: str, within: float = 30.0) -> T:
        """Poll `found` until it returns something; fails, with the output so far, if the process
        exits first or `within` seconds pass."""
        deadline = time.monotonic() + within
        while (value := found()) is None:
            if self.popen.poll() is not None or time.monotonic() > deadline:
                output = "\n".join(self.lines)
                raise AssertionError(f"{what} (exit {self.popen.poll()}):\n{output}")
            await anyio.sleep(0.05)
        return value

    async def wait_serving(self, count: int = 1, within: float = 30.0) -> list[int]:
        pids = self.serving_pids
        return await self.wait_until(lambda: pids() if len(pids()) >= count else None, "worker did not start", within)

    async def wait_for_line(self, pattern: re.Pattern[str], within: float = 30.0) -> re.Match[str]:
        """The first output line matching `pattern`, once it is printed."""

        def match() -> re.Match[str] | None:
            return next((m for line in list(self.lines) if (m := pattern.search(line))), None)

        return await self.wait_until(match, f"no line matched {pattern.pattern!r}", within)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._reader.join(timeout=5)


@contextmanager
def processes() -> Iterator[list[Proc]]:
    """Every process started in the block is stopped on the way out, whatever happens."""
    started: list[Proc] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.stop()
