"""Sessions kept in a signed cookie."""

from __future__ import annotations

from typing import Any


class Session(dict[str, Any]):
    """The session: a dict that remembers whether it was changed."""

    modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def clear(self) -> None:
        self.modified = True
        super().clear()

    def pop(self, key: str, *default: Any) -> Any:
        self.modified = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self.modified = True
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)
