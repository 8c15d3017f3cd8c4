// The VS Code client of the mlm language server: starts `mlm lsp` and hands it the .mlm files.
// Plain JavaScript (no build step); the LSP client itself is Microsoft's vscode-languageclient.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client = null;

function serverOptions() {
  const config = vscode.workspace.getConfiguration("mlm");
  const command = config.get("server.command", "mlm");
  const args = config.get("server.args", ["lsp"]);
  const run = { command, args, transport: TransportKind.stdio };
  return { run, debug: run };
}

function clientOptions() {
  return {
    documentSelector: [
      { scheme: "file", language: "mlm" },
      { scheme: "untitled", language: "mlm" },
    ],
    // A model's `# data: PATH` table: tell the server when a data file changes.
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.{csv,tsv,txt}"),
    },
  };
}

async function start() {
  client = new LanguageClient("mlm", "mlm language server", serverOptions(), clientOptions());
  try {
    await client.start();
  } catch (err) {
    const command = vscode.workspace.getConfiguration("mlm").get("server.command", "mlm");
    vscode.window.showErrorMessage(
      `Could not start the mlm language server (\`${command} lsp\`): ${err}. ` +
        "Install mlmdsl (pip install mlmdsl) or set mlm.server.command to its bin/mlm."
    );
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("mlm.restartServer", async () => {
      if (client) {
        await client.stop();
      }
      await start();
    })
  );
  await start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
