"""Failed authentication, limited per client address (429 with ``Retry-After``).

Every 401 (a missing, malformed, unknown, wrong or revoked key) counts against the address that
sent it. An address with ``settings.gateway_auth_max_failures`` failures within the last
``gateway_auth_failure_window_seconds`` is refused at the door until the oldest of them leaves
the window; its keys are then not looked up in the store, so a flood of made-up keys costs a
dictionary lookup each and cannot slow other callers' checks. A key the replica has checked
recently (its key cache) still passes, so a working client behind the same address (a NAT, a
proxy) keeps working while its key is cached.

The address is the ASGI client: the peer of Serve's proxy, or the ``X-Forwarded-For`` address of a
proxy uvicorn trusts (``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default). Counts are per replica.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

_MAX_ADDRESSES = 100_000


class FailedAuthLimiter:
    """A sliding window of failure times per client address."""

    def __init__(self, max_failures: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def wait_for(self, address: str) -> float:
        """0.0 if ``address`` may try a key now, else the seconds until it may."""
        failures = self._failures.get(address)
        if failures is None:
            return 0.0
        now = self.clock()
        self._forget_old(failures, now)
        if not failures:
            del self._failures[address]
            return 0.0
        if len(failures) < self.max_failures:
            return 0.0
        return failures[0] + self.window_seconds - now

    def failed(self, address: str) -> None:
        """Count a failed authentication from ``address``."""
        now = self.clock()
        failures = self._failures.get(address)
        if failures is None:
            if len(self._failures) >= _MAX_ADDRESSES:
                self._drop_expired(now)
            failures = self._failures[address] = deque(maxlen=self.max_failures)
        failures.append(now)

    def _forget_old(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()

    def _drop_expired(self, now: float) -> None:
        """Forget addresses whose failures have all left the window (else, at worst, every address)."""
        for address in [a for a, f in self._failures.items() if not f or f[-1] <= now - self.window_seconds]:
            del self._failures[address]
        if len(self._failures) >= _MAX_ADDRESSES:
            self._failures.clear()
