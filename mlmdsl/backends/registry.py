"""Backends by name.

Each backend module is imported only when asked for, so `import mlmdsl` never loads stanli's
shared library or cmdstanpy (and its pandas import) unless that sampler is used.
"""

from __future__ import annotations

from importlib import import_module

from mlmdsl.backends.base import Backend

# name -> (module, class); adding a backend is one line here plus its module.
_BACKENDS: dict[str, tuple[str, str]] = {
    "stanli": ("mlmdsl.backends.stanli_backend", "StanliBackend"),
    "cmdstan": ("mlmdsl.backends.cmdstan_backend", "CmdStanBackend"),
}

BACKEND_NAMES: tuple[str, ...] = tuple(_BACKENDS)


def get_backend(name: str) -> Backend:
    """A fresh backend for `name` ("stanli" or "cmdstan"); ValueError for any other name."""
    try:
        module_name, class_name = _BACKENDS[name]
    except KeyError:
        valid = ", ".join(repr(n) for n in BACKEND_NAMES)
        raise ValueError(f"unknown backend {name!r}; valid backends are {valid}") from None
    backend: Backend = getattr(import_module(module_name), class_name)()
    return backend
