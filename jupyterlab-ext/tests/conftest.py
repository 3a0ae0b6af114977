"""A fake launcher agent on a Unix socket, speaking launchapi as the Go agent does."""

from __future__ import annotations

import json
import os
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

CATALOG = [
    {
        "id": "itksnap",
        "name": "ITK-SNAP",
        "version": "4.2.2",
        "icon": "itksnap",
        "categories": ["visualization"],
        "file_types": [".nii.gz", ".nrrd"],
    },
    {"id": "xterm", "name": "XTerm", "version": "388"},
]


class FakeAgent:
    """The agent's local API over the service's rules, kept in memory.

    launches: the launch requests received. gets_until_running: how many GETs
    of a new app answer "starting" before it runs. fail_next: the next launch
    starts, then fails with this message. quota: how many apps may run.
    """

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.apps: dict[str, dict] = {}
        self.launches: list[dict] = []
        self.gets_until_running = 2
        self.fail_next = ""
        self.quota = 3
        self._gets: dict[str, int] = {}
        self._next = 0
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, body: dict | None) -> tuple[int, object]:
        with self.lock:
            if method == "GET" and path == "/catalog":
                return 200, CATALOG
            if method == "POST" and path == "/apps":
                self.launches.append(body)
                app = next((a for a in CATALOG if a["id"] == body.get("app")), None)
                if app is None:
                    return 404, {
                        "code": "unknown_app",
                        "message": f"There is no app {body.get('app')!r} in the catalog.",
                    }
                live = [a for a in self.apps.values() if a["status"] not in ("ended", "failed")]
                if len(live) >= self.quota:
                    return 429, {
                        "code": "quota",
                        "message": f"This session already runs {self.quota} apps, the most it may.",
                    }
                self._next += 1
                a = {
                    "id": f"app-s1-{app['id']}-{self._next}",
                    "app": app["id"],
                    "version": app["version"],
                    "status": "starting",
                    "message": "Pulling image",
                    "pod": f"app-s1-{app['id']}-{self._next}",
                }
                if self.fail_next:
                    a["fail"] = self.fail_next
                    self.fail_next = ""
                self.apps[a["id"]] = a
                self._gets[a["id"]] = 0
                return 202, public(a)
            if method == "GET" and path == "/apps":
                return 200, [public(a) for a in reversed(self.apps.values())]
            if path.startswith("/apps/"):
                app_id = path[len("/apps/") :]
                a = self.apps.get(app_id)
                if method == "DELETE":
                    self.apps.pop(app_id, None)
                    return 204, None
                if a is None:
                    return 404, {
                        "code": "not_found",
                        "message": f"This session has no app {app_id}.",
                    }
                self._gets[app_id] += 1
                if a["status"] == "starting" and self._gets[app_id] >= self.gets_until_running:
                    if a.get("fail"):
                        a.update(status="failed", message=a["fail"])
                    else:
                        a.update(status="running", message="")
                return 200, public(a)
            return 404, {"code": "not_found", "message": "no route"}


def public(a: dict) -> dict:
    return {k: v for k, v in a.items() if k != "fail"}


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def fake_agent(monkeypatch):
    # Not tmp_path: a Unix socket path must stay under 108 bytes.
    folder = tempfile.mkdtemp(prefix="kd")
    agent = FakeAgent(os.path.join(folder, "launcher.sock"))

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n)) if n else None
            status, out = agent.handle(self.command, self.path, body)
            data = b"" if out is None else json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, *args):
            pass

    server = _Server(agent.socket, Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("KUBEDESK_LAUNCHER_SOCKET", agent.socket)
    yield agent
    server.shutdown()
    server.server_close()
    os.unlink(agent.socket)
    os.rmdir(folder)
