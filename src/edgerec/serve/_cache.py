"""Answer caches: a per-process LRU in front of an optional shared Redis.

Keys embed the artifact version and the user's newest event id, so an entry can never be stale:
a new event or a new model simply asks for a different key. Redis is best effort: any error or
timeout is a miss, and after a failure Redis is skipped for a short back-off so that a dead Redis
costs one timeout, not one per request.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Protocol

from edgerec.serve import _metrics as metrics

logger = logging.getLogger(__name__)


class CacheUnavailable(Exception):
    """The shared cache did not answer an operation that must not pass for a miss."""


class Cache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes) -> None: ...


class NullCache:
    """No shared cache configured."""

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes) -> None:
        return None

    def healthy(self) -> bool:
        return True


class ProcessCache:
    """Bounded LRU of encoded answers inside one worker."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def set(self, key: str, value: bytes) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class RedisCache:
    """Shared node cache with a TTL on every key; failures are misses, never errors."""

    BACKOFF_S = 1.0

    def __init__(self, url: str, timeout_ms: float, ttl_s: int, prefix: str = "edgerec:") -> None:
        import redis

        timeout = timeout_ms / 1000.0
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._ttl = ttl_s
        self._prefix = prefix
        self._down_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        metrics.REDIS_ERRORS.inc()
        self._down_until = time.monotonic() + self.BACKOFF_S
        logger.warning(
            "redis unavailable (%s); serving without it for %.1fs",
            type(exc).__name__,
            self.BACKOFF_S,
        )

    def get(self, key: str) -> bytes | None:
        value = self._fetch(key)
        metrics.CACHE_RESULT["redis", value is not None].inc()
        return value

    def _fetch(self, key: str) -> bytes | None:
        if not self._available():
            return None
        try:
            value = self._client.get(self._prefix + key)
        except Exception as exc:  # any client error is a miss: Redis is only a cache
            self._failed(exc)
            return None
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes) -> None:
        if not self._available():
            return
        try:
            self._client.set(self._prefix + key, value, ex=self._ttl)
        except Exception as exc:
            self._failed(exc)

    def flush(self) -> int:
        """Delete this service's keys; returns how many. Raises `CacheUnavailable` when Redis
        does not answer (its entries then expire with their TTL)."""
        deleted = 0
        try:
            for key in self._client.scan_iter(match=self._prefix + "*", count=1000):
                deleted += int(self._client.delete(key))
        except Exception as exc:  # the client's errors, timeouts and refused connections
            self._failed(exc)
            raise CacheUnavailable(f"{type(exc).__name__} after {deleted} key(s)") from None
        return deleted

    def healthy(self) -> bool:
        try:
            return bool(self._client.ping())
        except Exception:
            return False
