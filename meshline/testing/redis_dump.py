"""Everything a Redis database holds, as one text: for tests that check what never reaches Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis


def dump_redis(url: str) -> str:
    """Every key and value of the database at ``url`` (strings, lists, hashes, sets, sorted sets, streams)."""
    # Bytes, not decoded text: some values are binary (cached vectors); repr shows them either way.
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    readers: dict[bytes, Callable[[bytes], Any]] = {
        b"string": client.get,
        b"list": lambda key: client.lrange(key, 0, -1),
        b"hash": client.hgetall,
        b"set": client.smembers,
        b"zset": lambda key: client.zrange(key, 0, -1, withscores=True),
        b"stream": lambda key: client.xrange(key),
    }
    try:
        parts = []
        for key in client.scan_iter(count=500):
            kind = client.type(key)
            read = readers.get(kind.encode() if isinstance(kind, str) else kind)
            value = read(key) if read else "?"
            parts.append(f"{key!r} {kind!r} {value!r} {_text(value)}")
        return "\n".join(parts)
    finally:
        client.close()


def _text(value: object) -> str:
    """The bytes inside ``value`` decoded, so a secret shows as written whatever structure holds it."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return " ".join(_text(k) + " " + _text(v) for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return " ".join(_text(item) for item in value)
    return str(value)
