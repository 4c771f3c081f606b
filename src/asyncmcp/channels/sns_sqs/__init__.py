"""The SNS+SQS channel: requests published to the server's topic and read from the server's queue
subscribed to it; replies published to the client's topic and read from its queue. AWS access
(`api.py`), the channel (`channel.py`), configs, reply policy, provisioning and the registry
entry (`transport.py`). The seed-named face users import is `asyncmcp.sns_sqs`."""
