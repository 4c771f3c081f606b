"""The embedded SQS/SNS endpoint (moto server on 127.0.0.1) for demos, tests and local development."""

from asyncmcp.local.endpoint import LocalEndpoint

__all__ = ["LocalEndpoint"]
