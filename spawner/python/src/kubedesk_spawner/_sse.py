"""A minimal Server-Sent Events parser for the service's progress stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    """One event: its type (``message`` when the stream names none) and data."""

    event: str
    data: str


async def iter_events(lines: AsyncIterator[str]) -> AsyncIterator[ServerSentEvent]:
    """Turn the lines of a ``text/event-stream`` body into events.

    Follows the WHATWG rules that matter here: ``event:`` and ``data:``
    fields, multi-line data joined by newlines, comment lines (``:``) ignored,
    and an event dispatched at each blank line. An event cut off by the end of
    the stream is dropped, as a browser would.
    """
    event = ""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
