#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --out DIR]`: the router's benchmark (docs/benchmark.md).
//
// One client (this process: Node's fetch, undici, keep-alive) drives the same upstream five ways, interleaved round by
// round so machine noise hits all alike:
//   direct       the upstream itself
//   native       bench/floor-worker.js /native/...: a Worker that pipes the body without touching it (reference)
//   floor        bench/floor-worker.js: a pass-through Worker that moves every chunk through JS unchanged, the least
//                any Worker pays that must see the bytes (the router rewrites `model` in each chunk); same runtime as
//                `npm start`. Router minus floor is what the router's code costs.
//   npm start    the router, built and served by scripts/start.mjs (workerd, no dev server)
//   npm run dev  the router under wrangler dev (scripts/dev.mjs)
// Upstreams: the real llama-server on the project's tiny model (-t 1) and bench/synthetic-upstream.mjs, which streams
// llama-server-shaped chunks as fast as it can. The router has client auth on (a key), both hosts configured with
// discover:false and a configured model (no probe in the path), pushed to local KV with `npm run config -- push --local`.
//
// Writes bench/results/<stamp>.md (the table) and <stamp>.json (figures, date, commit, machine, versions), plus the
// per-request samples in <stamp>.raw.json (gitignored). --quick (CI: catches a broken bench) runs few requests and
// writes .cache/bench-results/quick-latest.{md,json}. Installs llama-server and writes the model itself when missing.
import { hasContent, sseData } from "./sse-client.mjs";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT, cleanup, cpuNs, descendants, ensureLlamaServer, ensureModel, firstJsonLine, freePort, procStat, pushConfig, setLogDir, startProcess, waitHealthy, LAUNCHER } from "./processes.mjs";
import { renderBarPanels } from "./bar-chart.mjs";
import { environment, median, pct } from "./report.mjs";
import { ROUTING_TARGET_P50_MS, measureRouting } from "./routing-micro.mjs";

// `npm run bench -- continuation [--quick]`: mid-stream continuation on real hosts (bench/continuation.mjs, which exits).
if (process.argv[2] === "continuation") await import("./continuation.mjs").then(() => new Promise(() => {}));

process.chdir(ROOT);
const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const outArg = argv.indexOf("--out");
// A quick run only proves the bench works: its table goes to .cache (ignored by git), not to bench/results.
const OUT_DIR = resolve(outArg >= 0 ? argv[outArg + 1] : QUICK ? ".cache/bench-results" : "bench/results");
const WORK = resolve(".cache/bench");
const LOGS = join(WORK, "logs");
setLogDir(LOGS);
const CLIENT_KEY = "bench-client-key-3c9e";
const TOKENS = 64;
const LLAMA_SLOTS = 8;
const started = Date.now();

/** Request counts. Full: the figures in the README. Quick: enough to exercise every code path in well under a minute. */
const PLAN = QUICK
  ? { warmup: 5, streamRounds: 2, streamPerRound: 8, jsonRounds: 2, jsonPerRound: 4, concRounds: 1, conc: { 16: 1, 64: 1 }, memoryRequests: 512, hopRequests: 50, discoveryRequests: 5, arenaRounds: 2, cpuRounds: 1, cpuShort: 10, cpuLong: 3 }
  : { warmup: 30, streamRounds: 10, streamPerRound: 30, jsonRounds: 10, jsonPerRound: 20, concRounds: 6, conc: { 16: 4, 64: 2 }, memoryRequests: 10_000, hopRequests: 1_000, discoveryRequests: 100, arenaRounds: 10, cpuRounds: 4, cpuShort: 100, cpuLong: 20 };
/** The CPU rows' long answer: the cost per token is the difference between it and a TOKENS-token answer. */
const LONG_TOKENS = 1_024;

const log = (...a) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...a);

// ---------------------------------------------------------------------------------------------------------------
// Client

const now = () => performance.now();

function chatBody(model, stream, extra = {}) {
  return JSON.stringify({ model, stream, max_tokens: TOKENS, ignore_eos: true, messages: [{ role: "user", content: "Write something." }], ...extra });
}

/** One streamed request: TTFT (first data event with content), events, [DONE] seen, total time. */
async function streamOnce(t, extraBody) {
  const t0 = now();
  let ttft = NaN;
  let chunks = 0;
  let done = false;
  let failure;
  try {
    const res = await fetch(t.url, { method: "POST", headers: t.headers, body: chatBody(t.model, true, extraBody) });
    if (res.status !== 200) {
      failure = `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`;
    } else {
      for await (const data of sseData(res.body)) {
        if (data === "[DONE]") { done = true; continue; }
        chunks++;
        if (data.startsWith('{"error"')) failure = `stream error: ${data.slice(0, 200)}`;
        else if (Number.isNaN(ttft) && hasContent(data)) ttft = now() - t0;
      }
      if (!done && !failure) failure = "stream ended without [DONE]";
    }
  } catch (err) {
    failure = `network: ${err.cause?.message ?? err.message}`;
  }
  return { ok: !failure, ttft, chunks, ms: now() - t0, failure };
}

async function jsonOnce(t) {
  const t0 = now();
  let failure;
  try {
    const res = await fetch(t.url, { method: "POST", headers: t.headers, body: chatBody(t.model, false) });
    const text = await res.text();
    if (res.status !== 200) failure = `HTTP ${res.status}: ${text.slice(0, 200)}`;
    else if (!text.includes('"choices"')) failure = `bad body: ${text.slice(0, 200)}`;
  } catch (err) {
    failure = `network: ${err.cause?.message ?? err.message}`;
  }
  return { ok: !failure, ms: now() - t0, failure };
}

/** c workers, each doing n streamed requests back to back. Aggregate chunks/s over the batch's wall time. */
async function concurrent(t, c, n) {
  const t0 = now();
  const per = await Promise.all(Array.from({ length: c }, async () => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await streamOnce(t));
    return out;
  }));
  const wall = now() - t0;
  const samples = per.flat();
  const chunks = samples.reduce((s, r) => s + r.chunks, 0);
  return { wall, chunks, chunksPerSec: (chunks * 1000) / wall, samples };
}

// ---------------------------------------------------------------------------------------------------------------
// Main

const TARGETS = ["direct", "native", "floor", "start", "dev"];
const TARGET_LABEL = { direct: "direct", native: "native pipe", floor: "floor", start: "npm start", dev: "npm run dev" };
const UPSTREAMS = ["llama", "synth"];
const UPSTREAM_LABEL = { llama: "llama-server", synth: "synthetic" };

async function main() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  ensureLlamaServer(log);
  // The project's tiny model, as test/e2e/support/llama-server.ts ensureModel("tiny-a") writes it (same file, reused).
  const model = ensureModel(".cache/models/tiny-a.gguf", { embd: 64, layers: 2, ctx: 65536, seed: 1 });

  // Upstreams.
  const llamaPort = await freePort();
  const llama = startProcess("llama-server", LAUNCHER, ["--host", "127.0.0.1", "--port", String(llamaPort), "-t", "1", "-m", model, "--alias", "tiny", "-c", String(LLAMA_SLOTS * 1024), "-np", String(LLAMA_SLOTS)]);
  const synth = startProcess("synthetic-upstream", process.execPath, ["bench/synthetic-upstream.mjs", "--chunks", String(TOKENS)], { pipeStdout: true });
  const synthUrl = `http://127.0.0.1:${(await firstJsonLine(synth)).port}`;
  const llamaUrl = `http://127.0.0.1:${llamaPort}`;

  // Router config: both hosts configured (discover:false, a configured model: no probe in the path), plus a
  // discovering provider on the same llama-server for the "discovery on" row, plus 4 arena models on the synthetic host.
  const stateDir = join(WORK, "state");
  pushConfig({
    version: 1,
    providers: [
      { id: "llama", baseUrl: llamaUrl, discover: false, models: [{ id: "tiny" }] },
      { id: "synth", baseUrl: synthUrl, discover: false, models: [{ id: "tiny" }, { id: "arena-1", upstream: "tiny" }, { id: "arena-2", upstream: "tiny" }, { id: "arena-3", upstream: "tiny" }, { id: "arena-4", upstream: "tiny" }] },
      { id: "llamad", baseUrl: llamaUrl, discover: true, models: [] },
    ],
    aliases: {},
  }, stateDir, WORK);

  // The three Workers, started together (wrangler dev is the slow one).
  const [floorPort, startPort, devPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const floor = startProcess("floor", process.execPath, ["bench/serve-floor.mjs", "--port", String(floorPort), "--upstream", `llama=${llamaUrl}`, "--upstream", `synth=${synthUrl}`], { pipeStdout: true });
  const buildDir = join(WORK, "worker");
  const start = startProcess("npm-start", process.execPath, ["scripts/start.mjs", "--port", String(startPort), "--persist-to", stateDir, "--outdir", buildDir, "--var", `ROUTER_API_KEYS:${CLIENT_KEY}`]);
  const dev = startProcess("npm-run-dev", process.execPath, ["scripts/dev.mjs", "--port", String(devPort), "--persist-to", stateDir, "--show-interactive-dev-session=false", "--var", `ROUTER_API_KEYS:${CLIENT_KEY}`]);
  const floorUrl = (await firstJsonLine(floor)).url;
  const startUrl = `http://127.0.0.1:${startPort}`;
  const devUrl = `http://127.0.0.1:${devPort}`;
  await Promise.all([waitHealthy(llama, `${llamaUrl}/health`), waitHealthy(start, `${startUrl}/health`), waitHealthy(dev, `${devUrl}/health`)]);
  log(`ready: llama ${llamaUrl}, synthetic ${synthUrl}, floor ${floorUrl}, npm start ${startUrl}, npm run dev ${devUrl}`);

  const auth = { "content-type": "application/json", authorization: `Bearer ${CLIENT_KEY}` };
  const target = (base, path, model) => ({ url: base + path, model, headers: auth });
  const T = {
    direct: { llama: target(llamaUrl, "/v1/chat/completions", "tiny"), synth: target(synthUrl, "/v1/chat/completions", "tiny") },
    native: { llama: target(floorUrl, "/native/llama/v1/chat/completions", "tiny"), synth: target(floorUrl, "/native/synth/v1/chat/completions", "tiny") },
    floor: { llama: target(floorUrl, "/llama/v1/chat/completions", "tiny"), synth: target(floorUrl, "/synth/v1/chat/completions", "tiny") },
    start: { llama: target(startUrl, "/v1/chat/completions", "llama/tiny"), synth: target(startUrl, "/v1/chat/completions", "synth/tiny") },
    dev: { llama: target(devUrl, "/v1/chat/completions", "llama/tiny"), synth: target(devUrl, "/v1/chat/completions", "synth/tiny") },
  };

  // The router must really rewrite and really check keys, or the comparison is meaningless.
  const probe = await fetch(T.start.synth.url, { method: "POST", headers: auth, body: chatBody("synth/tiny", false) }).then((r) => r.json());
  if (probe.model !== "synth/tiny") throw new Error(`npm start did not rewrite model: ${JSON.stringify(probe).slice(0, 300)}`);
  const unauth = await fetch(T.start.synth.url, { method: "POST", headers: { "content-type": "application/json" }, body: chatBody("synth/tiny", false) });
  await unauth.arrayBuffer();
  if (unauth.status !== 401) throw new Error(`npm start accepted a request without a key (${unauth.status})`);

  const results = { stream: {}, json: {}, conc: {}, failures: {} };
  const failures = Object.fromEntries(TARGETS.map((t) => [t, []]));
  const count = (tgt, samples) => { for (const s of samples) if (!s.ok) failures[tgt].push(s.failure); };
  const order = (round) => TARGETS.map((_, i) => TARGETS[(i + round) % TARGETS.length]);

  log("warmup");
  for (const up of UPSTREAMS) for (const tgt of TARGETS) for (let i = 0; i < PLAN.warmup; i++) await streamOnce(T[tgt][up]);

  // 1. Streamed, c=1: TTFT and chunks/s from the same requests.
  for (const up of UPSTREAMS) {
    log(`streamed c=1, ${UPSTREAM_LABEL[up]}`);
    const acc = Object.fromEntries(TARGETS.map((t) => [t, { samples: [], wall: 0 }]));
    for (let r = 0; r < PLAN.streamRounds; r++) {
      for (const tgt of order(r)) {
        const t0 = now();
        for (let i = 0; i < PLAN.streamPerRound; i++) acc[tgt].samples.push(await streamOnce(T[tgt][up]));
        acc[tgt].wall += now() - t0;
      }
    }
    results.stream[up] = {};
    for (const tgt of TARGETS) {
      const { samples, wall } = acc[tgt];
      count(tgt, samples);
      const ok = samples.filter((s) => s.ok);
      results.stream[up][tgt] = {
        n: samples.length,
        ttftP50: median(ok.map((s) => s.ttft)), ttftP99: pct(ok.map((s) => s.ttft), 99),
        chunksPerSec: (ok.reduce((s, x) => s + x.chunks, 0) * 1000) / wall,
        streamP50: median(ok.map((s) => s.ms)), streamP99: pct(ok.map((s) => s.ms), 99),
        samples: samples.map((s) => [round3(s.ttft), round3(s.ms), s.chunks, s.ok ? 1 : 0]),
      };
    }
  }

  // 2. Non-streamed, c=1: end-to-end time.
  for (const up of UPSTREAMS) {
    log(`non-streamed c=1, ${UPSTREAM_LABEL[up]}`);
    const acc = Object.fromEntries(TARGETS.map((t) => [t, []]));
    for (let r = 0; r < PLAN.jsonRounds; r++) {
      for (const tgt of order(r)) for (let i = 0; i < PLAN.jsonPerRound; i++) acc[tgt].push(await jsonOnce(T[tgt][up]));
    }
    results.json[up] = {};
    for (const tgt of TARGETS) {
      count(tgt, acc[tgt]);
      const ok = acc[tgt].filter((s) => s.ok).map((s) => s.ms);
      results.json[up][tgt] = { n: acc[tgt].length, p50: median(ok), p99: pct(ok, 99), samples: acc[tgt].map((s) => round3(s.ms)) };
    }
  }

  // 3. Streamed at c=16 and c=64: aggregate chunks/s.
  for (const c of [16, 64]) {
    for (const up of UPSTREAMS) {
      log(`streamed c=${c}, ${UPSTREAM_LABEL[up]}`);
      const acc = Object.fromEntries(TARGETS.map((t) => [t, []]));
      for (let r = 0; r < PLAN.concRounds; r++) for (const tgt of order(r)) acc[tgt].push(await concurrent(T[tgt][up], c, PLAN.conc[c]));
      (results.conc[c] ??= {})[up] = {};
      for (const tgt of TARGETS) {
        const rounds = acc[tgt];
        const samples = rounds.flatMap((x) => x.samples);
        count(tgt, samples);
        const ok = samples.filter((s) => s.ok);
        const perStream = ok.map((s) => (s.chunks * 1000) / s.ms);
        results.conc[c][up][tgt] = {
          n: samples.length,
          chunksPerSec: (rounds.reduce((s, x) => s + x.chunks, 0) * 1000) / rounds.reduce((s, x) => s + x.wall, 0),
          roundChunksPerSec: rounds.map((x) => Math.round(x.chunksPerSec)),
          perStreamP50: median(perStream), perStreamP99: pct(perStream, 1),
          streamP50: median(ok.map((s) => s.ms)), streamP99: pct(ok.map((s) => s.ms), 99),
        };
      }
    }
  }

  // 4. Discovery on: a model only the host's /v1/models names (llamad/tiny), through npm start.
  log("discovery on (npm start, llama-server)");
  {
    const t = target(startUrl, "/v1/chat/completions", "llamad/tiny");
    const base = target(startUrl, "/v1/chat/completions", "llama/tiny");
    const on = [], off = [];
    for (let i = 0; i < PLAN.discoveryRequests; i++) {
      on.push(await streamOnce(t));
      off.push(await streamOnce(base));
    }
    count("start", on);
    count("start", off);
    const okOn = on.filter((s) => s.ok), okOff = off.filter((s) => s.ok);
    results.discovery = {
      n: on.length,
      on: { ttftP50: median(okOn.map((s) => s.ttft)), ttftP99: pct(okOn.map((s) => s.ttft), 99) },
      off: { ttftP50: median(okOff.map((s) => s.ttft)), ttftP99: pct(okOff.map((s) => s.ttft), 99) },
    };
  }

  // 5. Arena: only if the router has /api/arena.
  log("arena");
  results.arena = await arena(startUrl, auth, T.start.synth);

  // 6. CPU: workerd's CPU time (every thread) per streamed request, for the native pipe, the floor and the router,
  // on the synthetic host (the upstream's own CPU is another process). Short and long answers, interleaved.
  log("workerd CPU per streamed request (synthetic)");
  const workerd = descendants(start.pid, "workerd");
  const floorWorkerd = descendants(floor.pid, "workerd");
  results.cpu = await cpuPerRequest({ native: floorWorkerd[0], floor: floorWorkerd[0], start: workerd[0] }, T, (tgt, x) => count(tgt, x));

  // 7. Node hop: CPU the Node process of `npm start` spends while workerd serves requests.
  log("node hop check");
  {
    const before = { node: procStat(start.pid), workerd: procStat(workerd[0]) };
    const samples = [];
    for (let i = 0; i < PLAN.hopRequests; i++) samples.push(await streamOnce(T.start.synth));
    count("start", samples);
    const after = { node: procStat(start.pid), workerd: procStat(workerd[0]) };
    const owner = listenerOwner(startPort);
    results.nodeHop = {
      requests: samples.length,
      nodeCpuUsPerRequest: ((after.node.cpuMs - before.node.cpuMs) * 1000) / samples.length,
      workerdCpuUsPerRequest: ((after.workerd.cpuMs - before.workerd.cpuMs) * 1000) / samples.length,
      listener: owner,
    };
  }

  // 8. Memory: workerd RSS of `npm start` and of the floor before and after many streamed requests (synthetic, c=16).
  // The floor's own growth is the platform's (workerd keeps memory it once used); a leak is growth beyond it.
  log(`memory: ${PLAN.memoryRequests} streamed requests through npm start, then the floor`);
  results.memory = await memory(workerd[0], T.start.synth, (x) => count("start", x));
  results.memoryFloor = await memory(floorWorkerd[0], T.floor.synth, (x) => count("floor", x));

  results.failures = Object.fromEntries(TARGETS.map((t) => [t, { count: failures[t].length, examples: [...new Set(failures[t])].slice(0, 5) }]));

  // 9. Bundle: what `wrangler deploy --dry-run --outdir` produced for npm start.
  const bundle = readFileSync(join(buildDir, "index.js"));
  results.bundle = { bytes: bundle.length, gzipBytes: gzipSync(bundle).length };

  const meta = metadata();
  await cleanup();

  // 10. What the fleet router's ranking costs one request, in Node, with every process stopped (bench/routing-micro.mjs).
  log("fleet routing cost (bench/routing-micro.mjs)");
  // Under a second either way, so a quick run measures it as fully as a full one.
  results.routing = await measureRouting({ iterations: 5_000, warmup: 1_000 });
  meta.wallSeconds = Math.round((Date.now() - started) / 100) / 10;
  write(meta, results);
}

const CPU_TARGETS = ["native", "floor", "start"];

/**
 * workerd CPU per streamed request of TOKENS and of LONG_TOKENS tokens, and the difference per 1,000 tokens (what each
 * token costs, the request's fixed cost taken out). Each batch is timed alone: before and after, the process's CPU.
 */
async function cpuPerRequest(pids, T, onSamples) {
  const acc = Object.fromEntries(CPU_TARGETS.map((t) => [t, { short: { ns: 0, n: 0 }, long: { ns: 0, n: 0 } }]));
  for (let r = 0; r < PLAN.cpuRounds; r++) {
    for (const tgt of CPU_TARGETS.map((_, i) => CPU_TARGETS[(i + r) % CPU_TARGETS.length])) {
      for (const [size, tokens, n] of [["short", TOKENS, PLAN.cpuShort], ["long", LONG_TOKENS, PLAN.cpuLong]]) {
        const before = cpuNs(pids[tgt]);
        const samples = [];
        for (let i = 0; i < n; i++) samples.push(await streamOnce(T[tgt].synth, { max_tokens: tokens }));
        acc[tgt][size].ns += cpuNs(pids[tgt]) - before;
        acc[tgt][size].n += samples.length;
        onSamples(tgt, samples);
      }
    }
  }
  return Object.fromEntries(CPU_TARGETS.map((t) => {
    const perShort = acc[t].short.ns / acc[t].short.n / 1000, perLong = acc[t].long.ns / acc[t].long.n / 1000;
    return [t, { requests: acc[t].short.n + acc[t].long.n, perRequestUs: perShort, perLongRequestUs: perLong, per1000TokensUs: ((perLong - perShort) / (LONG_TOKENS - TOKENS)) * 1000 }];
  }));
}

async function memory(pid, t, onSamples) {
  const rss = () => procStat(pid).rssKiB;
  const points = [{ requests: 0, rssKiB: rss() }];
  const c = 16;
  let done = 0;
  const step = PLAN.memoryRequests / 4;
  while (done < PLAN.memoryRequests) {
    const n = Math.min(step, PLAN.memoryRequests - done);
    const r = await concurrent(t, c, Math.ceil(n / c));
    onSamples(r.samples);
    done += r.samples.length;
    points.push({ requests: done, rssKiB: rss() });
  }
  await sleep(2_000);
  points.push({ requests: done, rssKiB: rss(), note: "after 2 s idle" });
  // Growth after the first quarter (warm-up: JIT, pools, the heap reaching its working size).
  return { points, beforeKiB: points[0].rssKiB, warmKiB: points[1].rssKiB, afterKiB: points.at(-1).rssKiB };
}

function listenerOwner(port) {
  try {
    const line = execFileSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8" }).trim();
    return /users:\(\("([^"]+)"/.exec(line)?.[1] ?? line;
  } catch {
    return "unknown (ss not available)";
  }
}

async function arena(base, headers, single) {
  const models = ["synth/arena-1", "synth/arena-2", "synth/arena-3", "synth/arena-4"];
  const probe = await fetch(`${base}/api/arena`, { method: "POST", headers, body: "{}" }).catch(() => undefined);
  const text = probe ? await probe.text() : "";
  if (!probe || probe.status === 404) return { available: false };
  // The baseline is the same 4 models streamed AT ONCE through /v1 (the slowest of the 4 = that run's wall time), so
  // that the difference is what the Arena's merging costs, not how the host copes with 4 streams at a time.
  const walls = [];
  const singles = [];
  let failed = 0;
  for (let r = 0; r < PLAN.arenaRounds; r++) {
    const four = await Promise.all(models.map((m) => streamOnce({ ...single, model: m })));
    failed += four.filter((s) => !s.ok).length;
    if (four.every((s) => s.ok)) singles.push(Math.max(...four.map((s) => s.ms)));
    const t0 = now();
    try {
      const res = await fetch(`${base}/api/arena`, { method: "POST", headers, body: JSON.stringify({ models, messages: [{ role: "user", content: "Write something." }], max_tokens: TOKENS, ignore_eos: true }) });
      const body = await res.text();
      if (res.status !== 200 || !/event: done/.test(body) || /"error"/.test(body)) failed++;
      else walls.push(now() - t0);
    } catch {
      failed++;
    }
  }
  const slowest = median(singles);
  return { available: true, n: walls.length, failed, wallP50: median(walls), wallP99: pct(walls, 99), slowestSingleP50: slowest, probeStatus: probe.status, probe: text.slice(0, 100) };
}

const SERIES = [
  { key: "direct", label: "direct", color: "#9e9e9e" },
  { key: "native", label: "native pipe", color: "#2e7d32" },
  { key: "floor", label: "floor", color: "#8bc34a" },
  { key: "start", label: "npm start", color: "#3b6ea8" },
  { key: "dev", label: "npm run dev", color: "#d9822b" },
];

/** The table's main figures as bars, a bar per path: TTFT, non-streamed time, chunks/s per host and concurrency, CPU. */
function chart(meta, r) {
  const ms = (v) => v.toFixed(v < 10 ? 2 : 1);
  const thousands = (v) => (v >= 10_000 ? `${Math.round(v / 1000)}k` : v >= 1_000 ? `${(v / 1000).toFixed(1)}k` : String(Math.round(v)));
  const values = (src, key) => Object.fromEntries(TARGETS.filter((t) => src[t]).map((t) => [t, src[t][key]]));
  const perUpstream = (title, of, fmt) => ({ title, fmt, groups: UPSTREAMS.map((up) => ({ label: UPSTREAM_LABEL[up], values: of(up) })) });
  const chunks = (up) => ({
    title: `chunks/s, ${UPSTREAM_LABEL[up]}, higher is better`,
    fmt: thousands,
    groups: [1, 16, 64].map((c) => ({ label: `c=${c}`, values: values(c === 1 ? r.stream[up] : r.conc[c][up], "chunksPerSec") })),
  });
  return renderBarPanels({
    title: `npm run bench: the router against the native pipe${meta.mode === "quick" ? ", quick run" : ""}`,
    series: SERIES,
    panels: [
      perUpstream("TTFT c=1, p50 (ms), lower is better", (up) => values(r.stream[up], "ttftP50"), ms),
      perUpstream("non-streamed answer c=1, p50 (ms), lower is better", (up) => values(r.json[up], "p50"), ms),
      chunks("llama"),
      chunks("synth"),
      {
        title: "workerd CPU (µs), synthetic host, lower is better",
        fmt: thousands,
        groups: [
          { label: `per ${TOKENS}-token request`, values: Object.fromEntries(CPU_TARGETS.map((t) => [t, r.cpu[t].perRequestUs])) },
          { label: "per 1,000 tokens", values: Object.fromEntries(CPU_TARGETS.map((t) => [t, r.cpu[t].per1000TokensUs])) },
        ],
      },
    ],
    footer: `${meta.date.slice(0, 16).replace("T", " ")} UTC, commit ${meta.commit}; ${meta.machine.cores} cores; method: docs/benchmark.md`,
  });
}

const round3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);

/** The run's date, commit, machine and versions (bench/report.mjs), and this bench's setup. */
function metadata() {
  const { date, commit, machine, versions } = environment();
  return {
    date,
    mode: QUICK ? "quick" : "full",
    commit,
    machine,
    versions,
    setup: { tokens: TOKENS, llamaServerArgs: `-t 1 -np ${LLAMA_SLOTS} -c ${LLAMA_SLOTS * 1024}, tiny model (n_embd 64, 2 layers)`, plan: PLAN, client: "Node fetch (undici), keep-alive, in the bench process" },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Report

const TARGETS_MET = "met";
const TARGETS_MISSED = "**missed**";

function write(meta, r) {
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "–");
  const signedMs = (x) => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${x.toFixed(2)}` : "–");
  const n0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–");
  const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : "–");
  const rows = [];
  const targets = [];
  const row = (figure, up, v, fmt, target = "", met) => {
    rows.push(`| ${figure} | ${up} | ${fmt(v.direct)} | ${fmt(v.native)} | ${fmt(v.floor)} | ${fmt(v.start)} | ${fmt(v.dev)} | ${ratio(v.floor, v.direct)} | ${ratio(v.start, v.floor)} | ${ratio(v.start, v.native)} | ${ratio(v.start, v.direct)} | ${ratio(v.dev, v.floor)} | ${target} | ${met === undefined ? "" : met ? TARGETS_MET : TARGETS_MISSED} |`);
    if (met !== undefined) targets.push({ figure: `${figure} (${up})`, target, met });
  };
  const pick = (obj, key) => Object.fromEntries(TARGETS.map((t) => [t, obj[t]?.[key]]));

  for (const up of UPSTREAMS) {
    const s = r.stream[up];
    const p50 = pick(s, "ttftP50"), p99 = pick(s, "ttftP99");
    // Every target is against the native pipe, the physical limit for a Worker.
    row("TTFT c=1, p50 (ms)", UPSTREAM_LABEL[up], p50, f, `start ≤ native + 0.5 ms (${signedMs(p50.start - p50.native)})`, p50.start - p50.native <= 0.5);
    row("TTFT c=1, p99 (ms)", UPSTREAM_LABEL[up], p99, f, `start ≤ native + 5 ms (${signedMs(p99.start - p99.native)})`, p99.start - p99.native <= 5);
  }
  for (const up of UPSTREAMS) {
    const j = r.json[up];
    const p50 = pick(j, "p50");
    row("non-streamed e2e c=1, p50 (ms)", UPSTREAM_LABEL[up], p50, f, `start ≤ native + 1 ms (${signedMs(p50.start - p50.native)})`, p50.start - p50.native <= 1);
    row("non-streamed e2e c=1, p99 (ms)", UPSTREAM_LABEL[up], pick(j, "p99"), f);
  }
  for (const c of [1, 16, 64]) {
    for (const up of UPSTREAMS) {
      const src = c === 1 ? r.stream[up] : r.conc[c][up];
      const cps = pick(src, "chunksPerSec");
      const share = up === "llama" ? 0.95 : 0.6;
      row(`chunks/s c=${c}`, UPSTREAM_LABEL[up], cps, n0, `start ≥ ${share * 100}% of native (${f((cps.start / cps.native) * 100, 1)}%)`, cps.start >= share * cps.native);
      row(`  stream time c=${c}, p50 (ms)`, UPSTREAM_LABEL[up], pick(src, "streamP50"), f);
      row(`  stream time c=${c}, p99 (ms)`, UPSTREAM_LABEL[up], pick(src, "streamP99"), f);
    }
  }
  const cpu = r.cpu;
  const cpuOf = (key) => Object.fromEntries(CPU_TARGETS.map((t) => [t, cpu[t][key]]));
  row(`workerd CPU per streamed request, ${TOKENS} tokens (µs)`, UPSTREAM_LABEL.synth, cpuOf("perRequestUs"), n0);
  row(`workerd CPU per streamed request, ${LONG_TOKENS.toLocaleString("en-US")} tokens (µs)`, UPSTREAM_LABEL.synth, cpuOf("perLongRequestUs"), n0);
  const per1k = cpuOf("per1000TokensUs");
  row("workerd CPU per 1,000 streamed tokens (µs)", UPSTREAM_LABEL.synth, per1k, n0, `start ≤ 1.5× native (${ratio(per1k.start, per1k.native)})`, per1k.start <= 1.5 * per1k.native);
  const failed = Object.fromEntries(TARGETS.map((t) => [t, r.failures[t].count]));
  row("failed requests", "both", failed, (x) => String(x), "start: 0", failed.start === 0);

  const extra = [];
  const a = r.arena;
  if (!a.available) {
    extra.push(`| Arena, 4 models (wall vs the slowest of the 4 streamed at once via /v1) | n/a (no /api/arena yet) | ≤ slowest + 5 ms | n/a |`);
  } else {
    const met = a.failed === 0 && a.wallP50 - a.slowestSingleP50 <= 5;
    extra.push(`| Arena, 4 models on the synthetic host | wall p50 ${f(a.wallP50)} ms, p99 ${f(a.wallP99)} ms; the same 4 at once via /v1, slowest p50 ${f(a.slowestSingleP50)} ms (${f(a.wallP50 - a.slowestSingleP50)} ms over); ${a.failed} failed | ≤ slowest + 5 ms | ${met ? TARGETS_MET : TARGETS_MISSED} |`);
    targets.push({ figure: "Arena", target: "≤ slowest + 5 ms", met });
  }
  const gzKiB = r.bundle.gzipBytes / 1024;
  extra.push(`| Worker bundle (wrangler deploy --dry-run) | ${f(r.bundle.bytes / 1024, 1)} KiB, **${f(gzKiB, 1)} KiB gzipped** | ≤ 100 KiB gzipped | ${gzKiB <= 100 ? TARGETS_MET : TARGETS_MISSED} |`);
  targets.push({ figure: "bundle", target: "≤ 100 KiB gzipped", met: gzKiB <= 100 });
  const m = r.memory, mf = r.memoryFloor;
  const mib = (k) => k / 1024;
  const signed = (x) => `${x >= 0 ? "+" : ""}${f(x, 1)}`;
  const series = (x) => x.points.map((p) => f(mib(p.rssKiB), 0)).join(" → ");
  const warmGrowth = (x) => mib(x.afterKiB - x.warmKiB);
  // Flat: after warm-up the router grows no more than the floor does on the same requests (+8 MiB of slack).
  const flat = warmGrowth(m) <= Math.max(0, warmGrowth(mf)) + 8;
  extra.push(`| workerd RSS over ${m.points.at(-2).requests.toLocaleString("en-US")} streamed requests (c=16, synthetic), MiB | npm start ${series(m)} (${signed(warmGrowth(m))} after the first quarter); floor ${series(mf)} (${signed(warmGrowth(mf))}) | flat: after warm-up ≤ the floor's growth + 8 MiB | ${flat ? TARGETS_MET : TARGETS_MISSED} |`);
  targets.push({ figure: "memory", target: "flat", met: flat });
  const h = r.nodeHop;
  extra.push(`| Node hop (npm start) | listener owned by \`${h.listener}\`; Node process CPU ${f(h.nodeCpuUsPerRequest, 1)} µs/request vs workerd ${f(h.workerdCpuUsPerRequest, 1)} µs/request (${h.requests} streamed requests) | no Node in the request path | ${h.listener === "workerd" ? TARGETS_MET : TARGETS_MISSED} |`);
  const rt = r.routing;
  const routingMet = rt.both.p50 <= ROUTING_TARGET_P50_MS;
  extra.push(`| fleet routing per request (prefix chain + rank in Node for one ${rt.request.turns}-turn agent request, ${rt.request.messages} messages, ~${Math.round(rt.request.approxTokens / 1000)}k tokens, against a pool of ${rt.request.hosts} hosts; bench/routing-micro.mjs) | p50 ${f(rt.both.p50, 3)} ms, p99 ${f(rt.both.p99, 3)} ms (prefix chain ${f(rt.chain.p50, 3)}, rank ${f(rt.rank.p50, 3)} p50; ${rt.iterations.toLocaleString("en-US")} requests) | ≤ ${ROUTING_TARGET_P50_MS} ms p50 | ${routingMet ? TARGETS_MET : TARGETS_MISSED} |`);
  targets.push({ figure: "fleet routing per request", target: `≤ ${ROUTING_TARGET_P50_MS} ms p50`, met: routingMet });
  const d = r.discovery;
  extra.push(`| discovery on (npm start, llama-server, model known only from /v1/models) | TTFT p50 ${f(d.on.ttftP50)} ms, p99 ${f(d.on.ttftP99)} ms vs configured model ${f(d.off.ttftP50)} / ${f(d.off.ttftP99)} ms (${d.n} each, alternating) | – | |`);

  const failureNotes = TARGETS.filter((t) => r.failures[t].count).map((t) => `- ${TARGET_LABEL[t]}: ${r.failures[t].count} failed, e.g. ${r.failures[t].examples.map((e) => `\`${e.replace(/`/g, "'")}\``).join("; ")}`);
  const missed = targets.filter((t) => !t.met);
  const md = [
    `## Bench ${meta.mode === "quick" ? "(--quick: too few requests for conclusions) " : ""}${meta.date.slice(0, 16).replace("T", " ")} UTC, commit ${meta.commit}`,
    "",
    `Machine: ${meta.machine.cpu}, ${meta.machine.cores} cores, ${meta.machine.memoryGiB} GiB, ${meta.machine.os}. ` +
      `Node ${meta.versions.node}, wrangler ${meta.versions.wrangler}, miniflare ${meta.versions.miniflare}, workerd ${meta.versions.workerd}, llama-server ${meta.versions.llamaServer}. ` +
      `Upstreams: llama-server (${meta.setup.llamaServerArgs}) and the synthetic host; ${TOKENS} tokens per request (ignore_eos). Client: ${meta.setup.client}. Wall time ${meta.wallSeconds} s.`,
    "",
    "| figure | upstream | direct | native pipe | floor | npm start | npm run dev | floor/direct | start/floor | start/native | start/direct | dev/floor | target (npm start) | |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ...rows,
    "",
    "| figure | result | target | |",
    "|---|---|---|---|",
    ...extra,
    "",
    missed.length ? `Targets missed: ${missed.map((t) => t.figure).join("; ")}.` : "Every npm start target met.",
    "",
    `![TTFT, non-streamed time, chunks/s and CPU per path](${QUICK ? "quick-latest" : meta.date.slice(0, 16).replace(/[-:]/g, "").replace("T", "-")}.svg)`,
    ...(failureNotes.length ? ["", "Failures:", ...failureNotes] : []),
    "",
    "Columns: direct = the upstream itself; native pipe = a Worker that returns the host's body untouched (workerd pumps it, no JS per chunk; " +
      "only a Worker that never looks at the bytes can do this); floor = the same Worker moving every chunk through JS unchanged " +
      "(a read loop into an IdentityTransformStream, the cheapest way to see each chunk, and what the router's byte-level `model` rewrite needs); " +
      "the targets compare npm start with the native pipe; npm start / npm run dev = the router (client key checked, `model` rewritten). " +
      "TTFT: request start to the first SSE event with content. chunks/s: SSE data events received by all streams / wall time of the batches " +
      "(c=1: one stream at a time; c=16/64: that many streams at once, each running requests back to back). Stream time: request start to [DONE]. " +
      "Interleaved: each round runs every path in rotated order. " +
      `workerd CPU: the CPU time of every thread of the Worker's workerd process (the scheduler's count, /proc/<pid>/task/*/schedstat) over a batch of streamed requests on the synthetic host, per request; per 1,000 tokens = the difference between ${LONG_TOKENS.toLocaleString("en-US")}-token and ${TOKENS}-token requests, scaled (the per-request cost taken out). ` +
      "It includes what the runtime spends on the sockets, which Cloudflare does not bill as a Worker's CPU time: an upper bound.",
  ].join("\n");

  mkdirSync(OUT_DIR, { recursive: true });
  const stamp = QUICK ? "quick-latest" : meta.date.slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
  writeFileSync(join(OUT_DIR, `${stamp}.svg`), chart(meta, r));
  const { stream, json, ...rest } = r;
  const strip = (o) => Object.fromEntries(Object.entries(o).map(([up, v]) => [up, Object.fromEntries(Object.entries(v).map(([t, x]) => [t, { ...x, samples: undefined }]))]));
  writeFileSync(join(OUT_DIR, `${stamp}.md`), md + "\n");
  writeFileSync(join(OUT_DIR, `${stamp}.json`), JSON.stringify({ ...meta, results: { stream: strip(stream), json: strip(json), ...rest }, targets }, null, 2) + "\n");
  if (!QUICK) {
    writeFileSync(join(OUT_DIR, `${stamp}.raw.json`), JSON.stringify({ ...meta, results: r }) + "\n");
  }
  console.log(md);
  log(`wrote ${join(OUT_DIR, stamp)}.{md,json,svg}${QUICK ? "" : " (+ .raw.json)"}`);
}

if (argv.includes("fleet")) {
  // `npm run bench -- fleet [--quick]`: the fleet-routing benchmark (bench/fleet.mjs), which runs on import.
  await import("./fleet.mjs");
} else {
  main().catch(async (err) => {
    console.error(err);
    await cleanup();
    process.exit(1);
  });
}
