"""Turning the spawn form's data into user_options, as KubeSpawner does."""

from __future__ import annotations

from typing import Any


def _unwrap(value: Any) -> Any:
    """Form values arrive as lists; a list of one becomes its only value."""
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return value[0]
        return list(value)
    return value


def options_from_form(formdata: dict[str, Any]) -> dict[str, Any]:
    """Convert the profile form's data into ``user_options``.

    The form (served by the spawner service) names its fields like
    KubeSpawner's: ``profile`` holds the chosen profile's slug, and each
    option of profile ``<slug>`` is ``profile-option-<slug>--<option>``, with
    a free-text ``profile-option-<slug>--<option>--unlisted-choice`` beside it
    when the profile allows unlisted values. Only the chosen profile's options
    are kept, without the prefix:

    >>> options_from_form({
    ...     "profile": ["gpu"],
    ...     "profile-option-gpu--image": ["jammy"],
    ...     "profile-option-gpu--image--unlisted-choice": ["me/img:1"],
    ...     "profile-option-cpu--image": ["focal"],
    ... })
    {'profile': 'gpu', 'image': 'jammy', 'image--unlisted-choice': 'me/img:1'}

    Data with no ``profile`` (an empty form) gives ``{}``: the service's
    default profile.
    """
    if "profile" not in formdata:
        return {}
    profile = _unwrap(formdata["profile"])
    if isinstance(profile, list):
        profile = profile[0] if profile else ""
    options: dict[str, Any] = {"profile": profile}
    prefix = f"profile-option-{profile}--"
    for key, value in formdata.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if not name:
            continue
        options[name] = _unwrap(value)
    return options
