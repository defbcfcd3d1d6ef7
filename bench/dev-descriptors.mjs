#!/usr/bin/env node
// How many file descriptors `wrangler dev` holds while the router relays a fast stream, per dev-server setting.
//
//   node bench/dev-descriptors.mjs [--streams 2] [--tokens 1000] [--variants a,b,...] [--json FILE] [--keep]
//
// For each variant it starts the synthetic upstream (bench/synthetic-upstream.mjs: llama-server's chunk shape, one
// write per chunk, as fast as Node can write), pushes a providers config to a private local KV state, starts the
// router under wrangler dev on free loopback ports, streams `--streams` concurrent /v1/chat/completions answers of
// `--tokens` chunks each, and samples /proc/<pid>/fd of wrangler's Node process and of both workerd processes (the
// proxy one that owns the listening port, and the one running the router) every 100 ms, until the counts are back
// near their idle level (at most 30 s after the last stream ends). Everything runs in its own process group and is
// stopped before the next variant; wrangler's debug log goes to the run folder (WRANGLER_LOG_PATH), not ~/.wrangler.
// Prints a markdown table; --json writes every figure. Bounded: each stream is aborted after 120 s. Output files in
// .cache/dev-descriptors/ over 16 MB are deleted after each variant unless --keep. Run nothing else meanwhile.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, createReadStream, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { cmdline, comm, describe, descendants, fdCount } from "./proc-descriptors.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const STREAMS = Number(opt("--streams", 2));
const TOKENS = Number(opt("--tokens", 1000));
const JSON_OUT = opt("--json", undefined);
const KEEP = args.includes("--keep"); // keep wrangler's output and debug log even when huge
const WORK = resolve(".cache/dev-descriptors");
const WRANGLER = "node_modules/wrangler/bin/wrangler.js";

// Each variant: how wrangler dev is started. `old` is exactly what scripts/dev.mjs ran before it switched the
// inspector proxy off; `dev.mjs` is the script as it is now.
const VARIANTS = {
  "old": { label: "wrangler dev (old dev.mjs)", cmd: "wrangler", extra: [] },
  "inspector-port": { label: "+ --inspector-port N", cmd: "wrangler", extra: ["--inspector-port", "$INSPECTOR"] },
  "no-interactive": { label: "+ --show-interactive-dev-session=false", cmd: "wrangler", extra: ["--show-interactive-dev-session=false"] },
  "log-none": { label: "+ --log-level none", cmd: "wrangler", extra: ["--log-level", "none"] },
  "no-inspector": { label: "+ env VSCODE_INSPECTOR_OPTIONS (inspector proxy off)", cmd: "wrangler", extra: [], env: { VSCODE_INSPECTOR_OPTIONS: "1" } },
  "dev.mjs": { label: "npm run dev (scripts/dev.mjs now)", cmd: "dev.mjs", extra: [] },
  "dev.mjs-inspect": { label: "npm run dev -- --inspect", cmd: "dev.mjs", extra: ["--inspect"] },
};
const chosen = opt("--variants", Object.keys(VARIANTS).join(",")).split(",");
for (const v of chosen) if (!VARIANTS[v]) throw new Error(`unknown variant ${v}; known: ${Object.keys(VARIANTS).join(", ")}`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[dev-descriptors ${new Date().toISOString().slice(11, 19)}]`, ...a);

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const running = [];
/** A child in its own process group (so stop() reaches wrangler's workerd children too), output to a file. */
function startProcess(name, file, argv, { env = {}, dir, pipeStdout = false } = {}) {
  const logFile = join(dir, `${name}.out`);
  const fd = openSync(logFile, "w");
  const child = spawn(file, argv, {
    detached: true,
    stdio: ["ignore", pipeStdout ? "pipe" : fd, fd],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", FORCE_COLOR: "0", ...env },
  });
  closeSync(fd);
  const exited = new Promise((r) => child.once("exit", r));
  const proc = {
    name, child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        try { process.kill(-child.pid, "SIGTERM"); } catch {}
        const t = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch {} }, 5_000);
        await exited;
        clearTimeout(t);
      }
      try { process.kill(-child.pid, "SIGKILL"); } catch {} // stragglers in the group (workerd)
    },
    tail: () => { try { return readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n"); } catch { return ""; } },
  };
  running.push(proc);
  return proc;
}
const stopAll = () => Promise.all(running.splice(0).map((p) => p.stop().catch(() => {})));
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]]) process.on(signal, () => stopAll().finally(() => process.exit(code)));

function firstJsonLine(proc, timeoutMs = 30_000) {
  return new Promise((ok, fail) => {
    let buf = "";
    const timer = setTimeout(() => fail(new Error(`${proc.name} printed nothing:\n${proc.tail()}`)), timeoutMs);
    proc.child.stdout.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        ok(JSON.parse(buf.slice(0, nl)));
      }
    });
  });
}

async function waitHealthy(proc, url, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}):\n${proc.tail()}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${proc.name} not healthy at ${url}:\n${proc.tail()}`);
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Client: concurrent streams, counting SSE events

async function stream(url, model) {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, stream: true, max_tokens: TOKENS, messages: [{ role: "user", content: "hi" }] }),
    signal: AbortSignal.timeout(120_000),
  });
  let events = 0, reads = 0, bytes = 0, tail = 0, last = Buffer.alloc(0);
  const done = () => last.includes("[DONE]");
  try {
    for await (const chunk of res.body) {
      reads++;
      bytes += chunk.length;
      // Count "\n\n" event ends, across read boundaries.
      for (let i = 0; i < chunk.length; i++) {
        if (chunk[i] === 10) { if (tail === 10) events++; tail = 10; } else tail = chunk[i];
      }
      last = Buffer.concat([last, chunk]).subarray(-32);
    }
  } catch (err) {
    return { status: res.status, events, reads, bytes, done: done(), ms: performance.now() - t0, error: String(err) };
  }
  return { status: res.status, events, reads, bytes, done: done(), ms: performance.now() - t0 };
}

async function countInFile(path, needle) {
  let n = 0, carry = "";
  try {
    for await (const piece of createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20 })) {
      const text = carry + piece;
      let i = -1;
      while ((i = text.indexOf(needle, i + 1)) >= 0) n++;
      carry = text.slice(-needle.length + 1);
    }
  } catch {}
  return n;
}
const fileSize = (path) => { try { return statSync(path).size; } catch { return 0; } };

// ---------------------------------------------------------------------------------------------------------------

async function runVariant(key, upstreamUrl, stateDir) {
  const v = VARIANTS[key];
  const dir = join(WORK, key);
  mkdirSync(dir, { recursive: true });
  const [port, inspector] = await Promise.all([freePort(), freePort()]);
  const extra = v.extra.map((a) => (a === "$INSPECTOR" ? String(inspector) : a));
  const wranglerLog = join(dir, "wrangler-debug.log");
  // VSCODE_INSPECTOR_OPTIONS is the switch under test: only the variants that set it may have it.
  const env = { WRANGLER_LOG_PATH: wranglerLog, VSCODE_INSPECTOR_OPTIONS: undefined, ...v.env };
  const argv = v.cmd === "dev.mjs"
    ? ["scripts/dev.mjs", "--port", String(port), "--persist-to", stateDir, ...extra]
    : [WRANGLER, "dev", "--ip", "127.0.0.1", "--port", String(port), "--var", "ROUTER_AUTH:off", "--persist-to", stateDir, ...extra];
  log(`${key}: node ${argv.join(" ")}${v.env ? ` (env ${Object.keys(v.env).join(", ")})` : ""}`);
  const dev = startProcess("wrangler-dev", process.execPath, argv, { env, dir });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(dev, `${base}/health`);
    await sleep(1_000); // let start-up connections settle before the idle sample
    // wrangler's Node process (bin/wrangler.js starts wrangler-dist/cli.js as a child), and its workerd children.
    const tree = [dev.child.pid, ...descendants(dev.child.pid)];
    const wranglerPid = tree.find((p) => cmdline(p).includes("wrangler-dist/cli.js"));
    const workerds = tree.filter((p) => comm(p) === "workerd");
    const listening = describe(Object.fromEntries(workerds.map((p) => [String(p), p])));
    const proxyPid = workerds.find((p) => Object.keys(listening[String(p)].tcp).includes(`listen :${port}`));
    const userPid = workerds.find((p) => p !== proxyPid);
    const procs = { "wrangler node": wranglerPid, "proxy workerd": proxyPid, "user workerd": userPid };
    for (const [name, pid] of Object.entries(procs)) if (!pid) throw new Error(`${key}: cannot find ${name} (tree ${tree.map((p) => `${p}:${comm(p)}`).join(" ")})`);
    const idle = Object.fromEntries(Object.entries(procs).map(([n, p]) => [n, fdCount(p)]));
    const idleDetail = describe(procs);
    const logBefore = fileSize(wranglerLog);
    const outFile = join(dir, "wrangler-dev.out");
    const outBefore = fileSize(outFile);

    const peak = { ...idle };
    let peakTotal = Object.values(idle).reduce((a, b) => a + b, 0);
    let peakDetail = idleDetail, lastDetailAt = 0;
    let streamsDone = false, doneAt = 0, backAt = undefined;
    const t0 = performance.now();
    const sampler = (async () => {
      for (;;) {
        const counts = Object.fromEntries(Object.entries(procs).map(([n, p]) => [n, fdCount(p)]));
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        for (const n of Object.keys(counts)) if (counts[n] > peak[n]) peak[n] = counts[n];
        const now = performance.now();
        if (total > peakTotal) {
          peakTotal = total;
          if (now - lastDetailAt > 500 && total > Object.values(idle).reduce((a, b) => a + b, 0) + 50) {
            peakDetail = describe(procs);
            lastDetailAt = performance.now();
          }
        }
        const nearIdle = Object.entries(counts).every(([n, c]) => c <= idle[n] + 10);
        if (streamsDone) {
          if (nearIdle) { backAt = now; return; }
          if (now - doneAt > 30_000) return;
        }
        await sleep(100);
      }
    })();
    const results = await Promise.all(Array.from({ length: STREAMS }, () => stream(`${base}/v1/chat/completions`, "synth/tiny")));
    doneAt = performance.now();
    streamsDone = true;
    await sampler;
    const wallMs = doneAt - t0;
    const events = results.reduce((a, r) => a + r.events, 0);
    const logBytes = fileSize(wranglerLog) - logBefore;
    const outputBytes = fileSize(outFile) - outBefore;
    const tooManyOpenFiles = await countInFile(outFile, "Too many open files");
    const dataReceived = await countInFile(wranglerLog, "Network.dataReceived");
    const incoming = await countInFile(wranglerLog, "RUNTIME INCOMING MESSAGE");
    const row = {
      key, label: v.label, idle, peak, peakDetail, idleDetail,
      streams: results, events, wallMs, eventsPerSecond: (events * 1000) / wallMs,
      heldAfterMs: backAt === undefined ? null : backAt - doneAt,
      wranglerLogBytes: logBytes, logNetworkDataReceived: dataReceived, logRuntimeIncoming: incoming,
      wranglerOutputBytes: outputBytes, tooManyOpenFiles,
    };
    log(`${key}: peak ${JSON.stringify(peak)} (idle ${JSON.stringify(idle)}), ${events} events in ${wallMs.toFixed(0)} ms, log +${(logBytes / 1e6).toFixed(1)} MB, ${dataReceived} Network.dataReceived`);
    return row;
  } finally {
    await dev.stop();
    running.splice(running.indexOf(dev), 1);
    // A run that exhausts the descriptor limit writes hundreds of MB of the same error; keep the folder small.
    if (!KEEP) for (const name of readdirSync(dir)) if (fileSize(join(dir, name)) > 16 << 20) rmSync(join(dir, name));
  }
}

async function main() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const synth = startProcess("synthetic-upstream", process.execPath, ["bench/synthetic-upstream.mjs", "--chunks", String(TOKENS)], { dir: WORK, pipeStdout: true });
  const upstreamUrl = `http://127.0.0.1:${(await firstJsonLine(synth)).port}`;
  const stateDir = join(WORK, "state");
  const configFile = join(WORK, "llama-providers.json");
  writeFileSync(configFile, JSON.stringify({ version: 1, providers: [{ id: "synth", baseUrl: upstreamUrl, discover: false, models: [{ id: "tiny" }] }], aliases: {} }));
  const push = spawnSync(process.execPath, ["scripts/config.mjs", "push", "--local", "--persist-to", stateDir], {
    env: { ...process.env, LLAMA_PROVIDERS_PATH: configFile, WRANGLER_SEND_METRICS: "false", CI: "1", WRANGLER_LOG_PATH: join(WORK, "push.log") },
    encoding: "utf8",
  });
  if (push.status !== 0) throw new Error(`config push failed:\n${push.stdout}\n${push.stderr}`);

  const rows = [];
  for (const key of chosen) {
    // A port found free can be taken again before wrangler binds it (other processes, or workerd's own port-0
    // listeners): that start fails with "Address already in use", so it is retried with new ports.
    for (let attempt = 1; ; attempt++) {
      try {
        rows.push(await runVariant(key, upstreamUrl, stateDir));
        break;
      } catch (err) {
        if (attempt >= 3 || !/Address already in use/.test(String(err))) throw err;
        log(`${key}: a port was taken before wrangler bound it; retrying`);
      }
    }
  }
  await stopAll();

  const mb = (n) => (n < 1e5 ? `${(n / 1e3).toFixed(0)} kB` : `${(n / 1e6).toFixed(1)} MB`);
  const f = (n) => (n === null || n === undefined || Number.isNaN(n) ? "n/a" : Math.round(n).toLocaleString("en-US"));
  console.log(`${STREAMS} concurrent stream(s) of ${TOKENS} chunks, synthetic upstream; descriptors idle → peak (sampled every 100 ms)\n`);
  console.log("| variant | wrangler node | proxy workerd | user workerd | events/s (all streams) | held after end | wrangler output | wrangler debug log | Network.dataReceived in debug log |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const cell = (n) => `${f(r.idle[n])} → **${f(r.peak[n])}**`;
    const ok = r.streams.every((s) => s.status === 200 && s.done) ? "" : " (a stream failed)";
    console.log(`| ${r.label} | ${cell("wrangler node")} | ${cell("proxy workerd")} | ${cell("user workerd")} | ${f(r.eventsPerSecond)}${ok} | ${r.heldAfterMs === null ? "> 30 s" : `${(r.heldAfterMs / 1000).toFixed(1)} s`} | +${mb(r.wranglerOutputBytes)}${r.tooManyOpenFiles ? ` (${f(r.tooManyOpenFiles)} × "Too many open files")` : ""} | +${mb(r.wranglerLogBytes)} | ${f(r.logNetworkDataReceived)} |`);
  }
  console.log("\nAt the peak, TCP descriptors by the listening port at either end (owner named):");
  for (const r of rows) console.log(`- ${r.label}: ${JSON.stringify(Object.fromEntries(Object.entries(r.peakDetail).map(([n, d]) => [n, d.tcp])))}`);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), streams: STREAMS, tokens: TOKENS, node: process.version, rows }, null, 2));
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
