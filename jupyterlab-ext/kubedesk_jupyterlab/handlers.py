"""The Jupyter server extension: the launcher agent's API and app windows under {base_url}kubedesk/.

    GET    kubedesk/api/catalog          the apps this session may launch
    GET    kubedesk/api/apps             this session's apps
    POST   kubedesk/api/apps             {"app", "version"?, "files"?} → 202 the app
    GET    kubedesk/api/apps/{id}        one app
    DELETE kubedesk/api/apps/{id}        stop it → 204
    *      kubedesk/apps/{id}/view/…     the app's Xpra HTML5 client (HTTP and WebSocket)

The Jupyter server authenticates every request (under a hub: the hub's
OAuth, so only the session's owner gets here); the API calls are forwarded
to the agent's Unix socket, which admits this process because it runs as the
agent's uid. The view is proxied to the agent's HTML5 proxy with the
server's own hub token, which the agent accepts as the session owner's.
Files in a launch request are paths relative to the server's root (as the
file browser names them) or absolute; they are made absolute here, and the
service checks that they lie in the user's home.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import AddSlashHandler, ProxyHandler
from tornado import web

from ._agent import AgentClient, LaunchError

#: The agent's HTML5 proxy listens here unless KUBEDESK_LAUNCHER_PROXY_ADDR
#: says otherwise (the agent's own default, launcher/agent/config.go).
PROXY_PORT = 8899
_APP_ID = r"([a-z0-9][a-z0-9.-]{0,252})"


def proxy_addr(env: dict[str, str] | None = None) -> tuple[str, int] | None:
    """Where the agent's HTML5 proxy listens: as the agent computes it, or None when it is off."""
    env = os.environ if env is None else env
    addr = env.get("KUBEDESK_LAUNCHER_PROXY_ADDR", "")
    if addr == "off":
        return None
    if not addr:
        return (env.get("KUBEDESK_POD_IP") or "127.0.0.1", PROXY_PORT)
    host, _, port = addr.rpartition(":")
    return (host.strip("[]"), int(port))


class _AgentHandler(APIHandler):
    """Forwards one call to the agent.

    Its refusals come back as {code, message} with their status.
    """

    @property
    def agent(self) -> AgentClient:
        return self.settings["kubedesk_agent"]

    async def call(self, fn, *args: Any) -> None:
        try:
            # The agent client is blocking (a short call on a local socket);
            # a thread keeps the server's event loop free meanwhile.
            out = await asyncio.to_thread(fn, *args)
        except LaunchError as e:
            self.set_status(e.status if 400 <= e.status < 600 else 502)
            self.finish(json.dumps(e.to_dict()))
            return
        if out is None:
            self.set_status(204)
            self.finish()
            return
        self.finish(json.dumps(out))

    def fail(self, status: int, code: str, message: str, field: str = "") -> None:
        self.set_status(status)
        self.finish(json.dumps(LaunchError(code, message, status, field).to_dict()))


class CatalogHandler(_AgentHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.call(self.agent.catalog)


class AppsHandler(_AgentHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.call(self.agent.list)

    @web.authenticated
    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError as e:
            return self.fail(400, "bad_request", f"The request is not JSON: {e}.")
        if not isinstance(body, dict) or set(body) - {"app", "version", "files"}:
            return self.fail(
                400, "bad_request", 'A launch request is {"app": …, "version": …, "files": […]}.'
            )
        app, version, files = body.get("app"), body.get("version") or "", body.get("files") or []
        if not isinstance(app, str) or not app:
            return self.fail(400, "bad_request", "Name the app to launch.", "app")
        if not isinstance(version, str):
            return self.fail(400, "bad_request", "The version is not a string.", "version")
        if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
            return self.fail(400, "bad_request", "Files are a list of paths.", "files")
        root = self.settings.get("server_root_dir") or os.getcwd()
        paths = [os.path.normpath(os.path.join(os.path.expanduser(root), f)) for f in files]
        self.set_status(202)
        await self.call(self.agent.launch, app, version, paths)


class AppHandler(_AgentHandler):
    @web.authenticated
    async def get(self, app_id: str) -> None:
        await self.call(self.agent.get, app_id)

    @web.authenticated
    async def delete(self, app_id: str) -> None:
        await self.call(self.agent.stop, app_id)


class ViewHandler(ProxyHandler):
    """The app's Xpra HTML5 client, HTTP and WebSocket, from the agent's proxy.

    jupyter-server-proxy's ProxyHandler does the proxying (and enforces the
    Jupyter server's authentication on every request, websockets included);
    this adds the server's hub token, which the agent checks, and keeps the
    browser's cookies for this server to itself.
    """

    def initialize(self, addr: tuple[str, int], token: str) -> None:
        self.agent_addr = addr
        self.hub_token = token

    def proxy_request_headers(self):
        headers = super().proxy_request_headers()
        for h in ("Cookie", "Authorization"):
            if h in headers:
                del headers[h]
        if self.hub_token:
            headers["Authorization"] = "token " + self.hub_token
        return headers

    def _target(self, app_id: str, path: str) -> tuple[str, int, str]:
        host, port = self.agent_addr
        self.proxy_base = url_path_join("kubedesk", "apps", app_id, "view")
        return host, port, f"/apps/{app_id}/{path}"

    async def http_get(self, app_id: str, path: str) -> None:
        return await self.proxy(*self._target(app_id, path))

    async def open(self, app_id: str, path: str) -> None:
        return await self.proxy_open(*self._target(app_id, path))

    def post(self, app_id: str, path: str):
        return self.proxy(*self._target(app_id, path))

    def head(self, app_id: str, path: str):
        return self.proxy(*self._target(app_id, path))


def setup_handlers(
    web_app, agent: AgentClient | None = None, env: dict[str, str] | None = None
) -> None:
    env = os.environ if env is None else env
    base = url_path_join(web_app.settings["base_url"], "kubedesk")
    web_app.settings["kubedesk_agent"] = agent or AgentClient()
    handlers: list[tuple] = [
        (url_path_join(base, "api", "catalog"), CatalogHandler),
        (url_path_join(base, "api", "apps"), AppsHandler),
        (url_path_join(base, "api", "apps", _APP_ID), AppHandler),
    ]
    addr = proxy_addr(env)
    if addr is not None:
        handlers += [
            (url_path_join(base, "apps", _APP_ID, "view"), AddSlashHandler),
            (
                url_path_join(base, "apps", _APP_ID, "view", "(.*)"),
                ViewHandler,
                {
                    "addr": addr,
                    "token": env.get("JUPYTERHUB_API_TOKEN", ""),
                    # The agent's address is this pod's; nothing else is reachable through here.
                    "host_allowlist": [addr[0]],
                },
            ),
        ]
    web_app.add_handlers(".*$", handlers)
