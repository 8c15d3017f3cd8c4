"""Benchmark: `mlm lsp` starts fast and answers diagnostics on a 200-line model quickly.

    python benchmarks/lsp.py [--repeats 20] [--lines 200] [--json FILE]

Goals (issue 13): the server answers `initialize` within 0.5 s of being started, and publishes the
diagnostics of a 200-line model within 100 ms of the change that asks for them (measured as
didChange -> publishDiagnostics minus the server's debounce pause, which is waiting, not work).
Also measured: the first diagnostics after didOpen (the server loads the compiler right after the
`initialize` answer, so this includes what is left of that load and the first compilation), the
whole wait an editor sees from starting the server to its first diagnostics, and a model whose
`# data:` comment names a table (read with pandas the first time, then from the cache).

Start-up is measured three ways, interleaved (mlmdsl/editor/code_cache.py keeps the code objects
attrs compiles for lsprotocol's classes in the user's cache directory; here every server gets a
temporary one through XDG_CACHE_HOME): `startup_s` is the usual start, with the cache filled by an
earlier start ("warm"); `startup_cold_s` the first start with an empty cache (after an install or
an upgrade: it compiles everything and writes the cache before answering); `startup_cache_off_s`
the start with the cache switched off (MLMDSL_LSP_CODE_CACHE=0: compiles, writes nothing; what
every start cost before the cache).

On a shared, loaded machine wall times mean little, so CPU seconds are reported too: the server's
CPU time (all its threads) at the moment its `initialize` answer arrives (Linux /proc; elsewhere
the CPU of a whole start-initialize-shutdown), and that of the analysis behind one diagnostics
answer. For scale, the same is measured for the floor any pygls server here has: a bare pygls
`LanguageServer` with no features (lsprotocol's types module alone is most of it).

`LspClient` is the small JSON-RPC-over-stdio client the tests use too (tests/test_lsp.py).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def mlm_command() -> list[str]:
    """`mlm lsp` as installed beside this Python, else run as a module."""
    script = Path(sys.executable).parent / "mlm"
    if script.exists():
        return [str(script), "lsp"]
    found = shutil.which("mlm")
    return [found, "lsp"] if found else [sys.executable, "-m", "mlmdsl.cli", "lsp"]


class LspClient:
    """Speaks LSP to a server process over its stdin/stdout: Content-Length framed JSON-RPC."""

    def __init__(
        self, command: list[str] | None = None, cwd: str | Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            command or mlm_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"},
        )
        self.messages: queue.Queue[dict] = queue.Queue()
        self.notifications: list[dict] = []
        self.next_id = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    # -- framing --
    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                key, _, value = line.decode("ascii").partition(":")
                headers[key.strip().lower()] = value.strip()
            body = out.read(int(headers["content-length"]))
            self.messages.put(json.loads(body.decode("utf-8")))

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    # -- messages --
    def request(self, method: str, params: Any = None, timeout: float = 10.0) -> Any:
        """Send a request and wait for its response (notifications meanwhile are kept)."""
        self.next_id += 1
        rid = self.next_id
        self.send({"id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            msg = self._next(deadline, f"a response to {method}")
            if msg.get("id") == rid and "method" not in msg:
                if "error" in msg:
                    raise LspError(msg["error"])
                return msg.get("result")
            self._keep(msg)

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, "params": params})

    def wait_for(self, method: str, match=lambda params: True, timeout: float = 10.0) -> dict:
        """The params of the first notification `method` (already received or to come) that match."""
        for i, n in enumerate(self.notifications):
            if n["method"] == method and match(n["params"]):
                return self.notifications.pop(i)["params"]
        deadline = time.monotonic() + timeout
        while True:
            msg = self._next(deadline, method)
            if msg.get("method") == method and "id" not in msg and match(msg.get("params")):
                return msg["params"]
            self._keep(msg)

    def _next(self, deadline: float, what: str) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {what} from the server; its stderr: {self.stderr_text()}")
        try:
            return self.messages.get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError(f"no {what} from the server; its stderr: {self.stderr_text()}") from None

    def _keep(self, msg: dict) -> None:
        if "method" in msg and "id" in msg:  # a request from the server: answer it plainly
            self.send({"id": msg["id"], "result": None})
        elif "method" in msg:
            self.notifications.append(msg)

    def stderr_text(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode("utf-8", "replace")[-2000:]

    # -- the usual exchanges --
    def initialize(self, root: Path | None = None, capabilities: dict | None = None) -> dict:
        result = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri() if root else None,
                "capabilities": capabilities
                or {
                    "textDocument": {
                        "completion": {"completionItem": {"snippetSupport": True}},
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                        "publishDiagnostics": {"versionSupport": True},
                    }
                },
            },
        )
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "mlm", "version": version, "text": text}},
        )

    def change(self, uri: str, text: str, version: int) -> None:
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )

    def diagnostics(self, uri: str, version: int | None = None, timeout: float = 10.0) -> list[dict]:
        params = self.wait_for(
            "textDocument/publishDiagnostics",
            lambda p: p["uri"] == uri and (version is None or p.get("version") == version),
            timeout,
        )
        return params["diagnostics"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request("shutdown", None, timeout=5)
                self.notify("exit")
                self.proc.wait(timeout=5)
            except (TimeoutError, OSError, LspError):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> LspClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LspError(Exception):
    def __init__(self, error: dict) -> None:
        self.error = error
        super().__init__(error.get("message", str(error)))


def wide_model(lines: int = 200) -> str:
    """A regression with many predictors and varying intercepts, about `lines` lines long."""
    n = max(5, (lines - 8) * 5 // 6)  # 1 prior line each, plus the predictor wrapped 5 to a line
    terms = [f"b{k} * x{k}[i]" for k in range(1, n + 1)]
    chunks = [terms[k : k + 5] for k in range(0, n, 5)]
    out = ["# A wide regression: many predictors, varying intercepts."]
    out += ["y[i] ~ Normal(mu[i], sigma)", "mu[i] = a[g[i]] +"]
    out += ["    " + " + ".join(c) + (" +" if k < len(chunks) - 1 else "") for k, c in enumerate(chunks)]
    out += ["a[j] ~ Normal(abar, sigma_a)", "abar ~ Normal(0, 1)", "sigma_a ~ Exponential(1)", "sigma ~ Exponential(1)"]
    out += [f"b{k} ~ Normal(0, 1)" for k in range(1, n + 1)]
    return "\n".join(out) + "\n"


# The least a pygls server costs to start: no features, nothing of mlmdsl.
BARE_PYGLS = "from pygls.lsp.server import LanguageServer; LanguageServer('bare', '0').start_io()"


def measure(repeats: int, lines: int) -> dict:
    import tempfile

    from mlmdsl.editor import code_cache
    from mlmdsl.editor.server import DEBOUNCE_SECONDS

    text = wide_model(lines)
    starts, start_cpu, opens, to_first, changes = [], [], [], [], []
    cold, cold_cpu, off, off_cpu, bare, bare_cpu = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.mlm"
        path.write_text(text, encoding="utf-8")
        uri = path.as_uri()
        # The servers' code cache (mlmdsl/editor/code_cache.py) lives in temporary directories, so
        # that what the user's own cache holds changes nothing: "warm" has one filled by a start
        # beforehand, "cold" an empty one each time (the first start after an install or an
        # upgrade: it compiles and writes the file), "off" the cache switched off.
        warm_env = _server_env(Path(tmp) / "warm-cache")
        with LspClient(env=warm_env) as client:
            client.initialize(Path(tmp))
        for r in range(repeats):
            t0 = time.perf_counter()
            with LspClient(env=warm_env) as client:
                client.initialize(Path(tmp))
                starts.append(time.perf_counter() - t0)
                start_cpu.append(_cpu_now(client))
                t1 = time.perf_counter()
                client.open(uri, text)
                client.diagnostics(uri)
                opens.append(time.perf_counter() - t1)
                to_first.append(time.perf_counter() - t0)
                if r == 0:
                    for v in range(2, 2 + repeats):
                        edited = text.replace("sigma ~ Exponential(1)", f"sigma ~ Exponential({v})")
                        t2 = time.perf_counter()
                        client.change(uri, edited, v)
                        client.diagnostics(uri, v)
                        changes.append(time.perf_counter() - t2 - DEBOUNCE_SECONDS)
            # Interleaved with the warm starts, so that all see the same load.
            for env, times, cpu in (
                (_server_env(Path(tmp) / f"cold-cache-{r}"), cold, cold_cpu),
                (_server_env(Path(tmp) / "no-cache", **{code_cache.ENV_SWITCH: "0"}), off, off_cpu),
            ):
                times.append(_time_initialize(lambda env=env: LspClient(env=env), Path(tmp), cpu))
            bare.append(_time_initialize(lambda: LspClient([sys.executable, "-c", BARE_PYGLS]), Path(tmp), bare_cpu))
        data_first, data_warm = _with_data(Path(tmp), warm_env)
        if None in start_cpu:  # no /proc here: the CPU of whole short lives instead
            start_cpu = [_startup_cpu(Path(tmp), warm_env) for _ in range(max(3, repeats // 2))]
            cold_cpu, off_cpu, bare_cpu = [], [], []
    return {
        "startup_cpu_s": _stats(start_cpu),
        "diagnostics_cpu_s": _stats(_analysis_cpu(text, repeats)),
        "lines": len(text.splitlines()),
        "startup_s": _stats(starts),
        "startup_cold_s": _stats(cold),
        "startup_cold_cpu_s": _stats(cold_cpu) if cold_cpu else None,
        "startup_cache_off_s": _stats(off),
        "startup_cache_off_cpu_s": _stats(off_cpu) if off_cpu else None,
        "first_diagnostics_after_open_s": _stats(opens),
        "start_to_first_diagnostics_s": _stats(to_first),
        "diagnostics_after_change_s": _stats(changes),
        "bare_pygls_startup_s": _stats(bare),
        "bare_pygls_startup_cpu_s": _stats(bare_cpu) if bare_cpu else None,
        "debounce_s": DEBOUNCE_SECONDS,
        "with_data_first_s": data_first,
        "with_data_warm_s": data_warm,
        "bytecode_cache": _bytecode_cache(),
        "python": sys.version.split()[0],
        "goals": {
            "startup_s": 0.5,
            "startup_cpu_s": 0.5,
            "startup_cold_s": 0.5,
            "startup_cold_cpu_s": 0.5,
            "diagnostics_after_change_s": 0.1,
            "diagnostics_cpu_s": 0.1,
        },
    }


def _server_env(cache_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a server whose code cache is under `cache_home`."""
    from mlmdsl.editor import code_cache

    env = {k: v for k, v in os.environ.items() if k != code_cache.ENV_SWITCH}
    return {**env, "XDG_CACHE_HOME": str(cache_home), **extra}


def _time_initialize(start: Callable[[], LspClient], root: Path, cpu: list) -> float:
    """Seconds from starting a server to its `initialize` answer; its CPU seconds at that moment
    are appended to `cpu`."""
    t0 = time.perf_counter()
    with start() as client:
        client.initialize(root)
        elapsed = time.perf_counter() - t0
        cpu.append(_cpu_now(client))
    return elapsed


def _cpu_now(client: LspClient) -> float | None:
    """CPU seconds (user + system, every thread, finished ones too) the server has used so far,
    from /proc/PID/stat; None where there is no /proc."""
    try:
        stat = Path(f"/proc/{client.proc.pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _bytecode_cache() -> str:
    """Whether the server's own modules load from cached bytecode, or are compiled from source at
    every start (where PYTHONDONTWRITEBYTECODE is set and no .pyc was ever written)."""
    if any((REPO / "mlmdsl" / "editor" / "__pycache__").glob("server.*.pyc")):
        return "on (mlmdsl's modules load from .pyc)"
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return "off (PYTHONDONTWRITEBYTECODE is set, no .pyc: every start compiles mlmdsl's modules)"
    return "on (written at the first start)"


def _with_data(tmp: Path, env: dict[str, str]) -> tuple[float, float]:
    """A small model with a `# data:` table: first diagnostics (reads it) and after a change."""
    csv = tmp / "d.csv"
    rows = ["y,x,g"] + [f"{(k % 7) / 3:.3f},{k % 5},{k % 20}" for k in range(2000)]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    model = tmp / "d.mlm"
    text = "# data: d.csv\ny[i] ~ Normal(mu[i], sigma)\nmu[i] = a[g[i]] + b * x[i]\n"
    text += "a[j] ~ Normal(0, s)\nb ~ Normal(0, 1)\ns ~ Exponential(1)\nsigma ~ Exponential(1)\n"
    from mlmdsl.editor.server import DEBOUNCE_SECONDS

    with LspClient(env=env) as client:
        client.initialize(tmp)
        t0 = time.perf_counter()
        client.open(model.as_uri(), text)
        client.diagnostics(model.as_uri())
        first = time.perf_counter() - t0
        t1 = time.perf_counter()
        client.change(model.as_uri(), text.replace("Normal(0, 1)", "Normal(0, 2)"), 2)
        client.diagnostics(model.as_uri(), 2)
        warm = time.perf_counter() - t1 - DEBOUNCE_SECONDS
    return first, warm


def _startup_cpu(root: Path, env: dict[str, str]) -> float:
    """CPU seconds (user + system) of a server that starts, answers initialize and shuts down
    (without `initialized`, which would start loading the compiler): where there is no /proc."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = LspClient(env=env)
    client.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}})
    client.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _analysis_cpu(text: str, repeats: int) -> list[float]:
    """CPU seconds of the work behind one diagnostics answer (mlmdsl.editor.analysis.analyze),
    in this process, on texts that differ each time as edits do."""
    from mlmdsl.editor.analysis import analyze

    times = []
    for k in range(repeats):
        edited = text.replace("sigma ~ Exponential(1)", f"sigma ~ Exponential({k + 2})")
        t = time.process_time()
        analyze(edited, "/tmp/wide.mlm")
        times.append(time.process_time() - t)
    return times


def _stats(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    result = measure(args.repeats, args.lines)
    result["load_average"] = os.getloadavg()
    for key in (
        "startup_s",
        "startup_cpu_s",
        "startup_cold_s",
        "startup_cold_cpu_s",
        "startup_cache_off_s",
        "startup_cache_off_cpu_s",
        "bare_pygls_startup_s",
        "bare_pygls_startup_cpu_s",
        "first_diagnostics_after_open_s",
        "start_to_first_diagnostics_s",
        "diagnostics_after_change_s",
        "diagnostics_cpu_s",
    ):
        s = result[key]
        if s is None:
            continue
        goal = result["goals"].get(key)
        verdict = ""
        if goal is not None:
            met = {which: "met" if s[which] < goal else "NOT met" for which in ("median", "min")}
            verdict = f"  (goal < {goal:.2f} s: median {met['median']}, min {met['min']})"
        print(f"{key:34s} median {s['median'] * 1000:7.1f} ms  min {s['min'] * 1000:7.1f} ms{verdict}")
    print(f"{'with data: first diagnostics':34s} {result['with_data_first_s'] * 1000:7.1f} ms")
    print(f"{'with data: after a change':34s} {result['with_data_warm_s'] * 1000:7.1f} ms")
    print(f"model: {result['lines']} lines; {args.repeats} repeats; Python {result['python']}; "
          f"load average {tuple(round(x, 1) for x in result['load_average'])} on {os.cpu_count()} cores")
    print(f"bytecode cache: {result['bytecode_cache']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
