"""A real editor as the client: Neovim headless, its built-in LSP client, `mlm lsp` as the server.

Neovim opens a model with an error, attaches the server, and reports the diagnostics it received;
they must be those `mlm check --format json` gives. `vim.lsp.start` (Neovim >= 0.8) is used where
it exists, else `vim.lsp.start_client` + `buf_attach_client` (Debian 12 ships 0.7).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.lsp import mlm_command

NVIM = shutil.which("nvim")
pytestmark = pytest.mark.skipif(NVIM is None, reason="nvim is not installed (apt-get install neovim)")

MODEL = """\
con[i] ~ Normal(mu[i], sigma)
mu[i] = alpha[id[i]]
alpha[j] ~ Normal(abar, sigma_a)
abar ~ Normal(0, 1.5)
sigma ~ Exponential(1)
unused ~ Normal(0, 1)
"""

SCRIPT = r"""
local model = os.getenv("MLM_MODEL")
local out = os.getenv("MLM_OUT")
local cmd = vim.fn.json_decode(os.getenv("MLM_LSP_CMD"))
vim.cmd("edit " .. vim.fn.fnameescape(model))
local buf = vim.api.nvim_get_current_buf()
local config = { name = "mlm", cmd = cmd, root_dir = vim.fn.fnamemodify(model, ":h") }
local id
if vim.lsp.start then
  id = vim.lsp.start(config)
else
  id = vim.lsp.start_client(config)
  vim.lsp.buf_attach_client(buf, id)
end
local got = vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
local diags = {}
for _, d in ipairs(vim.diagnostic.get(buf)) do
  local lsp = (d.user_data and d.user_data.lsp) or {}
  table.insert(diags, {
    lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
    severity = d.severity, code = d.code or lsp.code, message = d.message,
  })
end
-- Hover on `sigma` (line 1, column 24), through the same client.
local hover = vim.lsp.buf_request_sync(buf, "textDocument/hover", {
  textDocument = { uri = vim.uri_from_bufnr(buf) },
  position = { line = 0, character = 24 },
}, 10000)
local hover_text = ""
for _, r in pairs(hover or {}) do
  if r.result and r.result.contents then hover_text = r.result.contents.value or "" end
end
local v = vim.version()
local f = io.open(out, "w")
f:write(vim.fn.json_encode({
  got = got, diagnostics = diags, hover = hover_text,
  version = string.format("%d.%d.%d", v.major, v.minor, v.patch), has_start = vim.lsp.start ~= nil,
}))
f:close()
vim.lsp.stop_client(id)
vim.wait(3000, function() return vim.lsp.get_client_by_id(id) == nil end, 50)
vim.cmd("qa!")
"""


def test_neovim_shows_the_diagnostics_of_mlm_check(tmp_path: Path) -> None:
    model = tmp_path / "model.mlm"
    model.write_text(MODEL, encoding="utf-8")
    script = tmp_path / "attach.lua"
    script.write_text(SCRIPT, encoding="utf-8")
    out = tmp_path / "out.json"
    env = {
        **os.environ,
        "MLM_MODEL": str(model),
        "MLM_OUT": str(out),
        "MLM_LSP_CMD": json.dumps(mlm_command()),
    }
    run = subprocess.run(
        [NVIM, "--headless", "--clean", "-n", "-c", f"luafile {script}"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert out.exists(), f"Neovim wrote nothing: {run.stdout[-1000:]} {run.stderr[-1000:]}"
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["got"] is True, f"no diagnostics reached Neovim {result['version']}"

    check = subprocess.run(
        [sys.executable, "-m", "mlmdsl.cli", "check", str(model), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    # Neovim's severities: 1 error, 2 warning, 3 info, 4 hint.
    severity = {"error": 1, "warning": 2, "note": 3}
    expected = {
        (r["line"] - 1, r["column"] - 1, r["end_line"] - 1, r["end_column"] - 1, severity[r["severity"]], r["code"])
        for r in json.loads(check.stdout)
    }
    got = {(d["lnum"], d["col"], d["end_lnum"], d["end_col"], d["severity"], d["code"]) for d in result["diagnostics"]}
    assert got == expected
    assert any(code == "E300" for *_, code in got)
    assert "lower=0" in result["hover"] and "positive" in result["hover"]
