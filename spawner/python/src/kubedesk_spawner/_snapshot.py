"""poll()'s shared snapshot of the service's sessions.

poll() is the hub's most frequent call: every running server, every
poll_interval, and all of them at once when the hub starts. One HTTP GET
per poll made polling 2000 servers every 3 s keep the hub's thread 100 %
busy in the benchmark against KubeSpawner, whose poll() reads a local
cache. So polls share a snapshot of the service's session list, fetched at
most once per SNAPSHOT_MAX_AGE by whichever poll comes first. The snapshot
is only trusted to say that a server is alive: a server it shows stopped,
failed or not at all (stopped, or started after the snapshot) is asked
about on its own, so a stale snapshot can never end a live server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ._errors import ServiceError
from ._models import Session

__all__ = ["SNAPSHOT_MAX_AGE", "Snapshot", "snapshot_for"]

SNAPSHOT_MAX_AGE = 2.0

#: A server as the hub names it: (user name, server name), "" for the default server.
ServerKey = tuple[str, str]


class Snapshot:
    """The service's sessions as of one GET /api/v1/sessions."""

    def __init__(self) -> None:
        self.taken = float("-inf")
        self.alive: set[ServerKey] = set()
        self.fetching: asyncio.Task[None] | None = None

    async def shows_alive(
        self,
        key: ServerKey,
        fetch: Callable[[], Awaitable[list[Session]]],
        log: logging.Logger,
    ) -> bool:
        """Whether the snapshot, taken again with fetch() if it is old, shows key alive."""
        loop = asyncio.get_running_loop()
        if loop.time() - self.taken > SNAPSHOT_MAX_AGE:
            if self.fetching is None:
                self.fetching = asyncio.ensure_future(self._take(fetch, log))
            # Shielded: one poll's cancellation must not cancel the others' fetch.
            await asyncio.shield(self.fetching)
        return key in self.alive

    def forget(self, key: ServerKey) -> None:
        """A server stopped: a snapshot taken before must not answer a poll after."""
        self.alive.discard(key)

    async def _take(
        self, fetch: Callable[[], Awaitable[list[Session]]], log: logging.Logger
    ) -> None:
        started = asyncio.get_running_loop().time()
        try:
            self.alive = {(s.user, s.server) for s in await fetch() if s.alive}
        except ServiceError as e:
            # Every poll then asks on its own, which reports its problem.
            log.debug("No snapshot of the service's sessions: %s", e)
            self.alive = set()
        finally:
            self.taken = started
            self.fetching = None


_snapshots: dict[tuple[asyncio.AbstractEventLoop, str], Snapshot] = {}


def snapshot_for(service_url: str) -> Snapshot:
    """The snapshot of this service in this event loop (one per loop, as the clients)."""
    return _snapshots.setdefault((asyncio.get_running_loop(), service_url), Snapshot())
