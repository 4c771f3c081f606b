"""The SQS channel: AWS access (`api.py`), the channel (`channel.py`), its configs, reply policy and
registry entry (`transport.py`). The seed-named face users import is `asyncmcp.sqs`."""
