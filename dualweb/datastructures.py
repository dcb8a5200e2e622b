"""Immutable multi-valued mappings shared by requests and responses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, NamedTuple, TypeVar, overload

_T = TypeVar("_T")
_V = TypeVar("_V")


class Address(NamedTuple):
    """A peer's network address, as reported by the server."""

    host: str
    port: int | None


class MultiDict(Mapping[str, _V], Generic[_V]):
    """An immutable mapping of str keys to one or more values (str, unless said otherwise).

    ``md[key]`` and ``md.get(key)`` give the *first* value sent for a key (as
    Werkzeug and Django do); ``md.getlist(key)`` gives all of them in order.
    """

    __slots__ = ("_first", "_items", "_lists")

    def __init__(self, items: Iterable[tuple[str, _V]] = ()) -> None:
        self._items = list(items)
        # dict() keeps each key where it first appears, with its last value:
        # right as it is when no key repeats, the common case, and built in C.
        first = dict(self._items)
        #: Every value per key, only when some key repeats.
        self._lists: dict[str, list[_V]] | None = None
        if len(first) != len(self._items):
            lists: dict[str, list[_V]] = {}
            for key, value in self._items:
                if key in lists:
                    lists[key].append(value)
                else:
                    lists[key] = [value]
            first = {key: values[0] for key, values in lists.items()}
            self._lists = lists
        self._first = first

    def __getitem__(self, key: str) -> _V:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def __contains__(self, key: object) -> bool:
        return key in self._first

    def getlist(self, key: str) -> list[_V]:
        """All values sent for ``key``, in order; empty when there are none."""
        if self._lists is not None:
            return list(self._lists.get(key, ()))
        return [self._first[key]] if key in self._first else []

    def multi_items(self) -> list[tuple[str, _V]]:
        """Every (key, value) pair as received, repeated keys included."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict):
            return self._items == other._items
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class QueryParams(MultiDict[str]):
    """The decoded query string of a request."""

    __slots__ = ()


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued HTTP headers (immutable).

    ``headers[name]`` and ``headers.get(name)`` give every value received for
    the name joined with ``","``, which is how RFC 9110 §5.3 lets repeated
    fields combine and how WSGI servers (gunicorn, granian, wsgiref) present
    them in ``environ``, so the same request gives the same value under both
    interfaces. ``headers.getlist(name)`` gives the values as the server
    delivered them: separate under ASGI, already joined under WSGI.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = [(name.lower(), value) for name, value in items]
        self._index: dict[str, str] | None = None

    def _build_index(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for name, value in self._items:
            if name in index:
                index[name] = f"{index[name]},{value}"
            else:
                index[name] = value
        self._index = index
        return index

    def __getitem__(self, name: str) -> str:
        index = self._index if self._index is not None else self._build_index()
        return index[name.lower()]

    @overload
    def get(self, name: str, /) -> str | None: ...
    @overload
    def get(self, name: str, /, default: str | _T) -> str | _T: ...
    def get(self, name: str, /, default: object = None) -> object:
        """Every value of header ``name`` (any case) joined with ``","``; else ``default``."""
        index = self._index if self._index is not None else self._build_index()
        return index.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        index = self._index if self._index is not None else self._build_index()
        return name.lower() in index

    def __iter__(self) -> Iterator[str]:
        index = self._index if self._index is not None else self._build_index()
        return iter(index)

    def __len__(self) -> int:
        index = self._index if self._index is not None else self._build_index()
        return len(index)

    def getlist(self, name: str) -> list[str]:
        """Every value received for ``name``, in order."""
        name = name.lower()
        return [value for key, value in self._items if key == name]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (lower-cased name, value) pair, repeated names included."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted(self._items) == sorted(other._items)
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
