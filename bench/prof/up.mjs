#!/usr/bin/env node
// Profiling harness for the per-request gaps of `npm run bench` (docs/benchmark.md, "Where the non-streamed and TTFT
// milliseconds go"), part 1: starts the synthetic host (and llama-server with --llama), the floor Worker, the
// experiment Worker (bench/prof/exp-worker.js) and one router per `--router name=outdir` (a bundle built beforehand
// with `wrangler deploy --dry-run --outdir DIR`, e.g. one per variant of src/), with extra vars
// `--router name=outdir:VAR=value,...`. Writes the targets to .cache/prof/targets.json for client.mjs and cpu-ab.mjs,
// then runs until SIGTERM/SIGINT, which stops everything it started.
//
//   node -e "import('./scripts/start.mjs').then((m) => m.buildWorker({ outdir: '.cache/prof/build/a' }))"
//   node bench/prof/up.mjs --router a=.cache/prof/build/a [--router b=...] [--llama] &
//   node bench/prof/client.mjs --mode json --n 200 --up synth
import { readFileSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT, cleanup, firstJsonLine, freePort, pushConfig, setLogDir, startProcess, waitHealthy, LAUNCHER, ensureModel } from "../processes.mjs";

process.chdir(ROOT);
const argv = process.argv.slice(2);
const WORK = resolve(".cache/prof");
mkdirSync(WORK, { recursive: true });
setLogDir(join(WORK, "logs"));
const KEY = "prof-key";
const routers = [];
let llamaOn = false;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--router") {
    const [name, rest] = argv[++i].split(/=(.*)/s);
    const [outdir, vars = ""] = rest.split(":");
    routers.push({ name, outdir: resolve(outdir), vars: vars ? vars.split(",") : [] });
  } else if (argv[i] === "--llama") llamaOn = true;
  else throw new Error(`unknown ${argv[i]}`);
}

const synth = startProcess("synth", process.execPath, ["bench/synthetic-upstream.mjs", "--chunks", "64"], { pipeStdout: true });
const synthUrl = `http://127.0.0.1:${(await firstJsonLine(synth)).port}`;
const upstreams = ["--upstream", `synth=${synthUrl}`];
const providers = [{ id: "synth", baseUrl: synthUrl, discover: false, models: [{ id: "tiny" }] }];
let llamaUrl;
if (llamaOn) {
  const model = ensureModel(".cache/models/tiny-a.gguf", { embd: 64, layers: 2, ctx: 65536, seed: 1 });
  const port = await freePort();
  const llama = startProcess("llama", LAUNCHER, ["--host", "127.0.0.1", "--port", String(port), "-t", "1", "-m", model, "--alias", "tiny", "-c", "8192", "-np", "8"]);
  llamaUrl = `http://127.0.0.1:${port}`;
  await waitHealthy(llama, `${llamaUrl}/health`);
  upstreams.push("--upstream", `llama=${llamaUrl}`);
  providers.push({ id: "llama", baseUrl: llamaUrl, discover: false, models: [{ id: "tiny" }] });
}
const state = join(WORK, "state");
rmSync(state, { recursive: true, force: true });
pushConfig({ version: 1, providers, aliases: {} }, state, WORK);

const floorPort = await freePort();
const floor = startProcess("floor", process.execPath, ["bench/serve-floor.mjs", "--port", String(floorPort), ...upstreams], { pipeStdout: true });
const floorUrl = (await firstJsonLine(floor)).url.replace(/\/$/, "");
const expPort = await freePort();
const exp = startProcess("exp", process.execPath, ["bench/serve-floor.mjs", "--port", String(expPort), ...upstreams, "--script", resolve("bench/prof/exp-worker.js")], { pipeStdout: true });
const expUrl = (await firstJsonLine(exp)).url.replace(/\/$/, "");
const targets = { synthUrl, llamaUrl, floorUrl, expUrl, key: KEY, routers: {} };
for (const r of routers) {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const vars = [`ROUTER_API_KEYS:${KEY}`, ...r.vars.map((v) => v.replace("=", ":"))];
    const p = startProcess(`router-${r.name}`, process.execPath, ["scripts/start.mjs", "--no-build", "--outdir", r.outdir, "--port", String(port), "--persist-to", state, ...vars.flatMap((v) => ["--var", v])]);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitHealthy(p, `${url}/health`);
    } catch (err) {
      if (attempt < 3) continue;
      await cleanup();
      throw err;
    }
    targets.routers[r.name] = { url, pid: p.pid };
    break;
  }
}
writeFileSync(join(WORK, "targets.json"), JSON.stringify(targets, null, 2));
console.log(JSON.stringify(targets));
await new Promise(() => {}); // until SIGTERM/SIGINT (processes.mjs stops every child)
