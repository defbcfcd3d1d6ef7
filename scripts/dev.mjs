#!/usr/bin/env node
// `npm run dev [-- wrangler args]`: the router under `wrangler dev` on http://127.0.0.1:8787 with the bundled config
// and the local KV state that `npm run config -- push --local` writes. Client auth is switched off (ROUTER_AUTH=off)
// unless client keys are given: `npm run dev -- --var ROUTER_API_KEYS:<key>`, or ROUTER_API_KEYS in .dev.vars.
// The same start-up rules as `npm start` (scripts/startup-checks.mjs): auth off only on loopback, never together
// with keys, and no secret too short to redact.
//
// wrangler's DevTools inspector proxy is OFF unless asked for (`--inspect`, or `--inspector-port`/`--inspector-ip`).
// When it is on, wrangler enables the runtime's Network domain and its InspectorProxyWorker posts every inspector
// event (one Network.dataReceived per chunk a subrequest receives) to wrangler's Node process as a separate HTTP
// request, plus a line in wrangler's debug log: a fast stream then holds one socket per chunk for seconds and can
// exhaust the descriptor limit (docs/dev-descriptors.md). wrangler 4.86.0 has no flag to turn it off; it does skip
// the proxy when VSCODE_INSPECTOR_OPTIONS is set (its VS Code debug-terminal check), so that is what we set, and
// any `--require "file"` in NODE_OPTIONS is passed on as `-r "file"` so that miniflare does not take it for VS Code's.
// console.log lines and uncaught errors still reach the terminal (workerd's own output); only DevTools is lost.
import { spawn } from "node:child_process";
import { pathToFileURL } from "node:url";
import { readSecrets } from "./start.mjs";
import { bundledSecretNames, startupDecision } from "./startup-checks.mjs";

/** What the checks need from wrangler dev's arguments: --ip, --var pairs, --env-file. Everything else passes through. */
export function devSettings(args) {
  let ip = "127.0.0.1";
  const vars = {};
  const envFiles = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].startsWith("--") && args[i].includes("=") ? [args[i].slice(0, args[i].indexOf("=")), args[i].slice(args[i].indexOf("=") + 1)] : [args[i], undefined];
    const take = () => inline ?? args[++i] ?? "";
    if (flag === "--ip") ip = take();
    else if (flag === "--env-file") envFiles.push(take());
    else if (flag === "--var") {
      const pairs = [take()];
      if (inline === undefined) while (args[i + 1] !== undefined && !args[i + 1].startsWith("-")) pairs.push(args[++i]);
      for (const pair of pairs) {
        const colon = pair.indexOf(":");
        if (colon > 0) vars[pair.slice(0, colon)] = pair.slice(colon + 1);
      }
    }
  }
  return { ip, vars, envFiles };
}

/**
 * NODE_OPTIONS with every `--require "file"` written as `-r "file"`, which Node reads the same way. miniflare, when
 * VSCODE_INSPECTOR_OPTIONS is set, looks for `--require "(.*?)"` in NODE_OPTIONS, takes the file for VS Code's
 * bootloader and spawns the `watchdog.js` beside it; the `-r` spelling keeps a preload it would misread out of that.
 */
export function withoutQuotedRequire(nodeOptions) {
  return nodeOptions.replace(/(^|\s)--require "/g, '$1-r "');
}

/** The environment for wrangler: the inspector proxy off unless asked for (see the header). */
export function wranglerEnv(wantsInspector, base = process.env) {
  const env = { ...base };
  if (wantsInspector) {
    console.error("boocode-router: DevTools inspector on; a fast stream costs one socket per chunk while it lasts (docs/dev-descriptors.md).");
    return env;
  }
  // A VS Code debug terminal sets the variable itself, with its own `--require "bootloader"` in NODE_OPTIONS: leave
  // both alone (the proxy is off there already). Any other `--require "..."` is respelled so miniflare ignores it.
  if (!env.VSCODE_INSPECTOR_OPTIONS) {
    if (env.NODE_OPTIONS) env.NODE_OPTIONS = withoutQuotedRequire(env.NODE_OPTIONS);
    env.VSCODE_INSPECTOR_OPTIONS = "boocode-router: inspector proxy off";
  }
  return env;
}

function main() {
  const inspect = process.argv.includes("--inspect");
  const args = process.argv.slice(2).filter((a) => a !== "--inspect"); // ours, not a wrangler flag
  const has = (flag) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
  const { ip, vars, envFiles } = devSettings(args);
  // wrangler dev's precedence: .dev.vars (or --env-file) < --var.
  const bindings = { ...readSecrets(envFiles).secrets, ...vars };
  const decision = startupDecision({ ip, bindings, upstreamNames: bundledSecretNames(), command: "npm run dev" });
  if (decision.errors.length) {
    for (const error of decision.errors) console.error(`boocode-router: ${error}`);
    process.exit(1);
  }

  const wranglerArgs = ["dev"];
  if (!has("--ip")) wranglerArgs.push("--ip", ip);
  if (!has("--port")) wranglerArgs.push("--port", "8787");
  if (decision.authOff) {
    wranglerArgs.push("--var", "ROUTER_AUTH:off");
    console.error("boocode-router: no client keys given, so client auth is OFF (local development only; /health says so).");
  }
  wranglerArgs.push(...args);

  const env = wranglerEnv(inspect || has("--inspector-port") || has("--inspector-ip"));
  const child = spawn(process.execPath, ["node_modules/wrangler/bin/wrangler.js", ...wranglerArgs], { stdio: "inherit", env });
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) main();
