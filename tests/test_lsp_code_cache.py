"""The language server's cache of attrs's compiled methods (mlmdsl/editor/code_cache.py).

It may make the start faster and nothing else: what a cached start gets must be what compiling
gets, a bad cache file must be as good as none, the switch must turn it off, and servers started at
once must all work. Each case runs real processes (the import as `mlm lsp` does it, and the real
`mlm lsp` answering `initialize`), with the cache in a temporary XDG_CACHE_HOME.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.lsp import LspClient, mlm_command
from mlmdsl.editor import code_cache

# In a fresh process: import the server as `mlm lsp` does, then describe every method attrs
# generated for the classes of lsprotocol, pygls, cattrs and attrs (its code object, recursively:
# bytecode, constants, names, line table, flags, filename), and what the cache did.
DESCRIBE = r"""
import hashlib, json, sys
import attr
import mlmdsl.editor.server as server

def describe(code):
    consts = tuple(describe(c) if isinstance(c, type(code)) else (type(c).__name__, repr(c)) for c in code.co_consts)
    return (
        code.co_name, code.co_qualname, code.co_filename, code.co_firstlineno, code.co_argcount,
        code.co_posonlyargcount, code.co_kwonlyargcount, code.co_nlocals, code.co_stacksize, code.co_flags,
        code.co_code.hex(), consts, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
        code.co_linetable.hex(), code.co_exceptiontable.hex(),
    )

methods = {}
for name, module in sorted(sys.modules.items()):
    if name.split(".")[0] not in ("lsprotocol", "pygls", "cattrs", "attr", "attrs"):
        continue
    for cls in list(vars(module).values()):
        if not (isinstance(cls, type) and attr.has(cls) and cls.__module__ == name):
            continue
        for meth, f in vars(cls).items():
            code = getattr(f, "__code__", None)
            if code is not None and code.co_filename.startswith("<attrs generated"):
                text = repr(describe(code)).encode()
                methods[f"{name}.{cls.__qualname__}.{meth}"] = hashlib.sha256(text).hexdigest()
cache = server.CODE_CACHE
print(json.dumps({
    "methods": methods,
    "cache": None if cache is None else {"hits": cache.hits, "misses": cache.misses},
}))
"""
# The same hash seed everywhere: the source attrs generates for `__hash__` embeds a string's hash,
# so with random seeds two processes differ in those few methods (correctly: they miss the cache).
SEED = "7"


def _env(cache_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != code_cache.ENV_SWITCH}
    return {**env, "XDG_CACHE_HOME": str(cache_home), "PYTHONHASHSEED": SEED, **extra}


def _import_server(cache_home: Path, **extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", DESCRIBE], env=_env(cache_home, **extra), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _cache_file(cache_home: Path) -> Path:
    return cache_home / "mlmdsl" / "lsp" / f"attrs-code-{sys.implementation.cache_tag}.bin"


def _answers_initialize(cache_home: Path, **extra: str) -> None:
    with LspClient(mlm_command(), env=_env(cache_home, **extra)) as client:
        result = client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, timeout=60)
        assert result["serverInfo"]["name"] == "mlm"


def _differing(a: dict, b: dict) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict:
    """The methods of an import with the cache off: what compiling gives."""
    return _import_server(tmp_path_factory.mktemp("off"), **{code_cache.ENV_SWITCH: "0"})["methods"]


def test_cached_methods_are_those_compiled(tmp_path: Path, compiled: dict) -> None:
    assert len(compiled) > 1000  # lsprotocol's ~570 classes, two or three methods each
    cold = _import_server(tmp_path)
    assert cold["cache"]["hits"] == 0 and cold["cache"]["misses"] > 500
    assert _cache_file(tmp_path).is_file()
    warm = _import_server(tmp_path)
    # Every method came from the file (the seed is fixed, so even `__hash__` hits) ...
    assert warm["cache"] == {"hits": cold["cache"]["misses"], "misses": 0}
    # ... and every one is, field for field, what compiling made.
    for which, run in (("cold", cold), ("warm", warm)):
        assert not _differing(run["methods"], compiled), f"{which}: {_differing(run['methods'], compiled)[:10]}"


def test_a_different_hash_seed_misses_only_the_hash_methods(tmp_path: Path) -> None:
    first = _import_server(tmp_path)
    other = _import_server(tmp_path, PYTHONHASHSEED="8")
    # `__hash__`'s source differs with the seed: a miss, compiled; everything else hits.
    assert 0 < other["cache"]["misses"] <= 5
    assert other["cache"]["hits"] == first["cache"]["misses"] - other["cache"]["misses"]


def _good_file(tmp_path: Path) -> bytes:
    home = tmp_path / "good"
    _import_server(home)
    return _cache_file(home).read_bytes()


def _entries(data: bytes) -> dict:
    return marshal.loads(data[len(code_cache.HEADER) :])


def _foreign_keys(data: bytes) -> bytes:
    """Valid entries of another interpreter's bytecode (a different magic number in each key)."""
    entries = {(b"\x00\x00\r\n", *key[1:]): code for key, code in _entries(data).items()}
    return code_cache.HEADER + marshal.dumps(entries)


def _swapped_filenames(data: bytes) -> bytes:
    """Keys that name another method's file: the code objects do not belong to them."""
    entries = _entries(data)
    keys, codes = list(entries), list(entries.values())
    return code_cache.HEADER + marshal.dumps(dict(zip(keys, codes[1:] + codes[:1], strict=True)))


def _other_format(good: bytes) -> bytes:
    header = code_cache.HEADER
    return good.replace(header, header[:-5] + b"\xff" + header[-4:], 1)  # the format byte


def _wrong_shapes(good: bytes) -> bytes:
    return code_cache.HEADER + marshal.dumps({("x",): 1, "y": compile("1", "f", "eval")})


# name -> what to put where the cache file goes (given a good file's bytes; None: a directory).
BAD_FILES: dict[str, Callable[[bytes], bytes | None]] = {
    "empty": lambda good: b"",
    "truncated in the header": lambda good: good[: len(code_cache.HEADER) // 2],
    "truncated in the data": lambda good: good[: len(good) // 2],
    "cut by one byte": lambda good: good[:-1],
    "garbage after the header": lambda good: code_cache.HEADER + os.urandom(5000),
    "not a cache at all": lambda good: b"#!/bin/sh\necho hello\n" * 100,
    "another format version": _other_format,
    "another Python's magic number": lambda good: good.replace(importlib.util.MAGIC_NUMBER, b"\x00\x00\r\n", 1),
    "keys of another Python": _foreign_keys,
    "code objects under the wrong filename": _swapped_filenames,
    "a list, not a dict": lambda good: code_cache.HEADER + marshal.dumps([1, 2, 3]),
    "keys of the wrong shape": _wrong_shapes,
    "a directory in its place": lambda good: None,
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_cache_file_is_a_miss_and_the_server_works(tmp_path: Path, compiled: dict, name: str) -> None:
    good = _good_file(tmp_path)
    home = tmp_path / "home"
    target = _cache_file(home)
    target.parent.mkdir(parents=True)

    def plant() -> None:
        content = BAD_FILES[name](good)
        if content is None:
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(content)

    plant()
    run = _import_server(home)
    assert run["cache"]["hits"] == 0, "a bad file was trusted"
    assert not _differing(run["methods"], compiled)
    if name == "a directory in its place":
        assert target.is_dir()  # could not be replaced: no cache, and no harm
    else:
        assert target.read_bytes().startswith(code_cache.HEADER)  # rewritten, whole
        assert _import_server(home)["cache"]["misses"] == 0
    plant()
    _answers_initialize(home)


def test_an_unwritable_cache_directory_means_no_cache(tmp_path: Path, compiled: dict) -> None:
    home = tmp_path / "a-file"
    home.write_text("not a directory", encoding="utf-8")  # (root may write anywhere, but not under a file)
    for _ in range(2):
        run = _import_server(home)
        assert run["cache"]["hits"] == 0 and run["cache"]["misses"] > 500
        assert not _differing(run["methods"], compiled)
    assert home.read_text(encoding="utf-8") == "not a directory"
    _answers_initialize(home)


# value of the switch -> is the cache on
SWITCH = {"0": False, "off": False, "OFF": False, "false": False, "no": False, "1": True, "": True, "yes": True}


@pytest.mark.parametrize("value", list(SWITCH))
def test_the_environment_variable_turns_it_off(tmp_path: Path, value: str) -> None:
    for _ in range(2):
        run = _import_server(tmp_path, **{code_cache.ENV_SWITCH: value})
    assert (run["cache"] is not None) == SWITCH[value]
    assert _cache_file(tmp_path).exists() == SWITCH[value]
    if SWITCH[value]:
        assert run["cache"]["misses"] == 0


def test_servers_started_at_once_all_answer(tmp_path: Path, compiled: dict) -> None:
    # Cold, one empty cache: each compiles everything and writes the file at about the same moment.
    clients = [LspClient(mlm_command(), env=_env(tmp_path)) for _ in range(4)]
    try:
        for client in clients:
            result = client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, timeout=60)
            assert result["serverInfo"]["name"] == "mlm"
    finally:
        for client in clients:
            client.close()
    # What they left is one whole cache that the next start uses entirely; no temporary files.
    assert [p.name for p in _cache_file(tmp_path).parent.iterdir()] == [_cache_file(tmp_path).name]
    run = _import_server(tmp_path)
    assert run["cache"]["misses"] == 0 and not _differing(run["methods"], compiled)


# -- the hook itself, in this process --
def _twin_signatures() -> dict[str, object]:
    def other_names(source, g, l=None, name=""):  # noqa: E741
        pass

    def fewer(script, globs):
        pass

    def keyword_only(script, globs, locs=None, filename="", *, extra=None):
        pass

    return {
        "missing": None,
        "other parameter names": other_names,
        "fewer parameters": fewer,
        "a keyword-only extra": keyword_only,
        "not a function": 42,
    }


@pytest.mark.parametrize("case", list(_twin_signatures()))
def test_unexpected_attrs_internals_are_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    from attr import _make

    replacement = _twin_signatures()[case]
    if replacement is None:
        monkeypatch.delattr(_make, "_compile_and_eval")
    else:
        monkeypatch.setattr(_make, "_compile_and_eval", replacement)
    monkeypatch.delenv(code_cache.ENV_SWITCH, raising=False)
    with code_cache.attrs_code_cache(tmp_path / "cache.bin") as cache:
        assert cache is None
        assert getattr(_make, "_compile_and_eval", None) is replacement
    assert getattr(_make, "_compile_and_eval", None) is replacement
    assert not (tmp_path / "cache.bin").exists()


def test_the_hook_is_undone_after_the_block_even_on_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import attr
    from attr import _make

    monkeypatch.delenv(code_cache.ENV_SWITCH, raising=False)
    original = _make._compile_and_eval
    with pytest.raises(RuntimeError), code_cache.attrs_code_cache(tmp_path / "cache.bin") as cache:
        assert cache is not None and _make._compile_and_eval is not original

        @attr.define
        class Point:
            x: int
            y: int = 0

        assert Point(1) == Point(1, 0) and repr(Point(2, 3)) == "Point(x=2, y=3)"
        assert cache.misses == 1  # attrs compiles a class's methods as one script: through the cache
        raise RuntimeError("an import failed")
    assert _make._compile_and_eval is original


def test_the_file_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    code = compile("x = 1", "<f>", "exec")
    key = code_cache.compile_key("x = 1", "<f>", "exec", 0, sys.flags.optimize)
    path = tmp_path / "d" / "c.bin"
    assert code_cache.write(path, {key: code})
    assert code_cache.read(path) == {key: code}
    # A directory that cannot be made (a file is in the way): False, nothing left behind.
    blocked = tmp_path / "blocker"
    blocked.write_text("", encoding="utf-8")
    assert not code_cache.write(blocked / "c.bin", {key: code})
    # A value marshal cannot write: the old file stays as it was, no temporary file.
    assert not code_cache.write(path, {key: types.SimpleNamespace()})  # type: ignore[dict-item]
    assert code_cache.read(path) == {key: code}
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.bin"]


# A process that writes the cache file again and again, or reads it and counts what it found.
_WRITER = r"""
import sys
from pathlib import Path
from mlmdsl.editor import code_cache
path, source = Path(sys.argv[1]), Path(sys.argv[2])
entries = code_cache.read(source)
for _ in range(int(sys.argv[3])):
    assert code_cache.write(path, entries)
"""
_READER = r"""
import sys
from pathlib import Path
from mlmdsl.editor import code_cache
path, stop, expected = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
reads = torn = 0
while not stop.exists():
    reads += 1
    torn += len(code_cache.read(path)) != expected
print(reads, torn)
"""


def test_readers_never_see_a_half_written_file(tmp_path: Path) -> None:
    # Writers replacing the file while readers read it: every read finds the whole file (it is
    # renamed into place, never written where it is read). Real processes, the real entries (~2 MB).
    home = tmp_path / "home"
    _import_server(home)
    source = tmp_path / "source.bin"
    source.write_bytes(_cache_file(home).read_bytes())
    expected = len(code_cache.read(source))
    path, stop = tmp_path / "shared" / "c.bin", tmp_path / "stop"
    assert code_cache.write(path, code_cache.read(source))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    readers = [
        subprocess.Popen([sys.executable, "-c", _READER, str(path), str(stop), str(expected)], env=env,
                         stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(source), "40"], env=env) for _ in range(3)
    ]
    assert all(w.wait(timeout=300) == 0 for w in writers)
    stop.touch()
    counts = [tuple(map(int, r.communicate(timeout=60)[0].split())) for r in readers]
    assert all(reads > 10 for reads, _ in counts), counts  # they did read while the writers wrote
    assert [torn for _, torn in counts] == [0, 0], counts
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.bin"]
    assert len(code_cache.read(path)) == expected
