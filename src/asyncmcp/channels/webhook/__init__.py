"""The webhook channel: requests POSTed to the server, results POSTed back to the client, both
signed (Standard Webhooks, `signing.py`), egress SSRF-safe (`egress.py`), deliveries retried
(`delivery.py`), received by an ASGI ingress (`ingress.py`); configs and the registry entry
(`config.py`, `transport.py`). The seed-named face users import is `asyncmcp.webhook`."""
