"""Small measurement helpers: percentiles, ratios, process memory and the machine description.

Percentiles use the nearest-rank method on the sorted samples so a p99 of 300 samples is a real
observed value, not an interpolation between two of them. RSS is read from `/proc/<pid>/status`
(psutil is not a dependency), which is what the kernel charges the process.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from importlib import metadata

__all__ = ["machine", "median", "percentile", "ratio", "rss_bytes"]


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank `q` percentile (0 < q <= 100) of `samples`; NaN when there are none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.nan


def ratio(value: float, floor: float) -> float:
    """`value / floor`, NaN when the floor is missing or zero (rendered as a dash)."""
    if not floor or math.isnan(floor) or math.isnan(value):
        return math.nan
    return value / floor


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (Linux), from the VmRSS line of /proc/<pid>/status."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """What the numbers were measured on; the report prints it above the table."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count() or "?"),
        "cpu": _cpu_model(),
        "load average at start": load,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        **{package: _version(package) for package in ("asyncmcp", "mcp", "aiobotocore", "moto", "uvicorn", "httpx2")},
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
