"""Adding a field name to a response's ``Vary`` header (RFC 9110 §12.5.5)."""

from __future__ import annotations

from ..responses import Response


def add_vary(response: Response, name: str) -> None:
    """Make ``Vary`` list ``name`` once, keeping what it already lists.

    ``Vary: *`` already says the response varies on everything, so it is
    left as it is.
    """
    values = response.headers.getlist("vary")
    listed = {item.strip().lower() for value in values for item in value.split(",")}
    if name.lower() in listed or "*" in listed:
        return
    existing = ", ".join(value.strip() for value in values if value.strip())
    response.headers["Vary"] = f"{existing}, {name}" if existing else name
