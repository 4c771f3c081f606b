"""The demo: a server with a slow tool that reports progress, and a client that calls it."""
