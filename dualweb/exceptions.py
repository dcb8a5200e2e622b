"""HTTP errors that handlers raise to answer with a 4xx or 5xx status."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import NoReturn


class HTTPException(Exception):
    """Stop handling and answer with ``status_code``.

    ``detail`` becomes the plain-text body (the status phrase when omitted)
    and ``headers`` are added to the response. Error handlers registered for
    the status code or for this class can turn it into any other response.
    """

    def __init__(
        self,
        status_code: int,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not 400 <= status_code <= 599:
            raise ValueError(f"HTTPException needs a 4xx or 5xx status, not {status_code}")
        if detail is None:
            try:
                detail = HTTPStatus(status_code).phrase
            except ValueError:
                detail = "Error"
        super().__init__(status_code, detail)
        #: The response's status, 4xx or 5xx.
        self.status_code = status_code
        #: The response's plain-text body.
        self.detail = detail
        #: Headers added to the response.
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"

    def __repr__(self) -> str:
        return f"HTTPException({self.status_code!r}, {self.detail!r})"


def abort(
    status_code: int, detail: str | None = None, headers: Mapping[str, str] | None = None
) -> NoReturn:
    """Raise :class:`HTTPException`; a shorthand for use inside handlers."""
    raise HTTPException(status_code, detail, headers)
