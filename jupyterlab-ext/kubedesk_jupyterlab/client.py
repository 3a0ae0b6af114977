"""Launch, watch and stop kubedesk apps from a notebook cell.

    from kubedesk_jupyterlab import launch, apps, running

    viewer = launch("itksnap", "brain.nii.gz")   # waits until its window is up
    viewer                                       # a link that opens it in a tab
    viewer.stop()

The kernel runs inside the session as the session's user, so it talks to
the launcher agent on its Unix socket directly (see _agent.py); the agent
forwards to the kubedesk service with the session's token. Every refusal is
a LaunchError carrying the service's code and message.
"""

from __future__ import annotations

import html
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from ._agent import AgentClient, LaunchError

#: How long launch(wait=True) and wait_ready() wait by default: pulling an
#: app's image on a fresh node can take minutes.
READY_TIMEOUT = 600.0
#: How long stop() waits for the app's pod to go.
STOP_TIMEOUT = 120.0
#: How often a waiting call asks the agent; it answers from the service's
#: informer cache, so asking is cheap.
POLL_INTERVAL = 1.0

_FINISHED = ("ended", "failed")


@dataclass(frozen=True)
class CatalogApp:
    """One version of an app this session may launch."""

    id: str
    name: str
    version: str
    description: str = ""
    icon: str = ""
    categories: tuple[str, ...] = ()
    file_types: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CatalogApp:
        return cls(
            id=d["id"],
            name=d.get("name") or d["id"],
            version=d.get("version", ""),
            description=d.get("description", ""),
            icon=d.get("icon", ""),
            categories=tuple(d.get("categories") or ()),
            file_types=tuple(d.get("file_types") or ()),
        )


def view_url(app_id: str) -> str:
    """The app's window in the browser: the server extension's view route.

    JUPYTERHUB_SERVICE_PREFIX is the server's base URL under a hub; outside
    a hub the server usually runs at "/".
    """
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
    if not prefix.endswith("/"):
        prefix += "/"
    return f"{prefix}kubedesk/apps/{app_id}/view/"


@dataclass
class App:
    """A launched app: a handle on its status, its window and its end."""

    id: str
    app: str
    version: str = ""
    status: str = ""
    message: str = ""
    pod: str = ""
    exit_code: int | None = None
    _client: AgentClient = field(default_factory=AgentClient, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any], client: AgentClient) -> App:
        a = cls(id=d["id"], app=d.get("app", ""), _client=client)
        a._update(d)
        return a

    def _update(self, d: dict[str, Any]) -> None:
        self.version = d.get("version", self.version)
        self.status = d.get("status", self.status)
        self.message = d.get("message", "")
        self.pod = d.get("pod", self.pod)
        self.exit_code = d.get("exit_code")

    @property
    def url(self) -> str:
        """Where the app's window opens in a browser tab."""
        return view_url(self.id)

    @property
    def finished(self) -> bool:
        return self.status in _FINISHED

    def refresh(self) -> App:
        """Ask the agent for the app's status now."""
        self._update(self._client.get(self.id))
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> App:
        """Wait until the app runs; raise LaunchError if it ends first or does not start in time."""
        deadline = time.monotonic() + timeout
        while True:
            self.refresh()
            if self.status == "running":
                return self
            if self.finished:
                raise LaunchError("failed", self._ended_message(), status=0)
            if time.monotonic() >= deadline:
                raise LaunchError(
                    "timeout",
                    f"{self.app} did not start within {timeout:g} s"
                    + (f" (last status: {self.message})" if self.message else "")
                    + ".",
                )
            time.sleep(POLL_INTERVAL)

    def stop(self, wait: bool = True, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the app; with wait, return once its pod is gone.

        Stopping an app that has already gone is not an error.
        """
        self._client.stop(self.id)
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.refresh()
            except LaunchError as e:
                if e.code == "not_found":
                    self.status = "ended"
                    return
                raise
            if self.finished:
                return
            if time.monotonic() >= deadline:
                raise LaunchError(
                    "timeout", f"{self.app} was asked to stop but still runs after {timeout:g} s."
                )
            time.sleep(POLL_INTERVAL)

    def _ended_message(self) -> str:
        what = f"{self.app} {self.version}".strip()
        if self.message:
            return f"{what} failed to start: {self.message}"
        if self.exit_code is not None:
            return f"{what} ended with exit code {self.exit_code} before its window appeared."
        return f"{what} ended before its window appeared."

    def _repr_html_(self) -> str:
        name = html.escape(f"{self.app} {self.version}".strip())
        status = html.escape(self.status + (f": {self.message}" if self.message else ""))
        if self.status == "running":
            style = (
                "padding:2px 8px;border:1px solid currentColor;border-radius:3px;"
                "text-decoration:none"
            )
            link = (
                f'<a href="{html.escape(self.url)}" target="_blank" rel="noopener" '
                f'style="{style}">Open {name}</a>'
            )
            # In JupyterLab the extension's command opens the app in a tab
            # of the same window (JupyterLab's command linker runs it).
            args = html.escape(json.dumps({"id": self.id}), quote=True)
            tab = (
                '<button data-commandlinker-command="kubedesk:open-view" '
                f'data-commandlinker-args="{args}" '
                f'style="{style};background:none;cursor:pointer">Open in a JupyterLab tab</button>'
            )
            return f'<div class="kubedesk-app">{link} {tab} <span>({status})</span></div>'
        return f'<div class="kubedesk-app">{name} <span>({status})</span></div>'


def _client(client: AgentClient | None) -> AgentClient:
    return client or AgentClient()


def apps(client: AgentClient | None = None) -> list[CatalogApp]:
    """The apps this session may launch, every version."""
    return [CatalogApp.from_json(d) for d in _client(client).catalog()]


def running(client: AgentClient | None = None) -> list[App]:
    """This session's apps that have not ended, newest first."""
    c = _client(client)
    return [a for a in (App.from_json(d, c) for d in c.list()) if not a.finished]


def launch(
    app: str,
    *files: str | os.PathLike[str],
    version: str | None = None,
    wait: bool = True,
    timeout: float = READY_TIMEOUT,
    client: AgentClient | None = None,
) -> App:
    """Launch an app of the catalog on files (relative paths are taken from the working directory).

    With wait (the default) it returns once the app runs, and raises
    LaunchError if the app fails to start; without, it returns at once with
    the app starting. Refusals (unknown app, not allowed, quota, a file
    outside the home) raise LaunchError with the service's code and message.
    """
    if not isinstance(app, str) or not app:
        raise LaunchError(
            "bad_request", 'Name the app to launch, e.g. launch("itksnap").', field="app"
        )
    paths = [os.path.abspath(os.path.expanduser(os.fspath(f))) for f in files]
    c = _client(client)
    a = App.from_json(c.launch(app, version or "", paths), c)
    if wait:
        a.wait_ready(timeout)
    return a
