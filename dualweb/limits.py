"""Request limits: their names, safe defaults, and how a route overrides them.

Every limit is a keyword argument of :class:`~dualweb.App` and of the route
decorators; ``None`` means "no limit". A route's value wins over the App's.
"""

from __future__ import annotations

from collections.abc import Mapping

KiB = 1024
MiB = 1024 * KiB

#: The limits and their defaults, in bytes or counts.
DEFAULT_LIMITS: dict[str, int | None] = {
    # Any body, however it is read: body(), json(), form(), stream(), uploads.
    "max_body_size": 1 * MiB,
    # Fields of a form (url-encoded or multipart), files not counted.
    "max_form_fields": 1000,
    # Uploaded files in one multipart body.
    "max_form_files": 100,
    # One non-file field's value (url-encoded or multipart).
    "max_field_size": 1 * MiB,
    # One uploaded file (the body limit applies too).
    "max_file_size": None,
    # One header line of a multipart part (Content-Disposition and friends).
    "max_part_header_size": 8 * KiB,
    # One WebSocket message (larger ones close the connection with 1009).
    "max_message_size": 1 * MiB,
}

LIMIT_NAMES = frozenset(DEFAULT_LIMITS)


def check_limits(limits: Mapping[str, object]) -> dict[str, int | None]:
    """Validate limit keyword arguments: known names, None or a non-negative int."""
    checked: dict[str, int | None] = {}
    for name, value in limits.items():
        if name not in LIMIT_NAMES:
            known = ", ".join(sorted(LIMIT_NAMES))
            raise TypeError(f"unknown limit {name!r} (known: {known})")
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
        if value is not None and value < 0:
            raise ValueError(f"{name} must not be negative")
        checked[name] = value
    return checked
