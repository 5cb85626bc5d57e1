"""User memories: what agents remember about a user (``/v1/memories``), per tenant and user.

:mod:`.routes` (HTTP), :mod:`.models` (response bodies), :mod:`.store` (the ``memories``
collection), :mod:`.write_stream` (writes as stream entries) and :mod:`.write_worker` (their consumer).
"""
