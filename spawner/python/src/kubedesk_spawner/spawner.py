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
``stop()``                  ``DELETE /api/v1/users/{user}/server[s/{name}]``
``options_form``            ``GET    /api/v1/profiles/form``
==========================  ===================================================

Everything that can fail during a spawn happens inside the task ``start()``
returns, so ``progress()`` can follow it and never has to raise.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from jupyterhub.spawner import Spawner
from tornado import web
from traitlets import Float, Unicode, default

from ._form import options_from_form
from ._sse import iter_events

try:  # JupyterHub >= 6
    from jupyterhub.spawner import SpawnException
except ImportError:  # JupyterHub 4 and 5
    SpawnException = None

__all__ = ["KubedeskSpawner", "ServiceError", "Unreachable"]

API_PREFIX = "/api/v1"

# Service progress (0-100) is mapped into [PROGRESS_MIN, PROGRESS_MAX] so the
# hub's own "server ready" event, sent after it has checked the server answers,
# is the only one to reach 100.
PROGRESS_MIN = 1
PROGRESS_MAX = 90
PROGRESS_READY = 95

# Session statuses (openapi.yaml, Session.status) poll() reports as running.
_ALIVE = frozenset({"pending", "running", "stopping"})


class ServiceError(Exception):
    """The spawner service could not be reached or failed to do what was asked.

    Raised for 5xx answers, network errors and failed spawns: problems of the
    platform, which JupyterHub counts toward ``consecutive_failure_limit``.
    Rejections of the request itself (4xx) raise a ``SpawnException`` (JupyterHub
    6) or ``tornado.web.HTTPError`` instead.
    """

    # JupyterHub's REST API renders an error as ``log_message % args``
    # (APIHandler.write_error) and, without one, as a bare "Internal Server
    # Error": with this, the hub's API answers with the sentence too.
    log_message = "%s"


class Unreachable(ServiceError):
    """No answer from the spawner service: refused, reset or timed out.

    The service may be restarting; every request the shim sends may be sent
    again (a repeated create is the same spawn to the service), so callers
    ask again within their own deadline.
    """


# Answers that mean "ask again": the service rebuilding its state after a
# restart (503, with Retry-After), or a proxy in front of a restarting
# service (502, 504).
_ASK_AGAIN = frozenset({502, 503, 504})


# One HTTP client for the whole hub process's short requests (create,
# status, stop, the form); progress streams have clients of their own
# (stream_client). Its pool has no connection cap all the same: a capped
# pool deadlocked Nublado's hub once long requests took every connection
# (nublado CHANGELOG 8.4.1).
# One per CA file ("" for the system's roots): a hub has one service, so in
# practice one client.
_clients: dict[str, tuple[httpx.AsyncClient, asyncio.AbstractEventLoop]] = {}


def shared_client(ca_file: str = "") -> httpx.AsyncClient:
    """The process-wide client (a fresh one if the event loop changed, as in tests)."""
    loop = asyncio.get_running_loop()
    client, client_loop = _clients.get(ca_file, (None, None))
    if client is None or client.is_closed or client_loop is not loop:
        client = httpx.AsyncClient(
            verify=ssl_context(ca_file),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=50),
            follow_redirects=False,
            headers={"User-Agent": "kubedesk-spawner"},
        )
        _clients[ca_file] = (client, loop)
    return client


# Progress streams get a client of their own. Every pending spawn holds its
# stream open for as long as the spawn takes, and httpcore's pool walks all
# of its connections whenever a request starts or ends: with the streams in
# the shared pool, each of the hub's requests cost O(open streams) and a
# wave of N spawns O(N²) of the hub's only thread. The benchmark against
# KubeSpawner (docs/bench/kubespawner.md) found half of a saturated hub's
# time in that walk. A one-connection client per stream keeps the shared
# pool to short requests. The streams' clients share one SSL context per CA
# file: loading the CA bundle is what makes a new client cost (about 30 ms,
# 0.1 ms without).
_ssl_contexts: dict[str, ssl.SSLContext] = {}


def ssl_context(ca_file: str = "") -> ssl.SSLContext:
    """The context that checks the service's certificate: against ca_file
    alone when set (the CA of the service's own certificate), else against
    httpx's default roots. Made once per file."""
    ctx = _ssl_contexts.get(ca_file)
    if ctx is None:
        if ca_file:
            ctx = ssl.create_default_context(cafile=ca_file)
        else:
            ctx = httpx.create_ssl_context()
        _ssl_contexts[ca_file] = ctx
    return ctx


def stream_client(ca_file: str = "") -> httpx.AsyncClient:
    """A client for one long-lived stream; close it (async with) when the stream ends."""
    return httpx.AsyncClient(
        verify=ssl_context(ca_file),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=0),
        follow_redirects=False,
        headers={"User-Agent": "kubedesk-spawner"},
    )


# poll() is the hub's most frequent call: every running server, every
# poll_interval, and all of them at once when the hub starts. One HTTP GET
# per poll made polling 2000 servers every 3 s keep the hub's thread 100 %
# busy in the benchmark against KubeSpawner, whose poll() reads a local
# cache. So polls share a snapshot of the service's session list, fetched at
# most once per SNAPSHOT_MAX_AGE by whichever poll comes first. The snapshot
# is only trusted to say that a server is alive: a server it shows stopped,
# failed or not at all (stopped, or started after the snapshot) is asked
# about on its own, so a stale snapshot can never end a live server.
SNAPSHOT_MAX_AGE = 2.0


class _Snapshot:
    """The service's sessions as of one GET /api/v1/sessions."""

    def __init__(self) -> None:
        self.taken = float("-inf")
        self.alive: set[tuple[str, str]] = set()
        self.fetching: asyncio.Task[None] | None = None


_snapshots: dict[tuple[asyncio.AbstractEventLoop, str], _Snapshot] = {}


#: The service's code for a name that another user's objects hold (a home
#: volume, pod or Secret): a stop and a retry cannot help.
NAME_CONFLICT = "name_conflict"


def _certificate_error(e: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed under a transport error, if one did."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, ssl.SSLCertVerificationError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _error_body(response: httpx.Response) -> tuple[str, str]:
    """The service's ``{"code", "message"}`` error, or a stand-in for a foreign body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body.get("code") or ""), body["message"]
    text = response.text.strip()[:200]
    return "", text or response.reason_phrase or f"HTTP {response.status_code}"


def _is_service_404(response: httpx.Response) -> bool:
    """A 404 that the service itself sent (a JSON error), not a proxy's page.

    A 404 from a misrouted ``service_url`` must not make poll() report every
    server as stopped: that would orphan their pods.
    """
    if response.status_code != 404:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "code" in body


def _rejection(status: int, code: str, message: str) -> Exception:
    """The exception for a request the service rejected (4xx).

    JupyterHub 6 records a ``SpawnException`` or an ``HTTPError`` below 500 as
    a failure of the request, not an error of the hub, so it does not count
    toward ``consecutive_failure_limit``; JupyterHub 4 and 5 count every
    failure, but show the message to the user all the same.
    """
    if SpawnException is not None:
        return SpawnException(message, reason=code or "rejected", status_code=status)
    return web.HTTPError(status, "%s", message, reason=None)


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

    def _path(self, suffix: str = "") -> str:
        user = quote(self.user.name, safe="")
        if self.name:
            return f"{API_PREFIX}/users/{user}/servers/{quote(self.name, safe='')}{suffix}"
        return f"{API_PREFIX}/users/{user}/server{suffix}"

    def _url(self, path: str) -> str:
        return self.service_url.rstrip("/") + path

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.service_token}"}

    async def _request(
        self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send one request; network failures become a readable ServiceError."""
        url = self._url(path)
        try:
            return await shared_client(self.service_ca_file).request(
                method,
                url,
                headers=self._headers(),
                timeout=self.request_timeout if timeout is None else timeout,
                **kwargs,
            )
        except httpx.TimeoutException as e:
            raise Unreachable(
                f"The spawner service did not answer {method} {url} in time ({type(e).__name__})."
            ) from e
        except httpx.TransportError as e:
            untrusted = _certificate_error(e)
            if untrusted is not None:
                # Not a restart: asking again cannot help.
                raise ServiceError(
                    f"The spawner service at {self.service_url} presented a certificate"
                    f" this hub does not trust ({untrusted.verify_message}); set"
                    " KubedeskSpawner.service_ca_file to the CA that signed it."
                ) from e
            raise Unreachable(
                f"Could not reach the spawner service at {self.service_url}; it may be"
                f" restarting ({type(e).__name__}: {e!s})."
            ) from e
        except httpx.HTTPError as e:
            raise ServiceError(
                f"Could not talk to the spawner service at {self.service_url}: {e!s}"
                f" ({type(e).__name__})."
            ) from e

    async def _request_again(
        self, method: str, path: str, *, budget: float, ask_again=_ASK_AGAIN, **kwargs: Any
    ) -> httpx.Response:
        """_request, sent again while the service restarts, for up to budget seconds.

        Returns the last answer, or raises Unreachable, once the budget is
        spent. Every request of the shim is safe to repeat: a stop of a stopped
        server succeeds, and the same create is the same spawn to the service.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        delay = self.reconnect_delay_initial
        while True:
            try:
                response = await self._request(method, path, **kwargs)
                if response.status_code not in ask_again:
                    return response
                problem = f"HTTP {response.status_code}: {_error_body(response)[1]}"
                last: httpx.Response | Unreachable = response
            except Unreachable as e:
                problem, last = str(e), e
            if loop.time() + delay > deadline:
                if isinstance(last, Unreachable):
                    raise last
                return last
            self.log.info(
                "%s %s for %s: %s; asking again in %.1f s",
                method,
                path,
                self._log_name,
                problem,
                delay,
            )
            await asyncio.sleep(delay * (1 + random.random() / 10))
            delay = min(delay * 2, self.reconnect_delay_max)

    def _raise_for_answer(self, response: httpx.Response, action: str) -> None:
        """Raise for a non-2xx answer: 4xx rejections apart from platform faults."""
        status = response.status_code
        if status < 300:
            return
        code, message = _error_body(response)
        if status in (401, 403):
            raise ServiceError(
                f"The spawner service refused the hub's token (HTTP {status}):"
                f" {message}. Check KubedeskSpawner.service_token."
            )
        if 400 <= status < 500:
            raise _rejection(status, code, message)
        raise ServiceError(f"The spawner service failed to {action} (HTTP {status}): {message}")

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
        self._create_body = body = {
            "user_options": self.user_options or {},
            "env": {k: str(v) for k, v in self.get_env().items() if v is not None},
            # The service gives up a little before the hub does, so the hub
            # hears the real reason rather than its own timeout.
            "start_timeout": self.start_timeout,
        }
        display_name = getattr(self, "display_name", "")  # JupyterHub >= 6
        if display_name:
            body["display_name"] = display_name

        self._emit("Asking the spawner service for a server", PROGRESS_MIN)
        response = await self._create()
        code, message = _error_body(response) if response.status_code == 409 else ("", "")
        if response.status_code == 409 and code != NAME_CONFLICT:
            # A session exists or is changing. The hub has already issued new
            # credentials for this spawn, so it can't be reused: replace it.
            # (A name conflict is not this user's server: another user's
            # objects hold the name, and only an operator can resolve it, so
            # it is refused as it is.)
            self.log.info("Replacing existing server %s: %s", self._log_name, message)
            self._emit("Stopping the server left from an earlier start")
            await self.stop()
            response = await self._create()
        self._raise_for_answer(response, "start the server")
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
        return await self._request_again(
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
                async with (
                    stream_client(self.service_ca_file) as client,
                    client.stream(
                        "GET",
                        self._url(path),
                        headers={**self._headers(), "Accept": "text/event-stream"},
                        timeout=self.request_timeout,
                    ) as response,
                ):
                    if response.status_code == 404:
                        await response.aread()
                        if not _is_service_404(response):
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
                        problem = f"HTTP {response.status_code}: {_error_body(response)[1]}"
                    elif response.status_code != 200:
                        await response.aread()
                        self._raise_for_answer(response, "report progress")
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
            _error_body(response)[1],
        )
        return False

    async def _handle_event(self, event: str, data: str, seen: set[tuple[Any, str]]) -> str:
        """Act on one stream event; return the server URL once it is ready."""
        if event not in ("progress", "ready", "failed"):
            return ""
        try:
            payload = json.loads(data)
        except ValueError:
            self.log.warning("Ignoring malformed %s event for %s: %r", event, self._log_name, data)
            return ""
        if not isinstance(payload, dict):
            return ""
        message = str(payload.get("message") or "")
        if event == "failed":
            reason = payload.get("reason")
            detail = f" ({reason})" if reason else ""
            raise ServiceError(f"The server failed to start{detail}: {message}")
        if event == "ready":
            url = payload.get("url") or await self._session_url()
            if not url:
                raise ServiceError("The spawner service said the server is ready but gave no URL")
            return str(url)
        key = (payload.get("progress"), message)
        if key in seen or not message:
            return ""
        seen.add(key)
        progress = payload.get("progress")
        if isinstance(progress, (int, float)):
            span = PROGRESS_MAX - PROGRESS_MIN
            mapped = PROGRESS_MIN + round(span * min(max(progress, 0), 100) / 100)
            self._emit(message, mapped)
        else:
            self._emit(message)
        return ""

    async def _session_url(self) -> str:
        response = await self._request("GET", self._path())
        if response.status_code != 200:
            return ""
        session = response.json()
        return str(session.get("url") or "") if isinstance(session, dict) else ""

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
            response = await self._request_again("GET", self._path(), budget=self.restart_timeout)
        except ServiceError as e:
            self.log.warning("Could not poll %s, keeping the hub's view: %s", self._log_name, e)
            return None
        if _is_service_404(response):
            return 0
        if response.status_code != 200:
            self.log.warning(
                "Could not poll %s (HTTP %d: %s), keeping the hub's view",
                self._log_name,
                response.status_code,
                _error_body(response)[1],
            )
            return None
        try:
            session = response.json()
            status = session["status"]
        except (ValueError, KeyError, TypeError):
            self.log.warning("Malformed status of %s, keeping the hub's view", self._log_name)
            return None
        if status in _ALIVE:
            return None
        if status == "failed":
            return 1
        if status == "stopped":
            exit_code = session.get("exit_code")
            return exit_code if isinstance(exit_code, int) else 0
        self.log.warning("Unknown status %r of %s, keeping the hub's view", status, self._log_name)
        return None

    async def _alive_in_snapshot(self) -> bool:
        """Whether a recent snapshot of the service's sessions shows this server alive."""
        loop = asyncio.get_running_loop()
        snap = _snapshots.setdefault((loop, self.service_url), _Snapshot())
        if loop.time() - snap.taken > SNAPSHOT_MAX_AGE:
            if snap.fetching is None:
                snap.fetching = asyncio.ensure_future(self._take_snapshot(snap))
            # Shielded: one poll's cancellation must not cancel the others' fetch.
            await asyncio.shield(snap.fetching)
        return (self.user.name, self.name) in snap.alive

    async def _take_snapshot(self, snap: _Snapshot) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            response = await self._request("GET", f"{API_PREFIX}/sessions")
            sessions = response.json() if response.status_code == 200 else None
            if not isinstance(sessions, list):
                raise ValueError(f"HTTP {response.status_code}")
            snap.alive = {
                (str(x.get("user")), str(x.get("server") or ""))
                for x in sessions
                if isinstance(x, dict) and x.get("status") in _ALIVE
            }
        except (ServiceError, ValueError) as e:
            # Every poll then asks on its own, which reports its problem.
            self.log.debug("No snapshot of the service's sessions: %s", e)
            snap.alive = set()
        finally:
            snap.taken = started
            snap.fetching = None

    async def stop(self, now: bool = False) -> None:
        """Stop the server and wait until it is gone; stopping a stopped server is fine."""
        # A snapshot taken before the stop must not answer a poll after it.
        snap = _snapshots.get((asyncio.get_running_loop(), self.service_url))
        if snap is not None:
            snap.alive.discard((self.user.name, self.name))
        # Asked again while the service restarts, and on 504 (the pod is
        # still going): the hub must not record a stop that did not happen.
        response = await self._request_again(
            "DELETE", self._path(), budget=self.stop_timeout, timeout=self.stop_timeout
        )
        if response.status_code == 404 or response.status_code < 300:
            return
        self._raise_for_answer(response, "stop the server")
        raise ServiceError(f"Unexpected answer to stop: HTTP {response.status_code}")

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
            response = await self._request("GET", f"{API_PREFIX}/profiles/form")
        except ServiceError as e:
            raise web.HTTPError(503, "%s", str(e)) from e
        if response.status_code != 200:
            _, message = _error_body(response)
            raise web.HTTPError(
                503, "The spawner service did not send the options form: %s", message
            )
        return response.text.strip()

    def get_state(self) -> dict[str, Any]:
        # The service and Kubernetes hold the truth; keep only what the hub does.
        return super().get_state()

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)

    def clear_state(self) -> None:
        super().clear_state()
