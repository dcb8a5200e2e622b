"""Form bodies: the parsed form object and the url-encoded parser.

Multipart bodies are parsed in ``_multipart``; both kinds give a
:class:`FormData`.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote

from .datastructures import MultiDict
from .exceptions import HTTPException
from .uploads import UploadFile


class FormFiles(MultiDict[UploadFile]):
    """The files of a multipart form, by field name (immutable).

    ``files[name]`` and ``files.get(name)`` give the *first* file sent under
    a name; ``files.getlist(name)`` gives all of them in order.
    """

    __slots__ = ()


class FormData(MultiDict[str]):
    """Fields of a submitted form: ``form["name"]``, ``form.get``, ``form.getlist``.

    The values are str. Uploaded files (multipart bodies) are kept apart in
    ``form.files``, a :class:`FormFiles`.
    """

    __slots__ = ("files",)

    def __init__(
        self, fields: Iterable[tuple[str, str]] = (), files: FormFiles | None = None
    ) -> None:
        super().__init__(fields)
        #: The uploaded files (empty for a url-encoded form).
        self.files = files if files is not None else FormFiles()


def too_many_fields(max_fields: int, what: str = "form body") -> HTTPException:
    return HTTPException(413, f"Too many fields in {what} (max_form_fields={max_fields})")


def field_too_large(max_field_size: int) -> HTTPException:
    return HTTPException(
        413, f"A form field is larger than max_field_size ({max_field_size} bytes)"
    )


def parse_urlencoded(
    text: str, *, max_fields: int | None, what: str, max_field_size: int | None = None
) -> list[tuple[str, str]]:
    """Split ``a=1&b=x%20y`` into decoded pairs; 400 on undecodable input.

    Fields without ``%`` or ``+`` skip the unquoting, which is most of the cost
    of ``urllib.parse.parse_qsl``. ``text`` holds the raw bytes as latin-1
    (the WSGI convention); after unquoting they must be valid UTF-8.
    ``max_field_size`` caps each decoded value, in UTF-8 bytes.
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
            raise too_many_fields(max_fields, what)
        name, _, value = field.partition("=")
        if "%" in field or "+" in field:
            try:
                name = unquote(name.replace("+", " "), errors="strict")
                value = unquote(value.replace("+", " "), errors="strict")
            except UnicodeDecodeError:
                raise HTTPException(400, f"Malformed {what}: not valid UTF-8") from None
        # A str never has more characters than its UTF-8 bytes: the encode
        # is only needed for non-ASCII values.
        if max_field_size is not None and (
            len(value) > max_field_size
            or (not value.isascii() and len(value.encode()) > max_field_size)
        ):
            raise field_too_large(max_field_size)
        pairs.append((name, value))
    return pairs
