"""A fake of the kubedesk spawner service's REST API, for tests.

It keeps sessions in memory and plays a short scripted spawn (a few progress
events, then ``ready`` with ``ready_url``), following
``spawner/internal/api/openapi.yaml``. Tests steer it through plain
attributes: queued forced answers, a stream to break, a spawn to fail.

Run on its own (from spawner/python) for the end-to-end test::

    python -m tests.fake_service --port 8080 --token secret

which also starts a tiny "desktop server" that answers every GET with 200 and
an ``X-JupyterHub-Version`` header, and hands out its URL as every session's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from tornado import httpserver, netutil, web

DEFAULT_STEPS: list[tuple[int, str]] = [
    (10, "Pod scheduled"),
    (40, "Pulling image"),
    (70, "Container started"),
    (100, "Desktop answers"),
]


@dataclass(frozen=True)
class Raw:
    """A body sent as it is, not as JSON: what a broken service or a proxy might send."""

    text: str


DEFAULT_FORM = """<label for="profile-desktop">Desktop</label>
<input type="radio" name="profile" id="profile-desktop" value="desktop" checked>"""


@dataclass
class Session:
    user: str
    server: str
    profile: str
    status: str = "pending"
    url: str = ""
    message: str = ""
    reason: str = ""
    exit_code: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    # (event type, data): a dict is sent as JSON, a Raw as it is.
    events: list[tuple[str, dict[str, Any] | Raw]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def add(self, event: str, data: dict[str, Any] | Raw) -> None:
        self.events.append((event, data))
        if isinstance(data, dict):
            self.message = data.get("message", self.message)
        self.changed.set()
        self.changed = asyncio.Event()

    @property
    def done(self) -> bool:
        return bool(self.events) and self.events[-1][0] in ("ready", "failed")

    def model(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "user": self.user,
            "server": self.server,
            "status": self.status,
            "profile": self.profile,
            "message": self.message,
        }
        if self.url:
            out["url"] = self.url
        if self.reason:
            out["reason"] = self.reason
        if self.exit_code is not None:
            out["exit_code"] = self.exit_code
        return out


class FakeService:
    """The service's state and the knobs tests turn."""

    def __init__(
        self,
        token: str = "test-token",
        ready_url: str = "http://127.0.0.1:9",
        step_delay: float = 0.02,
    ) -> None:
        self.token = token
        self.ready_url = ready_url
        self.step_delay = step_delay
        self.steps = list(DEFAULT_STEPS)
        self.profiles = ["desktop", "small"]
        self.form_html = DEFAULT_FORM
        self.sessions: dict[tuple[str, str], Session] = {}
        # (method, raw URI, JSON body or None) of every authorized request.
        self.requests: list[tuple[str, str, Any]] = []
        # Forced answers, popped one per request of that kind: (status, body).
        self.create_answers: list[tuple[int, dict[str, Any]]] = []
        self.delete_answers: list[tuple[int, dict[str, Any]]] = []
        self.progress_answers: list[tuple[int, dict[str, Any]]] = []
        self.volumes_answers: list[tuple[int, dict[str, Any]]] = []
        # The servers whose volumes DELETE .../volumes deleted.
        self.deleted_volumes: list[tuple[str, str]] = []
        # Answer every status GET with this while set (e.g. 503 while rebuilding).
        self.status_answer: tuple[int, Any] | None = None
        # Answer GET /sessions with this while set.
        self.sessions_answer: tuple[int, Any] | None = None
        # Events sent after the steps, before ready: (event type, data).
        self.extra_events: list[tuple[str, dict[str, Any] | Raw]] = []
        # The ready event's data while set, instead of {progress, message, url}.
        self.ready_data: dict[str, Any] | Raw | None = None
        # Close the next progress stream abruptly after this many events.
        self.break_stream_after: int | None = None
        # End the next spawn with a failed event carrying this message.
        self.fail_next: str | None = None
        # Pause spawns before their ready event until this is set.
        self.release = asyncio.Event()
        self.release.set()
        self.keepalive = 5.0

    def app(self) -> web.Application:
        user = r"/api/v1/users/([^/]+)"
        server = r"(?:/server|/servers/([^/]+))"
        return web.Application(
            [
                (user + server, SessionHandler, {"svc": self}),
                (user + server + r"/progress", ProgressHandler, {"svc": self}),
                (user + server + r"/volumes", VolumesHandler, {"svc": self}),
                (r"/api/v1/profiles/form", FormHandler, {"svc": self}),
                (r"/api/v1/profiles", ProfilesHandler, {"svc": self}),
                (r"/api/v1/sessions", SessionsHandler, {"svc": self}),
            ]
        )

    async def spawn(self, session: Session) -> None:
        session.add("progress", {"progress": 0, "message": "Session requested"})
        for progress, message in self.steps:
            await asyncio.sleep(self.step_delay)
            session.add("progress", {"progress": progress, "message": message})
        for event, data in self.extra_events:
            session.add(event, data)
            if event == "failed":
                session.status = "failed"
                return
        await self.release.wait()
        if self.fail_next is not None:
            message, self.fail_next = self.fail_next, None
            session.status, session.reason = "failed", "image_pull"
            session.add("failed", {"message": message, "reason": "image_pull"})
            return
        session.status, session.url = "running", self.ready_url
        ready = {"progress": 100, "message": "Server ready", "url": self.ready_url}
        session.add("ready", ready if self.ready_data is None else self.ready_data)


class BaseHandler(web.RequestHandler):
    def initialize(self, svc: FakeService) -> None:
        self.svc = svc

    def prepare(self) -> None:
        auth = self.request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token != self.svc.token:
            self.answer(401, {"code": "unauthorized", "message": "Missing or wrong hub token."})
            return
        body = None
        if self.request.body:
            try:
                body = json.loads(self.request.body)
            except ValueError:
                body = self.request.body.decode(errors="replace")
        self.svc.requests.append((self.request.method, self.request.uri, body))

    def answer(self, status: int, body: Any = None) -> None:
        self.set_status(status)
        if isinstance(body, Raw):
            self.finish(body.text)
            return
        if body is not None:
            self.set_header("Content-Type", "application/json")
            self.write(json.dumps(body))
        self.finish()

    def session_key(self, user: str, server: str | None) -> tuple[str, str]:
        return user, server or ""

    def not_found(self) -> None:
        self.answer(404, {"code": "not_found", "message": "No such server."})


class SessionHandler(BaseHandler):
    async def post(self, user: str, server: str | None) -> None:
        svc, key = self.svc, self.session_key(user, server)
        if svc.create_answers:
            self.answer(*svc.create_answers.pop(0))
            return
        try:
            body = json.loads(self.request.body)
            env = body["env"]
            options = body.get("user_options") or {}
        except (ValueError, KeyError, TypeError):
            self.answer(400, {"code": "invalid_request", "message": "Malformed request."})
            return
        if "JUPYTERHUB_SERVICE_PREFIX" not in env:
            self.answer(
                400, {"code": "invalid_request", "message": "env lacks JUPYTERHUB_SERVICE_PREFIX."}
            )
            return
        profile = options.get("profile") or svc.profiles[0]
        if isinstance(profile, list):
            profile = profile[0]
        if profile not in svc.profiles:
            self.answer(
                400,
                {
                    "code": "invalid_options",
                    "message": f"There is no profile {profile!r}.",
                    "field": "user_options.profile",
                },
            )
            return
        existing = svc.sessions.get(key)
        if existing and existing.status in ("pending", "running", "stopping"):
            self.answer(409, {"code": "busy", "message": "The server exists already."})
            return
        session = Session(user=key[0], server=key[1], profile=profile, env=env)
        svc.sessions[key] = session
        session.task = asyncio.create_task(svc.spawn(session))
        self.answer(202, session.model())

    def get(self, user: str, server: str | None) -> None:
        if self.svc.status_answer is not None:
            self.answer(*self.svc.status_answer)
            return
        session = self.svc.sessions.get(self.session_key(user, server))
        if session is None:
            self.not_found()
            return
        self.answer(200, session.model())

    def delete(self, user: str, server: str | None) -> None:
        if self.svc.delete_answers:
            self.answer(*self.svc.delete_answers.pop(0))
            return
        session = self.svc.sessions.pop(self.session_key(user, server), None)
        if session is not None:
            if session.task and not session.task.done():
                session.task.cancel()
            if not session.done:
                session.status = "stopped"
                session.add(
                    "failed", {"message": "The spawn was cancelled.", "reason": "cancelled"}
                )
        self.answer(204)


class VolumesHandler(BaseHandler):
    def delete(self, user: str, server: str | None) -> None:
        svc, key = self.svc, self.session_key(user, server)
        if svc.volumes_answers:
            self.answer(*svc.volumes_answers.pop(0))
            return
        session = svc.sessions.get(key)
        if session is not None and session.status in ("pending", "running", "stopping"):
            self.answer(409, {"code": "running", "message": "The server still runs."})
            return
        svc.deleted_volumes.append(key)
        self.answer(204)


class ProgressHandler(BaseHandler):
    async def get(self, user: str, server: str | None) -> None:
        svc = self.svc
        if svc.progress_answers:
            self.answer(*svc.progress_answers.pop(0))
            return
        session = svc.sessions.get(self.session_key(user, server))
        if session is None:
            self.not_found()
            return
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        sent = 0
        while True:
            while sent < len(session.events):
                event, data = session.events[sent]
                text = data.text if isinstance(data, Raw) else json.dumps(data)
                self.write(f"event: {event}\ndata: {text}\n\n")
                sent += 1
                if svc.break_stream_after is not None and sent >= svc.break_stream_after:
                    svc.break_stream_after = None
                    await self.flush()
                    self.request.connection.stream.close()  # abrupt: no last chunk
                    return
            await self.flush()
            if session.done:
                self.finish()
                return
            try:
                await asyncio.wait_for(session.changed.wait(), svc.keepalive)
            except asyncio.TimeoutError:
                self.write(": keepalive\n\n")


class FormHandler(BaseHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(self.svc.form_html)


class ProfilesHandler(BaseHandler):
    def get(self) -> None:
        self.answer(200, [{"slug": s, "display_name": s.title()} for s in self.svc.profiles])


class SessionsHandler(BaseHandler):
    def get(self) -> None:
        if self.svc.sessions_answer is not None:
            self.answer(*self.svc.sessions_answer)
            return
        self.answer(200, [s.model() for s in self.svc.sessions.values()])


def _hub_version() -> str:
    try:
        from jupyterhub import __version__
    except ImportError:
        return "5.0.0"
    return __version__


class DesktopHandler(web.RequestHandler):
    """What JupyterHub's readiness check wants: 200 JSON and its version header.

    The header must be a valid version (JupyterHub 4 parses it) and should
    match the hub's, or the hub warns.
    """

    def get(self, path: str) -> None:
        self.set_header("X-JupyterHub-Version", _hub_version())
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"fake": "kubedesk desktop", "path": self.request.path}))


def listen(app: web.Application, port: int = 0) -> tuple[httpserver.HTTPServer, int]:
    """Serve app on 127.0.0.1:port (0: a free one); return the server and its port."""
    sockets = netutil.bind_sockets(port, "127.0.0.1", family=socket.AF_INET)
    server = httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="port of the API on 127.0.0.1")
    parser.add_argument("--token", default="test-token", help="the hub's bearer token")
    parser.add_argument(
        "--ready-url", help="URL handed out for ready servers (default: a built-in responder)"
    )
    parser.add_argument("--step-delay", type=float, default=0.2, help="seconds between events")
    args = parser.parse_args(argv)

    ready_url = args.ready_url
    if not ready_url:
        _, desktop_port = listen(web.Application([(r"(.*)", DesktopHandler)]))
        ready_url = f"http://127.0.0.1:{desktop_port}"
    svc = FakeService(token=args.token, ready_url=ready_url, step_delay=args.step_delay)
    _, port = listen(svc.app(), args.port)
    print(f"fake kubedesk service on http://127.0.0.1:{port}, servers at {ready_url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
