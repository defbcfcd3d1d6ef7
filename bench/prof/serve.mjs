#!/usr/bin/env node
// Serves the Worker script named by PROF_SCRIPT (bench/prof/exp-worker.js) as bench/serve-floor.mjs serves the floor:
// exactly the way `npm start` serves the router (workerd via miniflare, a direct socket, wrangler.toml's
// compatibility date and flags).
//
//   PROF_SCRIPT=bench/prof/exp-worker.js node bench/prof/serve.mjs --port N --upstream synth=http://127.0.0.1:8080
import { readWranglerConfig, serveWorker } from "../../scripts/start.mjs";

const args = process.argv.slice(2);
let port = 0;
const upstreams = {};
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--port") port = Number(args[++i]);
  else if (args[i] === "--upstream") {
    const [name, url] = args[++i].split(/=(.*)/s);
    upstreams[name] = url.replace(/\/+$/, "");
  } else throw new Error(`unknown argument ${args[i]}`);
}

const wrangler = readWranglerConfig("wrangler.toml");
const server = await serveWorker({
  name: "exp",
  scriptPath: process.env.PROF_SCRIPT,
  compatibilityDate: wrangler.compatibilityDate,
  compatibilityFlags: wrangler.compatibilityFlags,
  bindings: { UPSTREAMS: upstreams },
  persistTo: ".cache/prof/exp-state",
  port,
});
process.stdout.write(JSON.stringify({ url: server.url }) + "\n");
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.dispose().finally(() => process.exit(0)));
