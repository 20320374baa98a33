"""Sliding-window limits per key (a client address): how many of something it did in the last minute."""

from __future__ import annotations

import math
import time
from collections import deque

MAX_KEYS = 10_000  # bounds the memory a flood from many addresses can take


class SlidingWindow:
    """At most `limit` events per key in any `window_s` seconds; `wait` says how long a key must wait."""

    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self.events: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self.events.get(key, deque())
        while times and now - times[0] >= self.window_s:
            times.popleft()
        return times

    def wait(self, key: str) -> int:
        """Whole seconds until `key` may do one more; 0 when it may now."""
        now = time.monotonic()
        times = self._recent(key, now)
        if len(times) < self.limit:
            return 0
        return max(1, math.ceil(self.window_s - (now - times[0])))

    def add(self, key: str) -> None:
        now = time.monotonic()
        if key not in self.events and len(self.events) >= self.max_keys:
            for stale in [k for k in self.events if not self._recent(k, now)]:
                del self.events[stale]
            if len(self.events) >= self.max_keys:
                del self.events[next(iter(self.events))]  # the longest-known key goes first
        times = self._recent(key, now)
        times.append(now)
        self.events[key] = times

    def clear(self, key: str) -> None:
        self.events.pop(key, None)
