"""A cache of the code objects attrs compiles while the language server imports lsprotocol.

Why: most of `mlm lsp`'s start is `import lsprotocol.types`, and a third of that is attrs compiling
the source it generates for each of lsprotocol's ~570 classes (`__init__`, `__repr__`, `__eq__`, ...):
some 760 calls of `compile()`, the same text at every start (lsprotocol issue #441). Python keeps
the bytecode of ordinary modules in `__pycache__`; nothing keeps this. So the first start compiles as
always and stores the code objects (marshal, as a .pyc does); later starts look them up.

What would make it unnecessary: lsprotocol shipping its classes with their methods already written
out (the issue's proposal), or attrs caching what it generates; then delete this module and its one
use in server.py.

Correct by construction: a code object is looked up by everything `compile()` makes it from — the
exact source text, the filename, the mode, the compiler flags attrs's own call inherits (its
`from __future__` imports), the optimisation level, and the interpreter's bytecode magic number and
cache tag — so a lookup either finds what `compile()` would return or misses and compiles. A missing,
unreadable, truncated, corrupt or foreign file is a miss of everything (nothing is trusted that does
not unmarshal to exactly the expected shape); the file is written whole to a temporary file and
renamed into place (two servers starting at once each write a complete file, the last one stays);
an unwritable cache directory means no cache. `MLMDSL_LSP_CODE_CACHE=0` turns it off.

The hook is the least there is: attrs compiles all its generated methods through one internal
function, `attr._make._compile_and_eval(script, globs, locs, filename)`; it is replaced by a caching
twin for the duration of the `with` block only and restored after. If that function is not there,
or its parameters are not those, the block does nothing (attrs's internals may change).

Trust: the file lives in the user's own cache directory and is loaded as Python loads .pyc files
from `__pycache__` (marshal), with the same trust.
"""

from __future__ import annotations
import __future__

import importlib.util
import marshal
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType
from typing import Any

ENV_SWITCH = "MLMDSL_LSP_CODE_CACHE"  # "0" (or "off", "false", "no") turns the cache off
_OFF = {"0", "off", "false", "no"}
# The file's first bytes; a file without them is not read. Bump FORMAT when the layout changes.
FORMAT = 1
HEADER = b"mlmdsl-attrs-code-cache\0" + bytes([FORMAT]) + importlib.util.MAGIC_NUMBER
# Rewrite the file when more than this many look-ups (and this fraction of them) missed.
REWRITE_MIN_MISSES = 8
REWRITE_MIN_FRACTION = 0.02
# The parameters of the attrs function that is wrapped: the hook is used only if they are these.
EXPECTED_PARAMETERS = ("script", "globs", "locs", "filename")
# Every flag a `from __future__ import` sets: what `compile()` inherits from its caller's code
# (CO_NESTED is obsolete: set on nested functions' code, never inherited).
_FUTURE_FLAGS = 0
for _name in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _name).compiler_flag
_FUTURE_FLAGS &= ~__future__.CO_NESTED

Key = tuple[bytes, str, str, int, int, str, str]


def enabled() -> bool:
    """Whether the environment leaves the cache on."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in _OFF


def cache_file() -> Path:
    """<user cache>/mlmdsl/lsp/attrs-code-<python>.bin (XDG_CACHE_HOME, else ~/.cache, on Linux;
    mlmdsl.backends.cmdstan_cache.user_cache_root is the same rule, not imported: it would bring
    the backends package into the server's start)."""
    if sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        # The XDG spec: a relative value is invalid and ignored.
        root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "mlmdsl" / "lsp" / f"attrs-code-{sys.implementation.cache_tag}.bin"


def compile_key(script: str, filename: str, mode: str, flags: int, optimize: int) -> Key:
    """Everything `compile(script, filename, mode, flags, dont_inherit=True, optimize=optimize)`
    depends on, in this interpreter."""
    return (importlib.util.MAGIC_NUMBER, sys.implementation.cache_tag, mode, flags, optimize, filename, script)


class CodeCache:
    """The code objects of one file: looked up by `compile_key`, compiled on a miss."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.stored: dict[Key, CodeType] = read(path) if path is not None else {}
        self.used: dict[Key, CodeType] = {}
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()  # another thread may define attrs classes meanwhile

    def compile(self, script: str, filename: str, mode: str, flags: int) -> CodeType:
        key = compile_key(script, filename, mode, flags, sys.flags.optimize)
        code = self.stored.get(key)
        if code is None:
            code = compile(script, filename, mode, flags, dont_inherit=True)
        with self.lock:
            if key in self.stored:
                self.hits += 1
            else:
                self.misses += 1
            self.used[key] = code
        return code

    def save(self) -> None:
        """Write what this import used (so entries of older attrs or lsprotocol versions drop out),
        if more than a few look-ups missed. Any failure leaves the cache as it was.

        A few misses at every start are normal and not worth rewriting the file (about 2 MB) for:
        the source attrs generates for a `__hash__` embeds `hash()` of a string, which differs from
        one process to the next (unless PYTHONHASHSEED is set), so it never matches."""
        if self.path is None or self.misses <= max(REWRITE_MIN_MISSES, len(self.used) * REWRITE_MIN_FRACTION):
            return
        with self.lock:
            entries = dict(self.used)
        write(self.path, entries)


def read(path: Path) -> dict[Key, CodeType]:
    """The file's entries, or none if it is missing or is not exactly a cache of this format."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        if not data.startswith(HEADER):
            return {}
        entries = marshal.loads(memoryview(data)[len(HEADER) :])
    except Exception:  # missing, unreadable, truncated, corrupt: all the same, a miss
        return {}
    if not isinstance(entries, dict):
        return {}
    good: dict[Key, CodeType] = {}
    for key, code in entries.items():
        if (
            isinstance(key, tuple)
            and len(key) == 7
            and key[0] == importlib.util.MAGIC_NUMBER
            and isinstance(code, CodeType)
            and isinstance(key[5], str)
            and code.co_filename == key[5]
        ):
            good[key] = code
    return good


def write(path: Path, entries: dict[Key, CodeType]) -> bool:
    """Write the file whole, atomically: to a temporary file beside it, then renamed over it."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = HEADER + marshal.dumps(entries)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        return True
    except Exception:  # unwritable directory, full disk, ...: no cache, nothing else changes
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return False


def _hookable(module: Any) -> Callable[..., None] | None:
    """attrs's `_compile_and_eval`, if it is there with the parameters the twin below has."""
    original = getattr(module, "_compile_and_eval", None)
    code = getattr(original, "__code__", None)
    if not isinstance(code, CodeType):
        return None
    if code.co_varnames[: code.co_argcount] != EXPECTED_PARAMETERS or code.co_kwonlyargcount:
        return None
    return original


@contextmanager
def attrs_code_cache(path: Path | None = None) -> Iterator[CodeCache | None]:
    """Within the block, attrs's generated methods come from the cache (or are compiled and added);
    after it, attrs is as it was. Yields the cache, or None when it is off or attrs is not hookable."""
    if not enabled():
        yield None
        return
    try:
        from attr import _make
    except Exception:
        yield None
        return
    original = _hookable(_make)
    if original is None:
        yield None
        return
    # What attrs's own `compile(script, filename, "exec")` inherits: its module's future imports.
    flags = original.__code__.co_flags & _FUTURE_FLAGS
    cache = CodeCache(path if path is not None else cache_file())

    def _compile_and_eval(
        script: str, globs: dict[str, Any] | None, locs: Any = None, filename: str = ""
    ) -> None:
        eval(cache.compile(script, filename, "exec", flags), globs, locs)

    _compile_and_eval.__doc__ = original.__doc__
    _make._compile_and_eval = _compile_and_eval
    try:
        yield cache
    finally:
        if _make._compile_and_eval is _compile_and_eval:
            _make._compile_and_eval = original
        cache.save()
        cache.stored, cache.used = {}, {}  # the counts stay; the source texts need not
