"""`mlm lsp` answers `initialize` before it imports the compiler (issue 13: start in under 0.5 s).

The real server process, started as an editor starts it, under `python -X importtime`, which
writes every module to stderr as it is imported. What it imported by the time it answered
`initialize` (and was told nothing else) is the start-up path: it must not hold the compiler, lark,
Jinja2, numpy or pandas, which cost about a third of a second and are not needed to answer. Once the
client says `initialized`, the server loads the compiler on its own, before the first document.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time

import pytest

from benchmarks.lsp import LspClient, mlm_command
from mlmdsl.cli import COMMANDS, build_parser, main

# Module -> what it is; none may be imported before the `initialize` answer.
NOT_AT_START = {
    "mlmdsl.compiler": "the compiler (lark, Jinja2 and the lowering passes behind it)",
    "mlmdsl.editor.analysis": "what compiles a document",
    "mlmdsl.editor.hover": "hover text (the compiler's IR)",
    "mlmdsl.data": "the data binder",
    "mlmdsl.posterior": "the posterior's modules (`mlmdsl.compare` is loaded on first use)",
    "lark": "the parser",
    "jinja2": "the Stan templates",
    "numpy": "numpy",
    "pandas": "pandas (only for a model with a # data: comment)",
    "arviz": "the posterior stack",
    "cmdstanpy": "the sampler stack",
    "stanli": "the sampler stack",
}
# And what must be there, or the log is not of the server.
AT_START = ("lsprotocol.types", "pygls.lsp.server", "mlmdsl.editor.server")

_IMPORT = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|( *)(\S+)\s*$")
CAPABILITIES = {"textDocument": {"publishDiagnostics": {"versionSupport": True}}}


class ImportLog:
    """The `-X importtime` lines of a server's stderr, read as they come."""

    def __init__(self, client: LspClient) -> None:
        self.modules: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(client,), daemon=True)
        self.thread.start()

    def _read(self, client: LspClient) -> None:
        assert client.proc.stderr is not None
        try:
            for raw in client.proc.stderr:
                if m := _IMPORT.match(raw.decode("utf-8", "replace")):
                    with self.lock:
                        self.modules.append(m.group(2))
        except (ValueError, OSError):  # the client closed the pipe at the end of the test
            pass

    def snapshot(self) -> set[str]:
        with self.lock:
            return set(self.modules)

    def wait_for(self, module: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if module in self.snapshot():
                return True
            time.sleep(0.05)
        return False


@pytest.fixture
def server(tmp_path):
    # The console script as editors run it, with Python's import log on.
    command = mlm_command()
    command = [sys.executable, "-X", "importtime", *(command[1:] if command[0] == sys.executable else command)]
    client = LspClient(command, cwd=tmp_path)
    log = ImportLog(client)
    yield client, log, tmp_path
    client.close()


def _answered_initialize(client: LspClient, root) -> dict:
    """`initialize` alone: not yet `initialized`, which starts the loading of the compiler."""
    return client.request("initialize", {"processId": None, "rootUri": root.as_uri(), "capabilities": CAPABILITIES})


def _imported_by_then(client: LspClient, log: ImportLog) -> set[str]:
    # The answer is out; a cheap request round-trip makes sure the log is read up to here.
    client.request("shutdown")
    client.notify("exit")
    client.proc.wait(timeout=10)
    log.thread.join(timeout=10)
    return log.snapshot()


@pytest.mark.parametrize("module", sorted(NOT_AT_START))
def test_initialize_is_answered_without(server, module: str) -> None:
    client, log, root = server
    assert "capabilities" in _answered_initialize(client, root)
    imported = _imported_by_then(client, log)
    assert all(m in imported for m in AT_START), sorted(imported)[:20]
    loaded = sorted(m for m in imported if m == module or m.startswith(module + "."))
    assert not loaded, f"{NOT_AT_START[module]} is imported before the initialize answer: {loaded}"


def test_after_initialized_the_compiler_loads_before_the_first_document(server) -> None:
    client, log, root = server
    _answered_initialize(client, root)
    assert "mlmdsl.compiler" not in log.snapshot()
    client.notify("initialized", {})
    # No document yet: the server loads the compiler by itself, so the first didOpen is not slowed.
    assert log.wait_for("mlmdsl.compiler", timeout=30), "the compiler was not loaded after initialized"
    assert log.wait_for("mlmdsl.editor.hover", timeout=30)
    # And it works: a document gets its diagnostics.
    path = root / "m.mlm"
    path.write_text("y[i] ~ Normal(mu, sigma)\nmu ~ Normal(0, 1)\n", encoding="utf-8")
    client.open(path.as_uri(), path.read_text(encoding="utf-8"))
    codes = {d["code"] for d in client.diagnostics(path.as_uri(), timeout=60)}
    assert "E300" in codes  # sigma has no prior



# What runs before `mlmdsl.compare` is asked for -> it must still be the function, not the module
# mlmdsl/posterior/compare.py (an import of a submodule binds its name on the parent package).
COMPARE_AFTER = {
    "nothing": "",
    "the module itself": "import mlmdsl.posterior.compare",
    "from the module": "from mlmdsl.posterior.compare import compare as c",
    "the API": "import mlmdsl.api",
    "the posterior package": "import mlmdsl.posterior",
    "from-import first": "from mlmdsl import compare as c",
}


@pytest.mark.parametrize("before", list(COMPARE_AFTER))
def test_mlmdsl_compare_is_the_function_whatever_was_imported_first(before: str) -> None:
    script = (
        "import sys, mlmdsl\n"
        "assert 'mlmdsl.posterior.compare' not in sys.modules, 'import mlmdsl loaded compare'\n"
        f"{COMPARE_AFTER[before]}\n"
        "from mlmdsl import compare\n"
        "import mlmdsl.posterior.compare as module\n"
        "assert mlmdsl.compare is compare is module.compare, (mlmdsl.compare, compare)\n"
        "assert 'compare' in mlmdsl.__all__\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _usage_error(parser: argparse.ArgumentParser, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_alone_parses_as_among_all(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    # `mlm NAME ...` registers NAME's module alone (so `mlm lsp` skips the compiler): its flags,
    # help and usage errors must be those of the full `mlm`.
    alone, full = _subcommands(build_parser(name)), _subcommands(build_parser())
    assert list(alone) == [name] and list(full) == list(COMMANDS)
    assert alone[name].format_help() == full[name].format_help()
    for argv in ([name, "--no-such-flag"], [name, "-h"]):
        if argv[-1] == "-h":
            with pytest.raises(SystemExit):
                build_parser(name).parse_args(argv)
            help_alone = capsys.readouterr().out
            with pytest.raises(SystemExit):
                build_parser().parse_args(argv)
            assert help_alone == capsys.readouterr().out
        else:
            assert _usage_error(build_parser(name), argv, capsys) == _usage_error(build_parser(), argv, capsys)


def test_mlm_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(f"    {name} " in out for name in COMMANDS), out
