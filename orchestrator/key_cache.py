"""Keys the database confirmed recently, per orchestrator process.

Two windows per entry, both counted from the last time the database confirmed the key:
- fresh (seconds): served without asking the database; this is also how late a revocation
  made on another replica can take effect if its invalidation message was lost;
- outage (minutes): served only while the database cannot be reached.
Only successful lookups enter and the cache is bounded (least recently used goes first), so
unknown keys can neither be remembered as misses nor push the valid ones out.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from meshline.orchestrator.keys import ApiKeyRecord

FRESH_S = 5.0
OUTAGE_S = 900.0
MAX_ENTRIES = 10_000


@dataclass
class _Entry:
    record: ApiKeyRecord
    confirmed: float  # time.monotonic() of the last database confirmation
    fresh: bool = True  # False once an invalidation may have been missed


class ConfirmedKeys:
    def __init__(self, fresh_s: float = FRESH_S, outage_s: float = OUTAGE_S, max_entries: int = MAX_ENTRIES) -> None:
        self.fresh_s = fresh_s
        self.outage_s = outage_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def fresh(self, digest: str) -> ApiKeyRecord | None:
        """The record if the database confirmed it within the fresh window (and it has not expired)."""
        return self._get(digest, self.fresh_s, require_fresh=True)

    def last_known(self, digest: str) -> ApiKeyRecord | None:
        """For a database outage: the record if confirmed within the outage window (and not expired)."""
        return self._get(digest, self.outage_s, require_fresh=False)

    def _get(self, digest: str, window_s: float, *, require_fresh: bool) -> ApiKeyRecord | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.record.state(time.time()) != "active":
            del self._entries[digest]
            return None
        if (require_fresh and not entry.fresh) or time.monotonic() - entry.confirmed >= window_s:
            return None
        self._entries.move_to_end(digest)
        return entry.record

    def put(self, digest: str, record: ApiKeyRecord) -> None:
        self._entries[digest] = _Entry(record, time.monotonic())
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, key_id: str) -> None:
        """Drop a revoked key at once, whatever the windows say."""
        for digest in [d for d, e in self._entries.items() if e.record.id == key_id]:
            del self._entries[digest]

    def expire_all(self) -> None:
        """Ask the database again before serving any entry (invalidations may have been missed)."""
        for entry in self._entries.values():
            entry.fresh = False

    def __len__(self) -> int:
        return len(self._entries)
