#!/usr/bin/env node
// `npm run dev [-- wrangler args]`: the router under `wrangler dev` on http://127.0.0.1:8787 with the bundled config
// and the local KV state that `npm run config -- push --local` writes. Client auth is switched off (ROUTER_AUTH=off)
// unless client keys are given: `npm run dev -- --var ROUTER_API_KEYS:k1`, or ROUTER_API_KEYS in .dev.vars.
//
// wrangler's DevTools inspector proxy is OFF unless asked for (`--inspect`, or `--inspector-port`/`--inspector-ip`).
// When it is on, wrangler enables the runtime's Network domain and its InspectorProxyWorker posts every inspector
// event (one Network.dataReceived per chunk a subrequest receives) to wrangler's Node process as a separate HTTP
// request, plus a line in wrangler's debug log: a fast stream then holds one socket per chunk for seconds and can
// exhaust the descriptor limit (docs/dev-descriptors.md). wrangler 4.86.0 has no flag to turn it off; it does skip
// the proxy when VSCODE_INSPECTOR_OPTIONS is set (its VS Code debug-terminal check), so that is what we set.
// console.log lines and uncaught errors still reach the terminal (workerd's own output); only DevTools is lost.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

const inspect = process.argv.includes("--inspect");
const args = process.argv.slice(2).filter((a) => a !== "--inspect"); // ours, not a wrangler flag
const has = (flag) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
const keysInArgs = args.some((a) => a.startsWith("ROUTER_API_KEYS:") || a.startsWith("ROUTER_API_KEYS="));
const keysInDevVars = existsSync(".dev.vars") && /^\s*ROUTER_API_KEYS\s*=\s*\S/m.test(readFileSync(".dev.vars", "utf8"));

const wranglerArgs = ["dev"];
if (!has("--ip")) wranglerArgs.push("--ip", "127.0.0.1");
if (!has("--port")) wranglerArgs.push("--port", "8787");
if (!keysInArgs && !keysInDevVars) {
  wranglerArgs.push("--var", "ROUTER_AUTH:off");
  console.error("boocode-router: no client keys given, so client auth is OFF (local development only; /health says so).");
}
wranglerArgs.push(...args);

const env = { ...process.env };
const wantsInspector = inspect || has("--inspector-port") || has("--inspector-ip");
// A VS Code debug terminal sets the variable itself, with a `--require "bootloader"` in NODE_OPTIONS: leave both
// alone. With some other `--require "..."` there, miniflare would take it for VS Code's and fail, so don't set it.
const foreignBootloader = !env.VSCODE_INSPECTOR_OPTIONS && /--require "/.test(env.NODE_OPTIONS ?? "");
if (!wantsInspector && !env.VSCODE_INSPECTOR_OPTIONS && !foreignBootloader) env.VSCODE_INSPECTOR_OPTIONS = "boocode-router: inspector proxy off";
if (!wantsInspector && foreignBootloader) {
  console.error('boocode-router: NODE_OPTIONS has --require "...", so the DevTools inspector stays on (see docs/dev-descriptors.md).');
}
if (wantsInspector) {
  console.error("boocode-router: DevTools inspector on; a fast stream costs one socket per chunk while it lasts (docs/dev-descriptors.md).");
}

const child = spawn(process.execPath, ["node_modules/wrangler/bin/wrangler.js", ...wranglerArgs], { stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
