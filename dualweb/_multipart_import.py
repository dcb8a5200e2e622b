"""Import the ``multipart`` package (Marcel Hellkamp's, 2.x), even when shadowed.

python-multipart, a different package, installs a ``multipart/`` package as a
compatibility shim. A package directory wins over a module of the same name on
``sys.path``, so with both installed ``import multipart`` gives the shim and
not the real ``multipart.py``. Then the real module is found through its
distribution's file list and loaded under a private name, leaving
``sys.modules["multipart"]`` to whoever imports it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

_MISSING = (
    "dualweb needs the 'multipart' package (pip install multipart), which {reason}. "
    "Note that python-multipart is a different package."
)


def load_multipart(name: str = "multipart") -> ModuleType:
    """The real ``multipart`` module; ImportError when it is not installed."""
    spec = importlib.util.find_spec(name)
    # The real package is one module, multipart.py; a package (with
    # submodule_search_locations) is python-multipart's shim. It is not
    # imported: importing it warns.
    if spec is not None and spec.submodule_search_locations is None:
        module = importlib.import_module(name)
        if hasattr(module, "PushMultipartParser"):
            return module
    return _load_from_distribution(name)


def _load_from_distribution(name: str) -> ModuleType:
    try:
        distribution = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise ImportError(_MISSING.format(reason="is not installed")) from None
    path = _module_file(distribution, f"{name}.py")
    if path is None:
        raise ImportError(_MISSING.format(reason=f"lacks its {name}.py file"))
    private_name = f"_dualweb_{name}"
    if private_name in sys.modules:
        return sys.modules[private_name]
    spec = importlib.util.spec_from_file_location(private_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[private_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[private_name]
        raise
    if not hasattr(module, "PushMultipartParser"):
        del sys.modules[private_name]
        raise ImportError(_MISSING.format(reason=f"is too old at {path} (1.2 or later needed)"))
    return module


def _module_file(distribution: metadata.Distribution, filename: str) -> Path | None:
    for file in distribution.files or ():
        if file.name == filename and len(file.parts) == 1:
            return Path(str(distribution.locate_file(file)))
    return None
