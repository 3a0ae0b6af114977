"""KubedeskSpawner: a JupyterHub Spawner that asks the kubedesk service to do the work.

The spawner keeps no Kubernetes logic and no state of its own: the kubedesk
spawner service (Go) creates, watches and deletes the desktop pods, and this
class only translates JupyterHub's Spawner calls into the service's REST API
(``spawner/internal/api/openapi.yaml``):

==========================  ===================================================
Spawner call                service request
==========================  ===================================================
``start()``                 ``POST   /api/v1/users/{user}/server[s/{name}]``,
                            then ``GET .../progress`` (Server-Sent Events)
``poll()``, ``get_url()``   ``GET    /api/v1/users/{user}/server[s/{name}]``
                            (most polls: ``GET /api/v1/sessions``, shared)
``stop()``                  ``DELETE /api/v1/users/{user}/server[s/{name}]``
``delete_forever()``        ``DELETE /api/v1/users/{user}/server[s/{name}]/volumes``
                            (unless ``delete_volumes`` is False)
``options_form``            ``GET    /api/v1/profiles/form``
==========================  ===================================================

Everything that can fail during a spawn happens inside the task ``start()``
returns, so ``progress()`` can follow it and never has to raise.

The parts: ``_client`` (HTTP clients, TLS, timeouts, asking again),
``_models`` (the service's documents, parsed), ``_errors`` (the exceptions),
``_snapshot`` (polls' shared view of the sessions), ``_sse`` (the stream's
parser) and ``_form`` (the spawn form's data).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from jupyterhub.spawner import Spawner
from tornado import web
from traitlets import Bool, Float, Unicode, default

from ._client import API_PREFIX, ServiceClient, is_service_404, raise_for_answer
from ._errors import MalformedAnswer, ServiceError, Unreachable
from ._form import options_from_form
from ._models import (
    NAME_CONFLICT,
    CreateRequest,
    ErrorBody,
    ProgressEvent,
    Session,
    decode,
    sessions_from_json,
)
from ._snapshot import snapshot_for
from ._sse import iter_events

__all__ = ["KubedeskSpawner", "ServiceError", "Unreachable"]

# Service progress (0-100) is mapped into [PROGRESS_MIN, PROGRESS_MAX] so the
# hub's own "server ready" event, sent after it has checked the server answers,
# is the only one to reach 100.
PROGRESS_MIN = 1
PROGRESS_MAX = 90
PROGRESS_READY = 95


def _options_are_for_the_service(spawner: Spawner, user_options: dict[str, Any]) -> None:
    """apply_user_options: nothing to do here, start() sends them to the service."""


class KubedeskSpawner(Spawner):
    """Spawn desktop sessions through the kubedesk spawner service.

    Configure it with::

        c.JupyterHub.spawner_class = "kubedesk"
        c.KubedeskSpawner.service_url = "http://kubedesk-spawner:8080"
        # the token comes from $KUBEDESK_SERVICE_TOKEN unless set here
    """

    service_url = Unicode(
        config=True,
        help="""Base URL of the kubedesk spawner service, e.g.
        http://kubedesk-spawner:8080 (no /api/v1). Defaults to
        $KUBEDESK_SERVICE_URL, else http://kubedesk-spawner:8080.""",
    )

    @default("service_url")
    def _default_service_url(self) -> str:
        return os.environ.get("KUBEDESK_SERVICE_URL", "http://kubedesk-spawner:8080")

    service_token = Unicode(
        config=True,
        help="""Bearer token the hub presents to the spawner service.
        Defaults to $KUBEDESK_SERVICE_TOKEN.""",
    )

    @default("service_token")
    def _default_service_token(self) -> str:
        return os.environ.get("KUBEDESK_SERVICE_TOKEN", "")

    service_ca_file = Unicode(
        config=True,
        help="""PEM file of the CA that signed the service's certificate, for an
        https service_url (the chart's TLS Secret's ca.crt); only it is then
        trusted. Empty: the usual roots. Defaults to
        $KUBEDESK_SERVICE_CA_FILE.""",
    )

    @default("service_ca_file")
    def _default_service_ca_file(self) -> str:
        return os.environ.get("KUBEDESK_SERVICE_CA_FILE", "")

    request_timeout = Float(
        30.0,
        config=True,
        help="""Seconds to wait for one request to the spawner service (create,
        status, form). Also the longest silence tolerated on a progress stream
        before reconnecting to it.""",
    )

    stop_timeout = Float(
        300.0,
        config=True,
        help="""Seconds to wait for the spawner service to stop a server (its
        DELETE returns once the pod is gone).""",
    )

    restart_timeout = Float(
        20.0,
        config=True,
        help="""Seconds poll() keeps asking the spawner service again while it
        restarts (connection refused, 503 while it rebuilds its state) before
        it keeps the hub's view of the server. start() and stop() ask again
        for as long as start_timeout and stop_timeout allow.""",
    )

    delete_volumes = Bool(
        True,
        config=True,
        help="""Delete the server's home volume (its PVC) when JupyterHub deletes
        the server for good: when the user is deleted (every server's,
        the default one's included) or a named server is removed. Stopping a
        server never deletes it. Like KubeSpawner's delete_pvc, on by default;
        set it to False to keep every home volume, which an operator then
        removes by hand. Each server has a home of its own
        (claim-<user> for the default server, claim-<user>--<server> for a
        named one), so removing a named server never touches the user's
        default home.""",
    )

    # Delays between attempts to reconnect a broken progress stream: doubling
    # from the first to the last, plus up to 10% jitter. Bounded overall by the
    # hub's start_timeout, which cancels start().
    reconnect_delay_initial = 0.5
    reconnect_delay_max = 10.0

    @default("env_keep")
    def _default_env_keep(self) -> list[str]:
        # The hub's own environment has no business in a desktop pod.
        return []

    if "apply_user_options" in Spawner.class_trait_names():  # JupyterHub >= 5.3

        @default("apply_user_options")
        def _default_apply_user_options(self):
            # The service validates and applies user_options; say they are
            # handled, so the hub doesn't warn about each of them.
            return _options_are_for_the_service

    @default("options_form")
    def _default_options_form(self):
        return self._fetch_options_form

    @default("options_from_form")
    def _default_options_from_form(self):
        return options_from_form

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._start_task: asyncio.Task[str] | None = None
        self._events: list[dict[str, Any]] = []
        self._listeners: set[asyncio.Event] = set()
        self._last_progress = 0
        self._create_body: dict[str, Any] = {}

    # -- requests ---------------------------------------------------------

    @property
    def _service(self) -> ServiceClient:
        """The service as the traits say now (the connections are shared)."""
        return ServiceClient(
            base_url=self.service_url,
            token=self.service_token,
            ca_file=self.service_ca_file,
            timeout=self.request_timeout,
            retry_delay_initial=self.reconnect_delay_initial,
            retry_delay_max=self.reconnect_delay_max,
            log=self.log,
            log_name=self._log_name,
        )

    def _path(self, suffix: str = "") -> str:
        user = quote(self.user.name, safe="")
        if self.name:
            return f"{API_PREFIX}/users/{user}/servers/{quote(self.name, safe='')}{suffix}"
        return f"{API_PREFIX}/users/{user}/server{suffix}"

    # -- progress ---------------------------------------------------------

    def _emit(self, message: str, progress: int | None = None) -> None:
        """Record a progress event and wake every progress() listener."""
        event: dict[str, Any] = {"message": message}
        if progress is not None:
            self._last_progress = max(self._last_progress, progress)
            event["progress"] = self._last_progress
        self._events.append(event)
        self._notify()

    def _notify(self, *_: Any) -> None:
        for listener in self._listeners:
            listener.set()

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Yield the current spawn's events, from the first, until start() ends.

        Each listener replays the whole history, so a page opened late still
        shows every step. It never raises: a failed spawn is reported by the
        hub from start()'s exception.
        """
        task, events = self._start_task, self._events
        if task is None:
            return
        wake = asyncio.Event()
        self._listeners.add(wake)
        sent = 0
        try:
            while True:
                wake.clear()
                while sent < len(events):
                    yield events[sent]
                    sent += 1
                if task.done():
                    return
                await wake.wait()
        except Exception:
            self.log.exception("Progress of %s failed; ending it", self._log_name)
        finally:
            self._listeners.discard(wake)

    # -- Spawner API ------------------------------------------------------

    def start(self) -> asyncio.Task[str]:
        """Start the server; the returned task resolves to its URL."""
        self._events = []
        self._last_progress = 0
        self._start_task = asyncio.create_task(self._start())
        self._start_task.add_done_callback(self._notify)
        return self._start_task

    async def _start(self) -> str:
        # JupyterHub 5 and 6 cancel start() after start_timeout; JupyterHub 4
        # stops waiting but leaves it running, so bound it here too.
        try:
            return await asyncio.wait_for(self._spawn(), self.start_timeout or None)
        except asyncio.TimeoutError:
            raise ServiceError(
                f"The server did not start within {self.start_timeout} s (Spawner.start_timeout)"
            ) from None

    async def _spawn(self) -> str:
        if not self.service_token:
            raise ServiceError(
                "No token for the spawner service: set KubedeskSpawner.service_token"
                " or $KUBEDESK_SERVICE_TOKEN."
            )
        self._create_body = CreateRequest(
            user_options=self.user_options or {},
            env={k: str(v) for k, v in self.get_env().items() if v is not None},
            # The service gives up a little before the hub does, so the hub
            # hears the real reason rather than its own timeout.
            start_timeout=self.start_timeout,
            display_name=getattr(self, "display_name", "") or "",  # JupyterHub >= 6
        ).to_json()

        self._emit("Asking the spawner service for a server", PROGRESS_MIN)
        response = await self._create()
        if response.status_code == 409:
            error = ErrorBody.from_response(response)
            if error.code != NAME_CONFLICT:
                # A session exists or is changing. The hub has already issued
                # new credentials for this spawn, so it can't be reused:
                # replace it. (A name conflict is not this user's server:
                # another user's objects hold the name, and only an operator
                # can resolve it, so it is refused as it is.)
                self.log.info("Replacing existing server %s: %s", self._log_name, error.message)
                self._emit("Stopping the server left from an earlier start")
                await self.stop()
                response = await self._create()
        raise_for_answer(response, "start the server")
        url = await self._follow_progress()
        self.log.info("Server %s is ready at %s", self._log_name, url)
        self._emit(f"Server started at {url}", PROGRESS_READY)
        return url

    async def _create(self) -> httpx.Response:
        """POST this start's request, again while the service restarts.

        The service answers the same request as it did the first time (the
        body, with the token the hub minted for this start, names one
        spawn), so a create whose answer was lost is sent again safely. It is
        asked for half of start_timeout at most: the rest is the spawn's, and a
        service that stays away is reported as that, not as the hub's timeout.
        """
        return await self._service.request_again(
            "POST", self._path(), budget=(self.start_timeout or 300) / 2, json=self._create_body
        )

    async def _follow_progress(self) -> str:
        """Read the progress stream until ready (its URL) or failed (raise).

        The stream replays the operation's history on every connection, so a
        broken stream (the service restarting, a proxy timing out) is simply
        reopened; events already shown are skipped.
        """
        seen: set[tuple[Any, str]] = set()
        recreated = 0
        delay = self.reconnect_delay_initial
        path = self._path("/progress")
        while True:
            try:
                async with self._service.stream(path) as response:
                    if response.status_code == 404:
                        await response.aread()
                        if not is_service_404(response):
                            problem = "HTTP 404 without a service error"
                        elif recreated < 2 and await self._recreate():
                            # A service that lost the spawn (a standby
                            # that took over before it was recorded) has
                            # it again; its stream starts over.
                            recreated += 1
                            problem = "the service had lost the spawn; asked for it again"
                        else:
                            raise ServiceError(
                                "The spawner service no longer knows this server;"
                                " it was stopped or lost while starting."
                            )
                    elif response.status_code >= 500:
                        await response.aread()
                        problem = (
                            f"HTTP {response.status_code}:"
                            f" {ErrorBody.from_response(response).message}"
                        )
                    elif response.status_code != 200:
                        await response.aread()
                        raise_for_answer(response, "report progress")
                        problem = f"HTTP {response.status_code}"
                    else:
                        async for sse in iter_events(response.aiter_lines()):
                            delay = self.reconnect_delay_initial
                            url = await self._handle_event(sse.event, sse.data, seen)
                            if url:
                                return url
                        problem = "the stream ended before the server was ready"
            except httpx.ReadTimeout:
                problem = f"no news for {self.request_timeout:g} s"
            except httpx.TransportError as e:
                problem = f"{type(e).__name__}: {e}"
            self.log.warning(
                "Progress stream of %s broke (%s); reconnecting in %.1f s",
                self._log_name,
                problem,
                delay,
            )
            await asyncio.sleep(delay * (1 + random.random() / 10))
            delay = min(delay * 2, self.reconnect_delay_max)

    async def _recreate(self) -> bool:
        """Send this start's create again; whether the service took it (202)."""
        response = await self._create()
        if response.status_code == 202:
            self.log.warning(
                "Spawner service had lost %s while it started; created again", self._log_name
            )
            return True
        self.log.warning(
            "Spawner service lost %s and refused it again (HTTP %d: %s)",
            self._log_name,
            response.status_code,
            ErrorBody.from_response(response).message,
        )
        return False

    async def _handle_event(self, event: str, data: str, seen: set[tuple[Any, str]]) -> str:
        """Act on one stream event; return the server URL once it is ready.

        A progress event that cannot be read is skipped; a ready or failed
        one that cannot be read ends the start with what was wrong, since
        the stream would only replay it.
        """
        if event not in ("progress", "ready", "failed"):
            return ""
        try:
            payload = ProgressEvent.from_data(event, data)
        except MalformedAnswer as e:
            if event != "progress":
                raise
            self.log.warning("Ignoring a progress event of %s: %s", self._log_name, e)
            return ""
        if event == "failed":
            detail = f" ({payload.reason})" if payload.reason else ""
            raise ServiceError(f"The server failed to start{detail}: {payload.message}")
        if event == "ready":
            url = payload.url or await self._session_url()
            if not url:
                raise ServiceError("The spawner service said the server is ready but gave no URL")
            return url
        key = (payload.progress, payload.message)
        if key in seen or not payload.message:
            return ""
        seen.add(key)
        if payload.progress is not None:
            span = PROGRESS_MAX - PROGRESS_MIN
            mapped = PROGRESS_MIN + round(span * min(max(payload.progress, 0), 100) / 100)
            self._emit(payload.message, mapped)
        else:
            self._emit(payload.message)
        return ""

    async def _session(self) -> Session | None:
        """The server as the service has it; None for an answer other than 200.

        Raises MalformedAnswer for a 200 that is not a session.
        """
        response = await self._service.request("GET", self._path())
        if response.status_code != 200:
            return None
        return Session.from_text(response.text)

    async def _session_url(self) -> str:
        session = await self._session()
        return session.url if session else ""

    async def poll(self) -> int | None:
        """None while the service has the server pending or running, else an exit status.

        JupyterHub's contract has no "unknown": None is running, an int is
        stopped. Only a definite answer from the service is passed on. While
        the service restarts (connection refused, 503 as it rebuilds its
        state, which includes every spawn it acknowledged) the question is
        asked again for up to restart_timeout; a failed server is therefore
        reported failed once the service is back, not running. If the service
        still cannot say, poll() keeps the hub's view, None: the hub polls only
        servers it started, and an int would be wrong in the worst way,
        since User.stop() skips Spawner.stop() for a server poll() calls
        stopped and the pod would be orphaned (KubeSpawner #742). The hub's
        next poll asks again.
        """
        if await self._alive_in_snapshot():
            return None
        try:
            response = await self._service.request_again(
                "GET", self._path(), budget=self.restart_timeout
            )
        except ServiceError as e:
            self.log.warning("Could not poll %s, keeping the hub's view: %s", self._log_name, e)
            return None
        if is_service_404(response):
            return 0
        if response.status_code != 200:
            self.log.warning(
                "Could not poll %s (HTTP %d: %s), keeping the hub's view",
                self._log_name,
                response.status_code,
                ErrorBody.from_response(response).message,
            )
            return None
        try:
            session = Session.from_text(response.text)
        except MalformedAnswer as e:
            self.log.warning(
                "Malformed status of %s, keeping the hub's view: %s", self._log_name, e
            )
            return None
        if session.alive:
            return None
        if session.status == "failed":
            return 1
        if session.status == "stopped":
            return session.exit_code if session.exit_code is not None else 0
        self.log.warning(
            "Unknown status %r of %s, keeping the hub's view", session.status, self._log_name
        )
        return None

    async def _alive_in_snapshot(self) -> bool:
        """Whether a recent snapshot of the service's sessions shows this server alive."""
        return await snapshot_for(self.service_url).shows_alive(
            (self.user.name, self.name), self._list_sessions, self.log
        )

    async def _list_sessions(self) -> list[Session]:
        response = await self._service.request("GET", f"{API_PREFIX}/sessions")
        if response.status_code != 200:
            raise ServiceError(f"HTTP {response.status_code}")
        return sessions_from_json(decode(response.text, "a list of sessions"))

    async def stop(self, now: bool = False) -> None:
        """Stop the server and wait until it is gone; stopping a stopped server is fine."""
        snapshot_for(self.service_url).forget((self.user.name, self.name))
        # Asked again while the service restarts, and on 504 (the pod is
        # still going): the hub must not record a stop that did not happen.
        response = await self._service.request_again(
            "DELETE", self._path(), budget=self.stop_timeout, timeout=self.stop_timeout
        )
        if response.status_code == 404 or response.status_code < 300:
            return
        raise_for_answer(response, "stop the server")
        raise ServiceError(f"Unexpected answer to stop: HTTP {response.status_code}")

    async def delete_forever(self) -> None:
        """The hub deleted this server for good: delete its home volume too.

        JupyterHub calls it, after the server is stopped, once per server of a
        user it deletes (the default server included) and for a named server
        removed with remove=true. A failure raises: the hub logs it ("Error
        cleaning up persistent resources") and deletes the user or server
        all the same, so the volume is left for the operator to remove, and
        the service's log says why.
        """
        if not self.delete_volumes:
            self.log.info(
                "Keeping the home volume of %s (KubedeskSpawner.delete_volumes is False)",
                self._log_name,
            )
            return
        response = await self._service.request_again(
            "DELETE", self._path("/volumes"), budget=self.stop_timeout, timeout=self.stop_timeout
        )
        if response.status_code < 300:
            self.log.info("Deleted the home volume of %s", self._log_name)
            return
        raise_for_answer(response, "delete the server's home volume")
        raise ServiceError(f"Unexpected answer to delete_forever: HTTP {response.status_code}")

    async def get_url(self) -> str:
        """The server's URL as the service knows it, else the stored one. Never raises."""
        try:
            url = await self._session_url()
            if url:
                return url
        except Exception as e:
            self.log.warning("Could not get the URL of %s from the service: %s", self._log_name, e)
        try:
            return await super().get_url()
        except Exception:
            return ""

    async def _fetch_options_form(self, spawner: Spawner | None = None) -> str:
        """The profile form from the service; empty when there is nothing to choose."""
        try:
            response = await self._service.request("GET", f"{API_PREFIX}/profiles/form")
        except ServiceError as e:
            raise web.HTTPError(503, "%s", str(e)) from e
        if response.status_code != 200:
            raise web.HTTPError(
                503,
                "The spawner service did not send the options form: %s",
                ErrorBody.from_response(response).message,
            )
        return response.text.strip()

    def get_state(self) -> dict[str, Any]:
        # The service and Kubernetes hold the truth; keep only what the hub does.
        return super().get_state()

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)

    def clear_state(self) -> None:
        super().clear_state()
