"""Events POSTed as JSON to a webhook, from a bounded queue, with retries and backoff.

A slow or dead receiver never blocks the watcher: when the queue is full the oldest event
is dropped (and counted), and an event that fails every retry is dropped too. An outage is
said on stderr twice, not once per event: when delivery starts failing and when it recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from .clock import Clock, SystemClock
from .events import Event

if TYPE_CHECKING:
    from .metrics import Metrics


class Webhook:
    """Deliver events to ``url``: at most ``queue`` waiting, ``retries`` tries each."""

    def __init__(
        self,
        url: str,
        *,
        queue: int = 1000,
        retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 5.0,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http:// or https://, not {url!r}")
        self.url = url
        self.retries = max(1, retries)
        self.backoff = backoff
        self.timeout = timeout
        self.clock = clock or SystemClock()
        self.metrics = metrics
        self.pending: deque[Event] = deque(maxlen=max(1, queue))
        self.sent = 0
        self.dropped = 0
        self.warn = warn or _stderr
        self.error = ""  # why the last try failed
        self.failing_since: float | None = None  # wall time delivery started failing
        self._dropped_before = 0  # dropped when the outage began
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __call__(self, event: Event) -> None:
        """The sink: queue the event (dropping the oldest when full) and wake the sender."""
        if len(self.pending) == self.pending.maxlen:
            self._drop()
        self.pending.append(event)
        self._wake.set()

    def _drop(self) -> None:
        self.dropped += 1
        if self.metrics is not None:
            self.metrics.webhook_dropped.inc()

    async def _post(self, session: object, event: Event) -> bool:
        """One try; True when delivered, False to retry; raises _Refused for a final no.

        Redirects are not followed (a 307/308 would re-POST the event to whatever host it
        names): a 3xx is a final no, like a 4xx."""
        import aiohttp

        assert isinstance(session, aiohttp.ClientSession)
        try:
            async with session.post(
                self.url,
                json=event.as_dict(),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as resp:
                if resp.status < 300:
                    return True
                self.error = f"answered {resp.status}"
                if 300 <= resp.status < 500 and resp.status not in (408, 429):
                    raise _Refused(resp.status)
                return False
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.error = str(exc) or type(exc).__name__
            return False

    def _failing(self) -> None:
        """A try failed: say so when it is the first of an outage."""
        if self.failing_since is None:
            self.failing_since = self.clock.monotonic()  # a duration: never the wall clock
            self._dropped_before = self.dropped
            self.warn(
                f"webhook {self.url}: delivery failing ({self.error}); each event is tried "
                f"{self.retries} times, then dropped (siplocate_webhook_dropped_total)"
            )

    def _delivered(self) -> None:
        """An event got through: say so when it ends an outage."""
        if self.failing_since is not None:
            lost = self.dropped - self._dropped_before
            took = self.clock.monotonic() - self.failing_since
            self.warn(
                f"webhook {self.url}: delivering again after "
                f"{took:.0f} s; {lost} event(s) dropped meanwhile"
            )
            self.failing_since = None

    async def run(self) -> None:
        """Send queued events one by one, oldest first, until cancelled."""
        import aiohttp

        async with aiohttp.ClientSession() as session:
            while True:
                while not self.pending:
                    self._wake.clear()
                    await self._wake.wait()
                event = self.pending[0]
                delivered = False
                try:
                    for attempt in range(self.retries):
                        if await self._post(session, event):
                            delivered = True
                            break
                        self._failing()
                        await self.clock.sleep(self.backoff * 2**attempt)
                except _Refused:
                    self._failing()
                if self.pending and self.pending[0] is event:
                    self.pending.popleft()
                if delivered:
                    self._delivered()
                    self.sent += 1
                    if self.metrics is not None:
                        self.metrics.webhook_sent.inc()
                else:
                    self._drop()

    def start(self) -> Webhook:
        self._task = asyncio.create_task(self.run())
        return self

    async def stop(self, drain: float = 0.0) -> None:
        """Stop sending (after up to ``drain`` seconds to empty the queue)."""
        if self._task is None:
            return
        for _ in range(int(drain / 0.05)):
            if not self.pending:
                break
            await asyncio.sleep(0.05)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None


def _stderr(line: str) -> None:
    print(f"siplocate watch: {line}", file=sys.stderr, flush=True)


class _Refused(Exception):
    """The receiver rejected the event for good (3xx, 4xx): do not retry it."""
