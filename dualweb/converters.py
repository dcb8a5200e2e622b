"""Path converters: how a ``{name:type}`` placeholder matches, converts and builds."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote


class Converter:
    """Base class for path converters.

    ``regex`` says which text a placeholder matches; ``to_python`` turns the
    matched text into the value passed to the handler (raising ValueError makes
    the route not match, so the client gets 404, never 500); ``to_url`` does
    the reverse for ``url_path_for``.
    """

    #: The regular expression a placeholder of this type matches (no groups).
    regex: ClassVar[str] = "[^/]+"
    #: Among placeholders at the same position, the more specific types are
    #: tried first (``int`` before ``str``), whatever the registration order.
    specific: ClassVar[bool] = True
    #: True for converters whose text may contain "/" (``path``): such a
    #: placeholder must be a whole, final segment and takes the rest of the path.
    spans_segments: ClassVar[bool] = False

    def to_python(self, value: str) -> Any:
        """The handler's argument for the matched text; ValueError: the route does not match."""
        return value

    def to_url(self, value: Any) -> str:
        """The path text for ``value``, percent-encoded (ValueError when it has none)."""
        return quote(str(value), safe="")


class StringConverter(Converter):
    """One non-empty path segment (the default)."""

    regex = "[^/]+"
    specific = False

    def to_url(self, value: Any) -> str:
        text = str(value)
        if not text or "/" in text:
            raise ValueError(f"a str path parameter must be non-empty without '/': {text!r}")
        return quote(text, safe="")


class IntegerConverter(Converter):
    """A non-negative decimal integer."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        number = int(value)
        if number < 0:
            raise ValueError(f"an int path parameter must not be negative: {number}")
        return str(number)


class FloatConverter(Converter):
    """A non-negative decimal number, with or without a fraction."""

    regex = r"[0-9]+(?:\.[0-9]+)?"

    def to_python(self, value: str) -> float:
        return float(value)

    def to_url(self, value: Any) -> str:
        number = float(value)
        if number < 0 or number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"a float path parameter must be finite and >= 0: {number}")
        # Positional notation, which the regex matches: repr() gives 1e+16,
        # 1e-05 and -0.0, whose paths would not match the route. The digits
        # are repr()'s, so the path converts back to the same float.
        return format(Decimal(repr(number + 0.0)), "f")


class PathConverter(Converter):
    """The rest of the path, slashes included (only as the last placeholder)."""

    regex = ".*"
    specific = False
    spans_segments = True

    def to_url(self, value: Any) -> str:
        return quote(str(value), safe="/")


class UUIDConverter(Converter):
    """A UUID in its canonical 8-4-4-4-12 hexadecimal form."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: Any) -> str:
        return str(uuid.UUID(str(value)))


DEFAULT_CONVERTERS: dict[str, type[Converter]] = {
    "str": StringConverter,
    "int": IntegerConverter,
    "float": FloatConverter,
    "path": PathConverter,
    "uuid": UUIDConverter,
}
