#!/usr/bin/env node
// `npm run dev [-- wrangler args]`: the router under `wrangler dev` on http://127.0.0.1:8787 with the bundled config
// and the local KV state that `npm run config -- push --local` writes. Client auth is switched off (ROUTER_AUTH=off)
// unless client keys are given: `npm run dev -- --var ROUTER_API_KEYS:k1`, or ROUTER_API_KEYS in .dev.vars.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

const args = process.argv.slice(2);
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

const child = spawn(process.execPath, ["node_modules/wrangler/bin/wrangler.js", ...wranglerArgs], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
