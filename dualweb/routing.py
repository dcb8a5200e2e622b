"""Routes and the router: path patterns, matching, and reverse routing.

Matching never scans the route list. Paths without placeholders are found by
one dict lookup; the others live in a tree with one level per path segment,
so a lookup costs a few dict probes per segment whatever the number of routes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from asgiref.sync import iscoroutinefunction

from .converters import DEFAULT_CONVERTERS, Converter
from .exceptions import HTTPException
from .limits import check_limits

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_][A-Za-z0-9_]*))?\}")
_NO_MATCH: Any = object()

#: Routes registered with these methods answer HEAD and OPTIONS for free.
_AUTOMATIC_HEAD_FROM = "GET"
#: The method of a route that takes every method (a mount); used only when
#: no route of the path takes the request's method itself.
ANY_METHOD = "*"


class Route:
    """One path pattern bound to a handler for a set of methods."""

    __slots__ = (
        "endpoint",
        "inline",
        "is_async",
        "limits",
        "methods",
        "mount",
        "name",
        "needs_loop",
        "param_names",
        "parts",
        "path",
        "threaded",
    )

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Iterable[str],
        name: str | None = None,
        inline: bool | None = None,
        limits: Mapping[str, int | None] | None = None,
        converters: Mapping[str, type[Converter]] = DEFAULT_CONVERTERS,
    ) -> None:
        #: The path pattern, as registered (``/users/{user_id:int}``).
        self.path = path
        #: The handler.
        self.endpoint = endpoint
        #: The methods it answers, upper-case (a GET route answers HEAD too).
        self.methods = frozenset(method.upper() for method in methods)
        if not self.methods:
            raise ValueError(f"route {path!r} needs at least one method")
        #: The name ``url_path_for`` knows it by.
        self.name = name if name is not None else getattr(endpoint, "__name__", path)
        self.is_async = iscoroutinefunction(endpoint)
        #: Whether serving it under WSGI needs an event loop (a mount of a
        #: dualweb App is async under ASGI but never suspends under WSGI).
        self.needs_loop = self.is_async
        #: The :class:`~dualweb.mounts.Mount` this route serves, if any.
        self.mount: Any = None
        #: None means "as the App says".
        self.inline = inline
        #: Limits this route sets for itself (see ``dualweb.limits``); the
        #: App's apply to the others.
        self.limits: dict[str, int | None] = check_limits(limits or {})
        #: For sync endpoints, the endpoint wrapped to run in the App's thread pool.
        self.threaded: Callable[..., Any] | None = None
        self.parts = _parse_pattern(path, converters)
        self.param_names = tuple(part[0] for part in self.parts if isinstance(part, tuple))

    def url_path(self, params: Mapping[str, Any]) -> str:
        """Build this route's path from parameter values (reverse routing)."""
        missing = set(self.param_names) - set(params)
        extra = set(params) - set(self.param_names)
        if missing or extra:
            raise ValueError(
                f"route {self.name!r} ({self.path}) takes parameters "
                f"{sorted(self.param_names)}, got {sorted(params)}"
            )
        pieces: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(part)
            else:
                name, converter = part
                pieces.append(converter.to_url(params[name]))
        return "".join(pieces)

    def __repr__(self) -> str:
        methods = ",".join(sorted(self.methods))
        return f"<Route {methods} {self.path} name={self.name!r}>"


_Part = str | tuple[str, Converter]


def _parse_pattern(path: str, converters: Mapping[str, type[Converter]]) -> list[_Part]:
    """Split a pattern into literal text and (name, converter) placeholders."""
    if not path.startswith("/"):
        raise ValueError(f"route path must start with '/': {path!r}")
    parts: list[_Part] = []
    seen: set[str] = set()
    position = 0
    for match in _PLACEHOLDER.finditer(path):
        literal = path[position : match.start()]
        _check_literal(path, literal)
        if literal:
            parts.append(literal)
        name, type_name = match.group(1), match.group(2) or "str"
        if name in seen:
            raise ValueError(f"route {path!r} uses the parameter {name!r} twice")
        seen.add(name)
        converter_class = converters.get(type_name)
        if converter_class is None:
            raise ValueError(f"route {path!r} uses the unknown converter {type_name!r}")
        parts.append((name, converter_class()))
        position = match.end()
    tail = path[position:]
    _check_literal(path, tail)
    if tail:
        parts.append(tail)
    return parts


def _check_literal(path: str, literal: str) -> None:
    if "{" in literal or "}" in literal:
        raise ValueError(f"route {path!r} has a malformed placeholder")


class _Segment:
    """A path segment with placeholders, matched as a whole.

    ``{id:int}`` alone is the common case; ``{name}.{ext}`` or ``v{n:int}``
    mixes literal text in and is matched through one anchored regex.
    """

    __slots__ = ("converters", "key", "match", "names", "rank", "whole")

    def __init__(self, parts: list[_Part]) -> None:
        regex: list[str] = []
        self.names: list[str] = []
        self.converters: list[Converter] = []
        for part in parts:
            if isinstance(part, str):
                regex.append(re.escape(part))
            else:
                name, converter = part
                regex.append(f"(?P<{name}>{converter.regex})")
                self.names.append(name)
                self.converters.append(converter)
        pattern = "".join(regex)
        #: The converter when the segment is one placeholder and nothing else.
        self.whole = self.converters[0] if len(parts) == 1 else None
        if self.whole is not None:
            pattern = f"(?:{self.whole.regex})"
        self.key = (pattern, tuple(type(c) for c in self.converters))
        self.match = re.compile(pattern).fullmatch
        literal_only = len(parts) > len(self.names)
        specific = all(c.specific for c in self.converters)
        # Mixed segments first, then typed placeholders, then plain str.
        self.rank = 0 if literal_only else (1 if specific else 2)

    def convert(self, segment: str) -> dict[str, Any] | None:
        if self.whole is not None:
            # The common case, ``{id:int}`` alone: no groups to pick apart.
            if self.match(segment) is None:
                return None
            try:
                return {self.names[0]: self.whole.to_python(segment)}
            except ValueError:
                return None
        found = self.match(segment)
        if found is None:
            return None
        values: dict[str, Any] = {}
        try:
            for name, converter in zip(self.names, self.converters, strict=True):
                values[name] = converter.to_python(found.group(name))
        except ValueError:
            return None
        return values


class _Node:
    __slots__ = ("methods", "rest", "segments", "static")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.segments: list[tuple[_Segment, _Node]] = []
        # ``{name:path}`` placeholders that swallow the rest of the path.
        self.rest: list[tuple[str, Converter, Callable[[str], object], dict[str, Route]]] = []
        self.methods: dict[str, Route] | None = None


class Router:
    """Finds the route for a method and path, and builds paths from route names."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._static: dict[str, dict[str, Route]] = {}
        self._root = _Node()
        self._by_name: dict[str, Route] = {}

    def add(self, route: Route) -> None:
        """Register ``route``; conflicting registrations fail here, not per request."""
        named = _has_name(route)
        known = self._by_name.get(route.name) if named else None
        if known is not None and known.endpoint is not route.endpoint:
            raise ValueError(
                f"route name {route.name!r} is already used by {known.path!r}; "
                f"pass name= to register {route.path!r}"
            )
        if not route.param_names:
            methods = self._static.setdefault(route.path, {})
        else:
            methods = self._node_methods(route)
        self._bind_methods(route, methods)
        self.routes.append(route)
        if named:
            self._by_name.setdefault(route.name, route)

    def _node_methods(self, route: Route) -> dict[str, Route]:
        segments = _split_parts(route)
        node = self._root
        for index, segment in enumerate(segments):
            placeholders = [p for p in segment if isinstance(p, tuple)]
            if not placeholders:
                literal = "".join(p for p in segment if isinstance(p, str))
                node = node.static.setdefault(literal, _Node())
                continue
            if any(c.spans_segments for _, c in placeholders):
                if len(segment) != 1 or index != len(segments) - 1:
                    raise ValueError(
                        f"route {route.path!r}: a path placeholder must be a whole, final segment"
                    )
                name, converter = placeholders[0]
                for rest_name, rest_converter, _, methods in node.rest:
                    if type(rest_converter) is type(converter):
                        if rest_name != name:
                            raise ValueError(
                                f"route {route.path!r} repeats an existing pattern with "
                                f"another parameter name ({rest_name})"
                            )
                        return methods
                methods = {}
                fullmatch = re.compile(converter.regex, re.DOTALL).fullmatch
                node.rest.append((name, converter, fullmatch, methods))
                return methods
            compiled = _Segment(segment)
            for existing, child in node.segments:
                if existing.key == compiled.key:
                    if existing.names != compiled.names:
                        # The first would always win: the second could never match.
                        raise ValueError(
                            f"route {route.path!r} repeats an existing pattern with other "
                            f"parameter names ({', '.join(existing.names)})"
                        )
                    node = child
                    break
            else:
                child = _Node()
                node.segments.append((compiled, child))
                node.segments.sort(key=lambda pair: pair[0].rank)
                node = child
        if node.methods is None:
            node.methods = {}
        return node.methods

    def _bind_methods(self, route: Route, methods: dict[str, Route]) -> None:
        for method in route.methods:
            existing = methods.get(method)
            # A GET route answers HEAD implicitly; an explicit HEAD route may replace that.
            if existing is not None and not (method == "HEAD" and "HEAD" not in existing.methods):
                raise ValueError(
                    f"duplicate route: {method} {route.path} is already handled by "
                    f"{existing.name!r}"
                )
        for method in route.methods:  # only once all are known to be free
            methods[method] = route
        if _AUTOMATIC_HEAD_FROM in route.methods and "HEAD" not in methods:
            methods["HEAD"] = route

    def match(self, method: str, path: str) -> tuple[Route, dict[str, Any]]:
        """Return the route and converted parameters for a request.

        Raises HTTPException 404 when no pattern matches the path, and 405 (with
        an ``Allow`` header) when patterns match but none takes the method.
        """
        methods = self._static.get(path)
        if methods is not None:
            route = methods.get(method) or methods.get(ANY_METHOD)
            if route is not None:
                return route, {}
        allowed: set[str] = set()
        if methods is not None:
            allowed.update(methods)
        params: dict[str, Any] = {}
        route = _match_node(self._root, path.split("/"), 1, method, params, allowed)
        if route is not None:
            return route, params
        if allowed:
            raise MethodNotAllowed(allowed)
        raise HTTPException(404)

    def allowed_methods(self, path: str) -> set[str]:
        """Every method some route takes for ``path`` (empty when none matches)."""
        allowed: set[str] = set(self._static.get(path, ()))
        _match_node(self._root, path.split("/"), 1, "", {}, allowed)
        return allowed

    def url_path_for(self, name: str, params: Mapping[str, Any]) -> str:
        route = self._by_name.get(name)
        if route is None:
            raise LookupError(f"no route is named {name!r}")
        return route.url_path(params)


class MethodNotAllowed(HTTPException):
    """405, with the ``Allow`` header RFC 9110 §15.5.6 requires."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = allow_header(allowed)
        super().__init__(405, headers={"Allow": self.allowed})


def _has_name(route: Route) -> bool:
    # Lambdas and internal routes ("<mount /legacy>") have no name to look them up by.
    return not route.name.startswith("<")


def allow_header(methods: Iterable[str]) -> str:
    return ", ".join(sorted({*methods, "OPTIONS"}))


def _split_parts(route: Route) -> list[list[_Part]]:
    """Regroup a parsed pattern into per-segment lists (dropping the leading '/')."""
    segments: list[list[_Part]] = [[]]
    for part in route.parts:
        if isinstance(part, tuple):
            segments[-1].append(part)
            continue
        pieces = part.split("/")
        for index, piece in enumerate(pieces):
            if index:
                segments.append([])
            if piece:
                segments[-1].append(piece)
    return segments[1:]


def _match_node(
    node: _Node,
    segments: list[str],
    index: int,
    method: str,
    params: dict[str, Any],
    allowed: set[str],
) -> Route | None:
    """Depth-first match with backtracking: literal child, then placeholders, then rest."""
    if index == len(segments):
        if node.methods:
            route = node.methods.get(method) or node.methods.get(ANY_METHOD)
            if route is not None and method:
                return route
            allowed.update(node.methods)
        return None
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        route = _match_node(child, segments, index + 1, method, params, allowed)
        if route is not None:
            return route
    if segment:
        for compiled, child in node.segments:
            values = compiled.convert(segment)
            if values is None:
                continue
            params.update(values)
            route = _match_node(child, segments, index + 1, method, params, allowed)
            if route is not None:
                return route
            for name in values:
                del params[name]
    for name, converter, fullmatch, methods in node.rest:
        rest = "/".join(segments[index:])
        if fullmatch(rest) is None:
            continue
        try:
            value = converter.to_python(rest)
        except ValueError:
            continue
        route = methods.get(method) or methods.get(ANY_METHOD)
        if route is not None and method:
            params[name] = value
            return route
        allowed.update(methods)
    return None
