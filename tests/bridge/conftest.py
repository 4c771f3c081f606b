"""The third-party stdio server the bridge tests serve, installed from npm on first use."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.npm import npm_install

EVERYTHING_PACKAGE = "@modelcontextprotocol/server-everything@2026.8.31"
"""The third-party stdio server the bridge is tested with, pinned so its tools stay put."""

EVERYTHING_DIR = Path("/tmp/asyncmcp-server-everything")


@pytest.fixture(scope="session")
def everything() -> list[str]:
    """The command that runs server-everything over stdio (installed once, on first use)."""
    entry = EVERYTHING_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
    if not entry.exists():
        npm_install(EVERYTHING_DIR, [EVERYTHING_PACKAGE])
    return ["node", str(entry), "stdio"]
