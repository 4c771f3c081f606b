"""The configs under the module path of the original asyncmcp documents
(`from asyncmcp.sqs.utils import SqsClientConfig`)."""

from asyncmcp.channels.sqs.config import SqsClientConfig, SqsServerConfig

__all__ = ["SqsClientConfig", "SqsServerConfig"]
