#!/usr/bin/env node
// Serves bench/floor-worker.js (or the Worker given with --script, e.g. bench/prof/exp-worker.js) exactly the way
// `npm start` serves the router (scripts/start.mjs serveWorker: workerd via miniflare, a direct socket, the
// compatibility date and flags of wrangler.toml), so the two differ only in the Worker's code.
//
//   node bench/serve-floor.mjs --port N --upstream llama=http://127.0.0.1:8080 [--upstream synth=...] [--script FILE]
import { readWranglerConfig, serveWorker } from "../scripts/start.mjs";

const args = process.argv.slice(2);
let port = 0;
let script = new URL("./floor-worker.js", import.meta.url).pathname;
const upstreams = {};
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--port") port = Number(args[++i]);
  else if (args[i] === "--script") script = args[++i];
  else if (args[i] === "--upstream") {
    const [name, url] = args[++i].split(/=(.*)/s);
    upstreams[name] = url.replace(/\/+$/, "");
  } else throw new Error(`unknown argument ${args[i]}`);
}

const wrangler = readWranglerConfig("wrangler.toml");
const server = await serveWorker({
  name: "floor",
  scriptPath: script,
  compatibilityDate: wrangler.compatibilityDate,
  compatibilityFlags: wrangler.compatibilityFlags,
  bindings: { UPSTREAMS: upstreams },
  persistTo: `.cache/bench/${script.split("/").pop().replace(/\.js$/, "")}-state`,
  port,
});
process.stdout.write(JSON.stringify({ url: server.url }) + "\n");
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.dispose().finally(() => process.exit(0)));
