"""A griffe extension for the API reference: Sphinx's docstring conventions in Markdown.

dualweb's docstrings follow two conventions of Sphinx that Markdown lacks:

- roles (``:class:`Request```, ``:meth:`~dualweb.App.mount```) become
  cross-references: a link to the object's entry when the reference shows
  it, plain code otherwise. They are *optional* cross-references, so a role
  naming a private helper is not a broken link for ``mkdocs build --strict``.
- ``#:`` comment lines right above an assignment (how the attributes set in
  ``__init__`` are documented) become that attribute's docstring, so the
  reference lists them.

mkdocs.yml loads this file (mkdocstrings' ``extensions`` option); it is not a
page (``exclude_docs``).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterator
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:class|meth|func|attr|mod|exc|data|obj):`(?P<short>~?)(?P<target>[A-Za-z_][\w.]*)`"
)


class SphinxConventions(griffe.Extension):
    """Rewrites the docstrings of a package once griffe has loaded all of it."""

    def on_package(
        self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any
    ) -> None:
        # Once the whole package is loaded, so that names imported from a sibling
        # module resolve.
        for obj in _objects(pkg):
            if obj.docstring is None and isinstance(obj, griffe.Attribute):
                obj.docstring = _comment_docstring(obj, loader)
            if obj.docstring is not None:
                obj.docstring.value = _ROLE.sub(
                    functools.partial(_crossref, obj), obj.docstring.value
                )


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    """The object and its members, recursively; imported names are skipped (aliases)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)  # type: ignore[arg-type]  # not an Alias


def _comment_docstring(
    attr: griffe.Attribute, loader: griffe.GriffeLoader
) -> griffe.Docstring | None:
    """The ``#:`` lines right above the attribute's assignment, as its docstring."""
    if attr.lineno is None:
        return None
    lines = attr.module.lines
    first = attr.lineno - 1  # the assignment's index in lines
    while first > 0 and lines[first - 1].lstrip().startswith("#:"):
        first -= 1
    if first == attr.lineno - 1:
        return None
    text = "\n".join(
        line.lstrip().removeprefix("#:").removeprefix(" ")
        for line in lines[first : attr.lineno - 1]
    )
    return griffe.Docstring(
        text,
        lineno=first + 1,
        endlineno=attr.lineno - 1,
        parent=attr,
        parser=loader.docstring_parser,
        parser_options=loader.docstring_options,
    )


def _crossref(obj: griffe.Object, match: re.Match[str]) -> str:
    """An optional cross-reference to the role's target, resolved in ``obj``'s scope."""
    target = match["target"]
    shown = target.rsplit(".", 1)[-1] if match["short"] else target
    head, dot, rest = target.partition(".")
    try:
        path = obj.resolve(head) + dot + rest
    except griffe.NameResolutionError:
        path = target  # a full path already, or nothing autorefs knows: shown as code
    # autorefs turns this into a link to the object's entry, or into plain text
    # when no page shows that object ("optional": no warning either way).
    return (
        f'<autoref identifier="{html.escape(path)}" optional>'
        f"<code>{html.escape(shown)}</code></autoref>"
    )
