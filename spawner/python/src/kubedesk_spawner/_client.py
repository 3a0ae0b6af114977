"""The HTTP side of the shim: clients, TLS, timeouts and asking again.

- :func:`shared_client`: one client per CA file for the hub process's short
  requests (create, status, stop, the form), its pool uncapped;
- :func:`stream_client`: a one-connection client per progress stream, so
  streams stay out of the shared pool;
- :func:`ssl_context`: one SSL context per CA file, shared by all of them;
- :class:`ServiceClient`: one spawner's view of the service (URL, token, CA,
  timeouts): a request whose network failure is a readable
  :class:`ServiceError`, the same request sent again while the service
  restarts, a progress stream, and the exception for an answer that is not
  a success.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._errors import ServiceError, Unreachable, rejection
from ._models import ErrorBody

__all__ = [
    "ASK_AGAIN",
    "ServiceClient",
    "is_service_404",
    "raise_for_answer",
    "shared_client",
    "ssl_context",
    "stream_client",
]

API_PREFIX = "/api/v1"
USER_AGENT = "kubedesk-spawner"

# Answers that mean "ask again": the service rebuilding its state after a
# restart (503, with Retry-After), or a proxy in front of a restarting
# service (502, 504).
ASK_AGAIN = frozenset({502, 503, 504})

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
            headers={"User-Agent": USER_AGENT},
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
        headers={"User-Agent": USER_AGENT},
    )


def certificate_error(e: BaseException | None) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed under a transport error, if one did."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, ssl.SSLCertVerificationError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def is_service_404(response: httpx.Response) -> bool:
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


def raise_for_answer(response: httpx.Response, action: str) -> None:
    """Raise for a non-2xx answer: 4xx rejections apart from platform faults."""
    status = response.status_code
    if status < 300:
        return
    error = ErrorBody.from_response(response)
    if status in (401, 403):
        raise ServiceError(
            f"The spawner service refused the hub's token (HTTP {status}):"
            f" {error.message}. Check KubedeskSpawner.service_token."
        )
    if 400 <= status < 500:
        raise rejection(status, error.code, error.message)
    raise ServiceError(f"The spawner service failed to {action} (HTTP {status}): {error.message}")


@dataclass
class ServiceClient:
    """One spawner's requests to the service: where, with what token, how patiently.

    Cheap to make (the connections are the shared client's), so a spawner
    makes one from its traits whenever it asks.
    """

    #: The service's base URL, without /api/v1.
    base_url: str
    token: str
    #: PEM file of the CA the service's certificate must chain to; "" for the usual roots.
    ca_file: str = ""
    #: Seconds for one request, and the longest silence on a stream.
    timeout: float = 30.0
    #: Delays between attempts while the service restarts: doubling, plus up to 10 % jitter.
    retry_delay_initial: float = 0.5
    retry_delay_max: float = 10.0
    log: logging.Logger = field(default_factory=lambda: logging.getLogger(__name__))
    #: Whose requests these are, for the log ("alice's server").
    log_name: str = ""

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def request(
        self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send one request; network failures become a readable ServiceError."""
        url = self.url(path)
        try:
            return await shared_client(self.ca_file).request(
                method,
                url,
                headers=self.headers(),
                timeout=self.timeout if timeout is None else timeout,
                **kwargs,
            )
        except httpx.TimeoutException as e:
            raise Unreachable(
                f"The spawner service did not answer {method} {url} in time ({type(e).__name__})."
            ) from e
        except httpx.TransportError as e:
            untrusted = certificate_error(e)
            if untrusted is not None:
                # Not a restart: asking again cannot help.
                raise ServiceError(
                    f"The spawner service at {self.base_url} presented a certificate"
                    f" this hub does not trust ({untrusted.verify_message}); set"
                    " KubedeskSpawner.service_ca_file to the CA that signed it."
                ) from e
            raise Unreachable(
                f"Could not reach the spawner service at {self.base_url}; it may be"
                f" restarting ({type(e).__name__}: {e!s})."
            ) from e
        except httpx.HTTPError as e:
            raise ServiceError(
                f"Could not talk to the spawner service at {self.base_url}: {e!s}"
                f" ({type(e).__name__})."
            ) from e

    async def request_again(
        self,
        method: str,
        path: str,
        *,
        budget: float,
        ask_again: frozenset[int] = ASK_AGAIN,
        **kwargs: Any,
    ) -> httpx.Response:
        """request(), sent again while the service restarts, for up to budget seconds.

        Returns the last answer, or raises Unreachable, once the budget is
        spent. Every request of the shim is safe to repeat: a stop of a stopped
        server succeeds, and the same create is the same spawn to the service.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        delay = self.retry_delay_initial
        while True:
            try:
                response = await self.request(method, path, **kwargs)
                if response.status_code not in ask_again:
                    return response
                problem = (
                    f"HTTP {response.status_code}: {ErrorBody.from_response(response).message}"
                )
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
                self.log_name,
                problem,
                delay,
            )
            await asyncio.sleep(delay * (1 + random.random() / 10))
            delay = min(delay * 2, self.retry_delay_max)

    @asynccontextmanager
    async def stream(self, path: str) -> AsyncIterator[httpx.Response]:
        """GET a Server-Sent Events stream on a client of its own (see stream_client)."""
        async with (
            stream_client(self.ca_file) as client,
            client.stream(
                "GET",
                self.url(path),
                headers={**self.headers(), "Accept": "text/event-stream"},
                timeout=self.timeout,
            ) as response,
        ):
            yield response
