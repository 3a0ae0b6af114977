"""Fixtures: the fake spawner service on a free port and spawners wired to it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from jupyterhub import orm
from jupyterhub.objects import Hub, Server

from kubedesk_spawner import KubedeskSpawner

from .fake_service import FakeService, listen


@pytest.fixture
async def service() -> AsyncIterator[FakeService]:
    svc = FakeService()
    server, port = listen(svc.app())
    svc.url = f"http://127.0.0.1:{port}"
    yield svc
    svc.release.set()
    server.stop()
    for session in svc.sessions.values():
        if session.task:
            session.task.cancel()
    await server.close_all_connections()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MakeSpawner = Callable[..., KubedeskSpawner]


@pytest.fixture
def make_spawner(service: FakeService) -> MakeSpawner:
    """Build a KubedeskSpawner for a user (and server name) without a hub."""

    def make(name: str = "", user: str = "alice", **traits) -> KubedeskSpawner:
        prefix = f"/user/{quote(user, safe='')}/" + (f"{quote(name, safe='')}/" if name else "")
        hub_user = SimpleNamespace(
            name=user, escaped_name=quote(user, safe=""), url=f"/user/{quote(user, safe='')}/"
        )
        orm_spawner = SimpleNamespace(name=name, display_name="", server=None) if name else None
        traits.setdefault("service_url", service.url)
        traits.setdefault("service_token", service.token)
        # A restart in these tests lasts a fraction of a second.
        traits.setdefault("restart_timeout", 0.5)
        spawner = KubedeskSpawner(
            user=hub_user,
            hub=Hub(),
            orm_spawner=orm_spawner,
            api_token="server-token",
            oauth_client_id=f"jupyterhub-user-{quote(user, safe='')}",
            **traits,
        )
        orm_server = orm.Server(proto="http", ip="", port=0, base_url=prefix, cookie_name="")
        if orm_spawner is not None:
            orm_spawner.server = orm_server
        spawner._server = Server(orm_server=orm_server)  # bypass the ORM-backed setter
        spawner.reconnect_delay_initial = 0.01
        spawner.reconnect_delay_max = 0.05
        return spawner

    return make


async def collect(spawner: KubedeskSpawner, timeout: float = 10) -> list[dict]:
    """Every event one progress() listener sees, until it ends."""

    async def run() -> list[dict]:
        return [event async for event in spawner.progress()]

    return await asyncio.wait_for(run(), timeout)
