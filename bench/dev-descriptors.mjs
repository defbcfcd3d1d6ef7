#!/usr/bin/env node
// How many file descriptors `wrangler dev` holds while the router relays a fast stream, per dev-server setting.
//
//   node bench/dev-descriptors.mjs [--streams 2] [--tokens 1000] [--variants a,b,...] [--endpoint chat|messages]
//                                  [--json FILE] [--keep]
//
// For each variant it starts the synthetic upstream (bench/synthetic-upstream.mjs: llama-server's chunk shape, one
// write per chunk, as fast as Node can write), pushes a providers config to a private local KV state, starts the
// router under wrangler dev on free loopback ports, streams `--streams` concurrent /v1/chat/completions answers of
// `--tokens` chunks each, and samples /proc/<pid>/fd of wrangler's Node process and of both workerd processes (the
// proxy one that owns the listening port, and the one running the router) every 100 ms, until the counts are back
// near their idle level and at least 5 s have passed (at most 30 s after the last stream ends). The `start` variant
// is `npm start` (scripts/start.mjs: Node starts one workerd that owns the port; no wrangler) for comparison. TCP
// sockets in TIME_WAIT hold no descriptor, so they are counted machine-wide by port (the processes' listening ports
// and the upstream's). Everything runs in its own process group and is
// stopped before the next variant; wrangler's debug log goes to the run folder (WRANGLER_LOG_PATH), not ~/.wrangler.
// Prints a markdown table; --json writes every figure. Bounded: each stream is aborted after 120 s. Output files in
// .cache/dev-descriptors/ over 16 MB are deleted after each variant unless --keep. Run nothing else meanwhile.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, createReadStream, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { cmdline, comm, describe, descendants, fdCount, listeningPorts, tcpStatesTouching } from "./proc-descriptors.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const STREAMS = Number(opt("--streams", 2));
const TOKENS = Number(opt("--tokens", 1000));
const JSON_OUT = opt("--json", undefined);
const ENDPOINT = opt("--endpoint", "chat"); // chat: /v1/chat/completions; messages: Anthropic /v1/messages
if (!["chat", "messages"].includes(ENDPOINT)) throw new Error("--endpoint is chat or messages");
const AFTER_MS = 5_000; // the "after" sample: this long after the last stream ended
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
  // Settings that do not touch the inspector path, measured so that they can be ruled out with numbers.
  "local-https": { label: "+ --local-protocol https", cmd: "wrangler", extra: ["--local-protocol", "https"], https: true },
  "upstream-https": { label: "+ --upstream-protocol https", cmd: "wrangler", extra: ["--upstream-protocol", "https"] },
  "wrangler-log-none": { label: "+ env WRANGLER_LOG=none", cmd: "wrangler", extra: [], env: { WRANGLER_LOG: "none" } },
  // The one case in which scripts/dev.mjs leaves the inspector on by itself (miniflare would take the --require for
  // VS Code's bootloader); the file is empty.
  "dev.mjs-node-options": { label: 'npm run dev with NODE_OPTIONS=--require "…"', cmd: "dev.mjs", extra: [], env: { NODE_OPTIONS: "$BOOTLOADER" } },
  "start": { label: "npm start (workerd only, no wrangler)", cmd: "start.mjs", extra: [] },
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

async function stream(base, model) {
  const t0 = performance.now();
  const res = await fetch(`${base}${ENDPOINT === "chat" ? "/v1/chat/completions" : "/v1/messages"}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, stream: true, max_tokens: TOKENS, messages: [{ role: "user", content: "hi" }] }),
    signal: AbortSignal.timeout(120_000),
  });
  let events = 0, reads = 0, bytes = 0, tail = 0, last = Buffer.alloc(0);
  const done = () => last.includes(ENDPOINT === "chat" ? "[DONE]" : "message_stop");
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
  const bootloader = join(WORK, "empty-bootloader.cjs");
  writeFileSync(bootloader, "");
  const variantEnv = Object.fromEntries(Object.entries(v.env ?? {}).map(([k, val]) => [k, val === "$BOOTLOADER" ? `--require "${bootloader}"` : val]));
  // VSCODE_INSPECTOR_OPTIONS is the switch under test: only the variants that set it may have it.
  const env = { WRANGLER_LOG_PATH: wranglerLog, VSCODE_INSPECTOR_OPTIONS: undefined, NODE_OPTIONS: undefined, WRANGLER_LOG: undefined, ...variantEnv };
  if (v.https) env.NODE_TLS_REJECT_UNAUTHORIZED = "0"; // wrangler's self-signed certificate, for this process's fetch too
  if (v.https) process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  const argv = v.cmd === "dev.mjs" ? ["scripts/dev.mjs", "--port", String(port), "--persist-to", stateDir, ...extra]
    : v.cmd === "start.mjs" ? ["scripts/start.mjs", "--port", String(port), "--persist-to", stateDir, "--outdir", join(WORK, "worker"), ...extra]
    : [WRANGLER, "dev", "--ip", "127.0.0.1", "--port", String(port), "--var", "ROUTER_AUTH:off", "--persist-to", stateDir, ...extra];
  log(`${key}: node ${argv.join(" ")}${v.env ? ` (env ${Object.entries(variantEnv).map(([k, val]) => `${k}=${val}`).join(" ")})` : ""}`);
  const dev = startProcess("wrangler-dev", process.execPath, argv, { env, dir });
  const base = `${v.https ? "https" : "http"}://127.0.0.1:${port}`;
  try {
    await waitHealthy(dev, `${base}/health`);
    await sleep(1_000); // let start-up connections settle before the idle sample
    const tree = [dev.child.pid, ...descendants(dev.child.pid)];
    const workerds = tree.filter((p) => comm(p) === "workerd");
    let procs;
    if (v.cmd === "start.mjs") {
      // npm start: one Node process (scripts/start.mjs, miniflare) and the one workerd that owns the port.
      procs = { "node": dev.child.pid, "user workerd": workerds[0] };
    } else {
      // wrangler's Node process (bin/wrangler.js starts wrangler-dist/cli.js as a child), and its workerd children.
      const wranglerPid = tree.find((p) => cmdline(p).includes("wrangler-dist/cli.js"));
      const listening = describe(Object.fromEntries(workerds.map((p) => [String(p), p])));
      const proxyPid = workerds.find((p) => Object.keys(listening[String(p)].tcp).includes(`listen :${port}`));
      const userPid = workerds.find((p) => p !== proxyPid);
      procs = { "wrangler node": wranglerPid, "proxy workerd": proxyPid, "user workerd": userPid };
    }
    for (const [name, pid] of Object.entries(procs)) if (!pid) throw new Error(`${key}: cannot find ${name} (tree ${tree.map((p) => `${p}:${comm(p)}`).join(" ")})`);
    const ports = [...new Set([...Object.values(procs).flatMap(listeningPorts), Number(new URL(upstreamUrl).port)])];
    const sum = (c) => Object.values(c).reduce((a, b) => a + b, 0);
    const counts = () => Object.fromEntries(Object.entries(procs).map(([n, p]) => [n, fdCount(p)]));
    const idle = counts();
    const idleDetail = describe(procs);
    const idleTcp = tcpStatesTouching(ports);
    const logBefore = fileSize(wranglerLog);
    const outFile = join(dir, "wrangler-dev.out");
    const outBefore = fileSize(outFile);

    const peak = { ...idle };
    let peakTotal = sum(idle), peakTcp = idleTcp, peakTotalAtMs = 0;
    let peakDetail = idleDetail, lastDetailAt = 0;
    let streamsDone = false, doneAt = 0, backAt = undefined, after = undefined, afterDetail = undefined, afterTcp = undefined;
    const samples = [];
    const t0 = performance.now();
    const sampler = (async () => {
      for (;;) {
        const c = counts();
        const total = sum(c);
        const now = performance.now();
        samples.push({ ms: Math.round(now - t0), ...c });
        for (const n of Object.keys(c)) if (c[n] > peak[n]) peak[n] = c[n];
        if (total > peakTotal) {
          peakTotal = total;
          peakTotalAtMs = now - t0;
          if (now - lastDetailAt > 500 && total > sum(idle) + 50) {
            peakDetail = describe(procs);
            peakTcp = tcpStatesTouching(ports);
            lastDetailAt = performance.now();
          }
        }
        const nearIdle = Object.entries(c).every(([n, k]) => k <= idle[n] + 10);
        if (streamsDone) {
          if (nearIdle && backAt === undefined) backAt = now;
          if (after === undefined && now - doneAt >= AFTER_MS) {
            after = c;
            afterDetail = describe(procs);
            afterTcp = tcpStatesTouching(ports);
          }
          if ((backAt !== undefined && after !== undefined) || now - doneAt > 30_000) return;
        }
        await sleep(100);
      }
    })();
    const model = "synth/tiny";
    const results = await Promise.all(Array.from({ length: STREAMS }, () => stream(base, model)));
    doneAt = performance.now();
    streamsDone = true;
    const atEnd = counts();
    await sampler;
    const wallMs = doneAt - t0;
    const events = results.reduce((a, r) => a + r.events, 0);
    const logBytes = fileSize(wranglerLog) - logBefore;
    const outputBytes = fileSize(outFile) - outBefore;
    const tooManyOpenFiles = await countInFile(outFile, "Too many open files");
    const dataReceived = await countInFile(wranglerLog, "Network.dataReceived");
    const incoming = await countInFile(wranglerLog, "RUNTIME INCOMING MESSAGE");
    const row = {
      key, label: v.label, endpoint: ENDPOINT, procs, ports, idle, peak, atEnd, after, idleTotal: sum(idle), peakTotal, peakTotalAtMs,
      afterTotal: after ? sum(after) : null, peakDetail, idleDetail, afterDetail, idleTcp, peakTcp, afterTcp,
      streams: results, events, wallMs, eventsPerSecond: (events * 1000) / wallMs,
      heldAfterMs: backAt === undefined ? null : backAt - doneAt,
      wranglerLogBytes: logBytes, logNetworkDataReceived: dataReceived, logRuntimeIncoming: incoming,
      wranglerOutputBytes: outputBytes, tooManyOpenFiles, samples,
    };
    log(`${key}: total ${row.idleTotal} → peak ${peakTotal} → ${row.afterTotal} at +${AFTER_MS / 1000} s; peak ${JSON.stringify(peak)} (idle ${JSON.stringify(idle)}), ${events} events in ${wallMs.toFixed(0)} ms, log +${(logBytes / 1e6).toFixed(1)} MB, ${dataReceived} Network.dataReceived`);
    return row;
  } finally {
    await dev.stop();
    running.splice(running.indexOf(dev), 1);
    delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
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
  const what = ENDPOINT === "chat" ? "/v1/chat/completions" : "/v1/messages";
  console.log(`${STREAMS} concurrent stream(s) of ${TOKENS} chunks (${what}), synthetic upstream; descriptors sampled every 100 ms\n`);
  console.log(`| variant | all its processes: before → peak → ${AFTER_MS / 1000} s after | wrangler node (npm start: node) | proxy workerd | user workerd | events/s (all streams) | held after end | wrangler output | wrangler debug log | Network.dataReceived in debug log |`);
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const cell = (n) => (r.idle[n] === undefined ? "–" : `${f(r.idle[n])} → **${f(r.peak[n])}** → ${f(r.after?.[n])}`);
    const ok = r.streams.every((s) => s.status === 200 && s.done) ? "" : " (a stream failed)";
    const nodeName = r.idle["wrangler node"] === undefined ? "node" : "wrangler node";
    console.log(`| ${r.label} | ${f(r.idleTotal)} → **${f(r.peakTotal)}** → ${f(r.afterTotal)} | ${cell(nodeName)} | ${cell("proxy workerd")} | ${cell("user workerd")} | ${f(r.eventsPerSecond)}${ok} | ${r.heldAfterMs === null ? "> 30 s" : `${(r.heldAfterMs / 1000).toFixed(1)} s`} | +${mb(r.wranglerOutputBytes)}${r.tooManyOpenFiles ? ` (${f(r.tooManyOpenFiles)} × "Too many open files")` : ""} | +${mb(r.wranglerLogBytes)} | ${f(r.logNetworkDataReceived)} |`);
  }
  const kinds = (d) => Object.fromEntries(Object.entries(d).map(([n, x]) => [n, { tcp: x.tcp, unixOrOther: x.unixOrOther, pipe: x.pipe, anonInode: x.anonInode, file: x.file }]));
  console.log("\nAt the peak, descriptors by kind; TCP ones by the listening port at either end (owner named) and state:");
  for (const r of rows) console.log(`- ${r.label}: ${JSON.stringify(kinds(r.peakDetail))}`);
  console.log(`\nTCP sockets on the machine touching the variant's ports, by state (TIME_WAIT holds no descriptor): before / peak / ${AFTER_MS / 1000} s after`);
  for (const r of rows) console.log(`- ${r.label}: ${JSON.stringify(r.idleTcp)} / ${JSON.stringify(r.peakTcp)} / ${JSON.stringify(r.afterTcp)}`);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), streams: STREAMS, tokens: TOKENS, node: process.version, rows }, null, 2));
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
