#!/usr/bin/env node
// `node bench/continuation-cost.mjs [--rounds N]`: what a continuable stream costs in workerd, A/B on one router.
//
// The router (`npm start`, client key on) in front of bench/synthetic-upstream.mjs, which answers `n_probs` and
// `timings_per_token` as llama-server does (a logprobs and a timings member on every token event). Two aliases of
// the same host: `on` (continuation on, the default: the router asks for ids and counts and cuts them on bytes) and
// `off` (`"continuation": false`: plain chunks, today's relay), each also with the client asking for the ids itself
// (see SIDES). Rounds rotate the sides so machine noise hits all; per side: chunks/s at c=1 and c=16, and workerd's
// CPU time per streamed request (/proc, utime + stime), which is what a Worker is billed for. 256 tokens per
// request. Prints a markdown table.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const ROOT = resolve(new URL("..", import.meta.url).pathname);
process.chdir(ROOT);
const argIndex = process.argv.indexOf("--rounds");
const ROUNDS = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 6;
const TOKENS = 256;
const WORK = resolve(".cache/bench-continuation-cost");
const KEY = "bench-continuation-cost-key-81aa";
const children = [];

function start(name, cmd, args, pipe = false) {
  mkdirSync(WORK, { recursive: true });
  const fd = openSync(join(WORK, `${name}.log`), "w");
  const child = spawn(cmd, args, { cwd: ROOT, detached: true, stdio: ["ignore", pipe ? "pipe" : fd, fd], env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" } });
  closeSync(fd);
  children.push(child);
  return child;
}
const stopAll = () => children.forEach((c) => { try { process.kill(-c.pid, "SIGKILL"); } catch {} });
process.on("exit", stopAll);

const freePort = () => new Promise((ok) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); }); });

function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

function workerdOf(pid) {
  const out = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number);
  for (const kid of out) {
    try {
      if (readFileSync(`/proc/${kid}/comm`, "utf8").trim() === "workerd") return kid;
    } catch {}
    const deeper = workerdOf(kid);
    if (deeper) return deeper;
  }
  return undefined;
}

/**
 * The four sides: the alias, and whether the client itself asks for ids and counts (then the host sends the large
 * chunks to both aliases, and nothing is cut): `off` vs `off+ids` is what the larger chunks cost the runtime, `off+ids`
 * vs `on+ids` what capturing costs, `off` vs `on` the whole price of a continuable stream.
 */
const SIDES = { off: ["off", false], on: ["on", false], "off+ids": ["off", true], "on+ids": ["on", true] };

async function streamOnce(url, side) {
  const [model, ids] = SIDES[side];
  const body = { model, stream: true, max_tokens: TOKENS, messages: [{ role: "user", content: "Write something." }], ...(ids && { n_probs: 1, timings_per_token: true }) };
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!text.endsWith("data: [DONE]\n\n") || text.includes('"logprobs"') !== ids || text.includes('"error"')) throw new Error(`bad stream through ${side}: ${text.slice(-300)}`);
  return text.split("\n\n").filter((e) => e.startsWith("data: {")).length;
}

async function batch(url, side, c, n) {
  const t0 = performance.now();
  const chunks = (await Promise.all(Array.from({ length: c }, async () => { let k = 0; for (let i = 0; i < n; i++) k += await streamOnce(url, side); return k; }))).reduce((a, b) => a + b, 0);
  return { chunks, ms: performance.now() - t0, requests: c * n };
}

async function main() {
  rmSync(WORK, { recursive: true, force: true });
  const synth = start("synthetic", process.execPath, ["bench/synthetic-upstream.mjs", "--chunks", String(TOKENS)], true);
  const synthPort = await new Promise((ok) => synth.stdout.once("data", (d) => ok(JSON.parse(String(d).split("\n")[0]).port)));
  const stateDir = join(WORK, "state");
  const configFile = join(WORK, "providers.json");
  writeFileSync(configFile, JSON.stringify({
    version: 1,
    providers: [{ id: "synth", baseUrl: `http://127.0.0.1:${synthPort}`, discover: false, models: [{ id: "tiny" }] }],
    aliases: { on: { members: ["synth/tiny"], policy: "ordered" }, off: { members: ["synth/tiny"], policy: "ordered", continuation: false } },
  }));
  const push = spawnSync(process.execPath, ["scripts/config.mjs", "push", "--local", "--persist-to", stateDir], { env: { ...process.env, LLAMA_PROVIDERS_PATH: configFile, CI: "1", WRANGLER_SEND_METRICS: "false" }, encoding: "utf8" });
  if (push.status !== 0) throw new Error(push.stderr);
  const port = await freePort();
  const router = start("router", process.execPath, ["scripts/start.mjs", "--port", String(port), "--persist-to", stateDir, "--outdir", join(WORK, "worker"), "--var", `ROUTER_API_KEYS:${KEY}`]);
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break; } catch {}
    if (i > 600) throw new Error("router not up");
    await sleep(100);
  }
  const workerd = workerdOf(router.pid);
  if (!workerd) throw new Error("no workerd under npm start");
  const sides = Object.keys(SIDES);
  for (const side of sides) for (let i = 0; i < 20; i++) await streamOnce(url, side); // warm-up

  const acc = Object.fromEntries(sides.map((side) => [side, { 1: [], 16: [], cpu: [], requests: 0 }]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(k + r) % sides.length]; // rotated, so no side always runs first
      const cpu0 = cpuMs(workerd);
      const one = await batch(url, side, 1, 20);
      const sixteen = await batch(url, side, 16, 4);
      acc[side].cpu.push(cpuMs(workerd) - cpu0);
      acc[side].requests += one.requests + sixteen.requests;
      acc[side][1].push((one.chunks * 1000) / one.ms);
      acc[side][16].push((sixteen.chunks * 1000) / sixteen.ms);
    }
  }
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const row = (m) => {
    const a = acc[m];
    const cpuPerReq = (a.cpu.reduce((x, y) => x + y, 0) * 1000) / a.requests; // µs
    return { c1: median(a[1]), c16: median(a[16]), cpuPerReq, cpuPerChunk: cpuPerReq / TOKENS };
  };
  const r = Object.fromEntries(sides.map((side) => [side, row(side)]));
  const cols = ["off", "on", "off+ids", "on+ids"];
  console.log(`| ${TOKENS}-token streams, synthetic host, npm start, ${ROUNDS} rotated rounds | ${cols.join(" | ")} |`);
  console.log(`|---|${cols.map(() => "--:").join("|")}|`);
  console.log(`| chunks/s c=1 (median of rounds) | ${cols.map((c) => r[c].c1.toFixed(0)).join(" | ")} |`);
  console.log(`| chunks/s c=16 (median of rounds) | ${cols.map((c) => r[c].c16.toFixed(0)).join(" | ")} |`);
  console.log(`| workerd CPU per streamed request (µs) | ${cols.map((c) => r[c].cpuPerReq.toFixed(0)).join(" | ")} |`);
  console.log(`| workerd CPU per chunk (µs) | ${cols.map((c) => r[c].cpuPerChunk.toFixed(1)).join(" | ")} |`);
  const d = (a, b) => `${(r[a].cpuPerChunk - r[b].cpuPerChunk).toFixed(1)} µs`;
  console.log(`\nPer chunk: the whole price of a continuable stream (on − off) ${d("on", "off")}; of it, the larger chunks the host ` +
    `sends (off+ids − off) ${d("off+ids", "off")}, and capturing the ids (on+ids − off+ids) ${d("on+ids", "off+ids")}.`);
}

main().then(() => { stopAll(); process.exit(0); }, (err) => { console.error(err); stopAll(); process.exit(1); });
