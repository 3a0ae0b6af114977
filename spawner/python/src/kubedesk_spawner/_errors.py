"""The shim's exceptions, and the one it raises for a request the service refused.

Two kinds of failure reach JupyterHub from ``start()``:

- problems of the platform (the service unreachable, failing, or answering
  what the shim cannot read): :class:`ServiceError` and its subclasses, which
  the hub counts toward ``consecutive_failure_limit``;
- requests the service refused (4xx): :func:`rejection`, a
  ``SpawnException`` on JupyterHub 6, else a ``tornado.web.HTTPError``.
"""

from __future__ import annotations

from tornado import web

try:  # JupyterHub >= 6
    from jupyterhub.spawner import SpawnException
except ImportError:  # JupyterHub 4 and 5
    SpawnException = None

__all__ = ["MalformedAnswer", "ServiceError", "Unreachable", "rejection"]


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


class MalformedAnswer(ServiceError):
    """The service answered with a document the shim cannot read.

    A session, a progress event or a list of sessions that is not JSON, not
    an object (or list), lacks a required field or has one of the wrong type:
    the message names what and where, instead of a ``KeyError`` or
    ``TypeError`` from deep inside the shim.
    """


def rejection(status: int, code: str, message: str) -> Exception:
    """The exception for a request the service rejected (4xx).

    JupyterHub 6 records a ``SpawnException`` or an ``HTTPError`` below 500 as
    a failure of the request, not an error of the hub, so it does not count
    toward ``consecutive_failure_limit``; JupyterHub 4 and 5 count every
    failure, but show the message to the user all the same.
    """
    if SpawnException is not None:
        return SpawnException(message, reason=code or "rejected", status_code=status)
    return web.HTTPError(status, "%s", message, reason=None)
