"""`python -m asyncmcp ...` is the `asyncmcp` command."""

import sys

from asyncmcp.cli import main

sys.exit(main())
