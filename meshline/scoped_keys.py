"""Store keys built from identity parts (tenant, user, thread...) that can never collide.

Each part is percent-encoded before the parts are joined with ``:``, so no part can contain
the separator: ``("alice", "x:t")`` and ``("alice:x", "t")`` are two different keys.
"""

from __future__ import annotations

from urllib.parse import quote

SEPARATOR = ":"


def join_key(*parts: str) -> str:
    """One key for ``parts``: distinct tuples of parts always give distinct keys."""
    return SEPARATOR.join(quote(part, safe="") for part in parts)
