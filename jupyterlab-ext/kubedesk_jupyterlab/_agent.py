"""The launcher agent's local API (launcher/launchapi in Go), over its Unix socket.

The agent listens on a Unix socket of mode 0600 and lets in only callers of
its own uid (SO_PEERCRED); the Jupyter server and its kernels run as that
uid, so they need no other credential. Both the notebook client and the
server extension use this module; it needs nothing beyond the standard
library, so importing it in a kernel costs nothing.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any
from urllib.parse import quote

#: Where the agent listens unless KUBEDESK_LAUNCHER_SOCKET says otherwise
#: (launchapi.DefaultSocket).
DEFAULT_SOCKET = "/tmp/kubedesk/launcher.sock"
ENV_SOCKET = "KUBEDESK_LAUNCHER_SOCKET"

#: How long one call may take: the agent answers from the service's
#: informer cache, so a slow answer means something is wrong.
TIMEOUT = 30.0


class LaunchError(Exception):
    """A refusal of the service or the agent: a stable code and a message for a person.

    The codes are the service's (launch-design.md), among them
    ``unknown_app``, ``not_allowed``, ``bad_file``, ``quota`` and
    ``not_found``; ``service_unreachable`` when the agent could not reach the
    service, ``agent_unreachable`` when the agent itself is not there, and
    ``failed`` for an app that ended before it was ready.
    """

    def __init__(self, code: str, message: str, status: int = 0, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.field = field

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            d["field"] = self.field
        return d


def socket_path() -> str:
    return os.environ.get(ENV_SOCKET) or DEFAULT_SOCKET


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("launcher", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


class AgentClient:
    """A client of the agent's local API; one connection per call, like the Go client."""

    def __init__(self, socket: str | None = None, timeout: float = TIMEOUT) -> None:
        self.socket = socket or socket_path()
        self.timeout = timeout

    def catalog(self) -> list[dict[str, Any]]:
        return self.request("GET", "/catalog")

    def launch(self, app: str, version: str = "", files: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"app": app}
        if version:
            body["version"] = version
        if files:
            body["files"] = files
        return self.request("POST", "/apps", body)

    def list(self) -> list[dict[str, Any]]:
        return self.request("GET", "/apps")

    def get(self, app_id: str) -> dict[str, Any]:
        return self.request("GET", "/apps/" + _segment(app_id))

    def stop(self, app_id: str) -> None:
        self.request("DELETE", "/apps/" + _segment(app_id))

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call; answers the decoded JSON (None for 204), raises LaunchError otherwise."""
        conn = _UnixConnection(self.socket, self.timeout)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except OSError as e:
            raise LaunchError(
                "agent_unreachable",
                "The kubedesk launcher is not running in this session "
                f"(no answer on {self.socket}: {e.strerror or e}).",
                status=502,
            ) from e
        finally:
            conn.close()
        if resp.status >= 300:
            raise _decode_error(resp.status, raw)
        if resp.status == 204 or not raw:
            return None
        return json.loads(raw)


def _segment(app_id: str) -> str:
    """An app id as one path segment; ids are DNS labels, anything else cannot name an app."""
    if not app_id or "/" in app_id or app_id in (".", ".."):
        raise LaunchError("not_found", f"There is no app {app_id!r} in this session.", status=404)
    return quote(app_id, safe="")


def _decode_error(status: int, raw: bytes) -> LaunchError:
    """The agent's Error document, or an excerpt of whatever else came back."""
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and (doc.get("code") or doc.get("message")):
        return LaunchError(
            str(doc.get("code") or f"http_{status}"),
            str(doc.get("message") or doc.get("code")),
            status=status,
            field=str(doc.get("field") or ""),
        )
    text = raw.decode("utf-8", "replace").strip()
    if len(text) > 200:
        text = text[:200] + "…"
    return LaunchError(
        f"http_{status}", text or http.client.responses.get(status, "error"), status=status
    )
