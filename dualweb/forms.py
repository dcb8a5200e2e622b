"""Form bodies: the parsed form object and the url-encoded parser."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from .datastructures import MultiDict
from .exceptions import HTTPException


class FormData(MultiDict):
    """Fields of a submitted form: ``form["name"]``, ``form.get``, ``form.getlist``.

    Uploaded files (multipart bodies) are kept apart in ``form.files``.
    """

    __slots__ = ("files",)

    def __init__(
        self, fields: Iterable[tuple[str, str]] = (), files: MultiDict | None = None
    ) -> None:
        super().__init__(fields)
        self.files: MultiDict | Any = files if files is not None else MultiDict()


def parse_urlencoded(text: str, *, max_fields: int | None, what: str) -> list[tuple[str, str]]:
    """Split ``a=1&b=x%20y`` into decoded pairs; 400 on undecodable input.

    Fields without ``%`` or ``+`` skip the unquoting, which is most of the cost
    of ``urllib.parse.parse_qsl``. ``text`` holds the raw bytes as latin-1
    (the WSGI convention); after unquoting they must be valid UTF-8.
    """
    if not text:
        return []
    if not text.isascii():
        try:
            text = text.encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise HTTPException(400, f"Malformed {what}: not valid UTF-8") from None
    pairs: list[tuple[str, str]] = []
    for field in text.split("&"):
        if not field:
            continue
        if max_fields is not None and len(pairs) >= max_fields:
            raise HTTPException(413, f"Too many fields in {what} (max_form_fields={max_fields})")
        name, _, value = field.partition("=")
        if "%" in field or "+" in field:
            try:
                name = unquote(name.replace("+", " "), errors="strict")
                value = unquote(value.replace("+", " "), errors="strict")
            except UnicodeDecodeError:
                raise HTTPException(400, f"Malformed {what}: not valid UTF-8") from None
        pairs.append((name, value))
    return pairs
