"""The service's documents (``spawner/internal/api/openapi.yaml``), typed.

Each answer the shim reads is parsed here, once, into a frozen dataclass;
what cannot be read (not JSON, not an object, a required field missing, a
field of the wrong type) raises :class:`MalformedAnswer`, a
:class:`ServiceError` whose message says what was wrong, and never a
``KeyError`` or ``TypeError``. Fields the shim does not use are ignored, so
a newer service may add some; a ``null`` counts as absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from ._errors import MalformedAnswer

__all__ = [
    "ALIVE",
    "NAME_CONFLICT",
    "CreateRequest",
    "ErrorBody",
    "ProgressEvent",
    "Session",
    "decode",
    "sessions_from_json",
]

#: Session statuses (Session.status) that poll() reports as running.
ALIVE = frozenset({"pending", "running", "stopping"})

#: The service's code for a name that another user's objects hold (a home
#: volume, pod or Secret): a stop and a retry cannot help.
NAME_CONFLICT = "name_conflict"


def _kind(value: Any) -> str:
    """What a JSON value is, for a message: "a string", "a list", "null", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _excerpt(text: str) -> str:
    text = text.strip()
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def decode(text: str, what: str) -> Any:
    """The JSON value of an answer's body, which should be ``what`` ("a session", ...)."""
    try:
        return json.loads(text)
    except ValueError:
        raise MalformedAnswer(
            f"The spawner service sent {what} that is not JSON: {_excerpt(text)}"
        ) from None


class _Fields:
    """Typed reads of one JSON object's fields, with messages that name it."""

    def __init__(self, doc: Any, what: str) -> None:
        if not isinstance(doc, dict):
            raise MalformedAnswer(
                f"The spawner service sent {what} that is {_kind(doc)}, not an object"
            )
        self.doc, self.what = doc, what

    def _wrong(self, key: str, value: Any, want: str) -> MalformedAnswer:
        return MalformedAnswer(
            f"The spawner service sent {self.what} whose {key!r} is {_kind(value)}, not {want}"
        )

    def string(self, key: str, *, required: bool = False) -> str:
        value = self.doc.get(key)
        if value is None:
            if required:
                raise MalformedAnswer(f"The spawner service sent {self.what} without {key!r}")
            return ""
        if not isinstance(value, str):
            raise self._wrong(key, value, "a string")
        return value

    def integer(self, key: str) -> int | None:
        value = self.doc.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, value, "an integer")
        return value

    def number(self, key: str) -> int | float | None:
        value = self.doc.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._wrong(key, value, "a number")
        return value


@dataclass(frozen=True)
class ErrorBody:
    """An error answer: the service's ``{"code", "message"}``, or a stand-in.

    Unlike the other documents an error is never refused: a proxy's HTML
    page or an empty body still makes a message (an excerpt, the reason
    phrase, or the status), with code "".
    """

    code: str
    message: str

    @classmethod
    def from_response(cls, response: httpx.Response) -> ErrorBody:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return cls(str(body.get("code") or ""), body["message"])
        text = response.text.strip()[:200]
        return cls("", text or response.reason_phrase or f"HTTP {response.status_code}")


@dataclass(frozen=True)
class Session:
    """A user's server as the service knows it (Session).

    ``user`` and ``status`` are required; ``server`` is "" for the default
    server. A status this shim does not know is kept as it is: poll() then
    keeps the hub's view.
    """

    user: str
    server: str
    status: str
    url: str = ""
    message: str = ""
    reason: str = ""
    exit_code: int | None = None

    @property
    def alive(self) -> bool:
        """Pending, running or stopping: what poll() reports as running."""
        return self.status in ALIVE

    @classmethod
    def from_json(cls, doc: Any, what: str = "a session") -> Session:
        f = _Fields(doc, what)
        return cls(
            user=f.string("user", required=True),
            server=f.string("server"),
            status=f.string("status", required=True),
            url=f.string("url"),
            message=f.string("message"),
            reason=f.string("reason"),
            exit_code=f.integer("exit_code"),
        )

    @classmethod
    def from_text(cls, text: str) -> Session:
        return cls.from_json(decode(text, "a session"))


def sessions_from_json(doc: Any) -> list[Session]:
    """The answer of ``GET /sessions``: a list of sessions, each of which must read."""
    if not isinstance(doc, list):
        raise MalformedAnswer(
            f"The spawner service sent a list of sessions that is {_kind(doc)}, not a list"
        )
    return [
        Session.from_json(item, f"a session (item {i} of the list)") for i, item in enumerate(doc)
    ]


@dataclass(frozen=True)
class ProgressEvent:
    """The data of one event of a progress stream (ProgressEvent).

    ``progress`` is the service's 0-100 when it gives one; ``url`` comes with
    ``ready``, ``reason`` with ``failed``.
    """

    message: str = ""
    progress: int | float | None = None
    url: str = ""
    reason: str = ""

    @classmethod
    def from_data(cls, event: str, data: str) -> ProgressEvent:
        """Parse the ``data:`` of a ``progress``, ``ready`` or ``failed`` event."""
        f = _Fields(decode(data, f"a {event} event"), f"a {event} event")
        return cls(
            message=f.string("message"),
            progress=f.number("progress"),
            url=f.string("url"),
            reason=f.string("reason"),
        )


@dataclass(frozen=True)
class CreateRequest:
    """The body of a create (CreateRequest): what the hub asks to start.

    The service takes the same body sent again for the same start (the env
    holds a token minted for this one), so it is built once per start and
    sent as it is every time.
    """

    user_options: dict[str, Any]
    env: dict[str, str]
    #: The hub's Spawner.start_timeout, as the hub has it (an int).
    start_timeout: int | float
    display_name: str = ""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "user_options": self.user_options,
            "env": self.env,
            "start_timeout": self.start_timeout,
        }
        if self.display_name:
            body["display_name"] = self.display_name
        return body
