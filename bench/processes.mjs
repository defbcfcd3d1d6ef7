// Process and setup helpers shared by the benchmarks (bench/run.mjs, bench/fleet.mjs; docs/benchmark.md): child
// processes in their own process groups (stopped on exit, SIGINT and SIGTERM), free ports, health waits, the
// llama-server install, generated models, and the providers config pushed to a private local KV state.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const ROOT = resolve(new URL("..", import.meta.url).pathname);
export const LAUNCHER = join(process.env.LLAMA_SERVER_DIR ?? join(ROOT, ".cache/llama-server"), "bin", "llama-server");

let logDir = join(ROOT, ".cache/bench/logs");
/** Where startProcess writes each process's log (`<name>.log`). */
export function setLogDir(dir) {
  logDir = dir;
}

const children = [];

/**
 * Starts `cmd` in its own process group (stop() reaches workerd, wrangler's and llama-server's children too), its
 * output in `<logDir>/<name>.log` (stdout piped instead when `pipeStdout`). Every process is stopped by cleanup().
 */
export function startProcess(name, cmd, args, { env = {}, pipeStdout = false } = {}) {
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, "w");
  const child = spawn(cmd, args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", pipeStdout ? "pipe" : fd, fd],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", FORCE_COLOR: "0", ...env },
  });
  closeSync(fd);
  const exited = new Promise((r) => child.once("exit", r));
  const running = () => child.exitCode === null && child.signalCode === null;
  const proc = {
    name, child, logFile, pid: child.pid, exited, running,
    /** Sends `signal` to the whole group at once, with no grace period (a crash, not a stop). */
    kill: (signal) => { try { process.kill(-child.pid, signal); } catch {} },
    stop: async () => {
      if (!running()) return;
      try { process.kill(-child.pid, "SIGTERM"); } catch {}
      const t = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch {} }, 5_000);
      await exited;
      clearTimeout(t);
      try { process.kill(-child.pid, "SIGKILL"); } catch {}
    },
    tail: () => { try { return readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n"); } catch { return ""; } },
  };
  children.push(proc);
  return proc;
}

/** Stops every process startProcess started. */
export async function cleanup() {
  await Promise.all(children.map((c) => c.stop().catch(() => {})));
}
process.on("SIGINT", () => cleanup().finally(() => process.exit(130)));
process.on("SIGTERM", () => cleanup().finally(() => process.exit(143)));

/** First JSON line the process prints on stdout ({"port"} / {"url"}). */
export function firstJsonLine(proc, timeoutMs = 60_000) {
  return new Promise((ok, fail) => {
    let buf = "";
    const timer = setTimeout(() => fail(new Error(`${proc.name} printed nothing in ${timeoutMs} ms:\n${proc.tail()}`)), timeoutMs);
    proc.child.stdout.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        ok(JSON.parse(buf.slice(0, nl)));
      }
    });
    proc.child.once("exit", (code) => fail(new Error(`${proc.name} exited (${code}):\n${proc.tail()}`)));
  });
}

export async function waitHealthy(proc, url, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}):\n${proc.tail()}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${proc.name} not healthy at ${url} after ${timeoutMs} ms:\n${proc.tail()}`);
    await sleep(100);
  }
}

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** The CPU time (ms) a process has used, and its resident memory (KiB), from /proc. */
export function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
  return { cpuMs: (ticks * 1000) / 100, rssKiB: rss }; // USER_HZ is 100 on Linux
}

/**
 * CPU time of every thread of `pid` so far, in ns, from the scheduler (`/proc/<pid>/task/<tid>/schedstat`): exact where
 * `/proc/<pid>/stat` counts 10 ms ticks.
 */
export function cpuNs(pid) {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {} // a thread that ended between the listing and the read
  }
  return total;
}

/** Descendants of pid whose command is `name` (e.g. the workerd that miniflare spawned). */
export function descendants(pid, name) {
  const out = [];
  const walk = (p) => {
    let kids = [];
    try {
      for (const task of execFileSync("ls", [`/proc/${p}/task`], { encoding: "utf8" }).split("\n").filter(Boolean)) {
        kids.push(...readFileSync(`/proc/${p}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number));
      }
    } catch {}
    for (const k of kids) {
      try {
        if (readFileSync(`/proc/${k}/comm`, "utf8").trim() === name) out.push(k);
      } catch {}
      walk(k);
    }
  };
  walk(pid);
  return out;
}

/** Installs llama-server (scripts/install-llama-server.sh) unless its launcher is there. */
export function ensureLlamaServer(log = () => {}) {
  if (existsSync(LAUNCHER)) return;
  log("installing llama-server (scripts/install-llama-server.sh)");
  const r = spawnSync("bash", ["scripts/install-llama-server.sh"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0 || !existsSync(LAUNCHER)) throw new Error("llama-server install failed");
}

/**
 * A generated model (scripts/make-tiny-gguf.mjs) at `path` (relative to the repo root), written once: a sidecar
 * `<path>.args.json` records the arguments, as test/e2e/support/llama-server.ts does (other arguments, new file).
 */
export function ensureModel(path, { embd, layers, ctx, seed }) {
  const file = resolve(ROOT, path);
  const wanted = JSON.stringify({ embd, layers, ctx, seed });
  if (existsSync(file) && existsSync(`${file}.args.json`) && readFileSync(`${file}.args.json`, "utf8") === wanted) return file;
  mkdirSync(dirname(file), { recursive: true });
  const flags = Object.entries({ embd, layers, ctx, seed }).flatMap(([k, v]) => [`--${k}`, String(v)]);
  execFileSync(process.execPath, [join(ROOT, "scripts/make-tiny-gguf.mjs"), file, ...flags], { stdio: ["ignore", "ignore", "inherit"] });
  writeFileSync(`${file}.args.json`, wanted);
  return file;
}

/** Writes `config` to `<workDir>/llama-providers.json` and pushes it to the local KV under `stateDir` (`npm run config -- push --local`). */
export function pushConfig(config, stateDir, workDir) {
  const file = join(workDir, "llama-providers.json");
  writeFileSync(file, JSON.stringify(config, null, 2));
  const r = spawnSync(process.execPath, ["scripts/config.mjs", "push", "--local", "--persist-to", stateDir], {
    cwd: ROOT,
    env: { ...process.env, LLAMA_PROVIDERS_PATH: file, WRANGLER_SEND_METRICS: "false", CI: "1" },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`config push failed:\n${r.stdout}\n${r.stderr}`);
}

/** `llama-server --version`'s version line. */
export function llamaServerVersion() {
  const r = spawnSync(LAUNCHER, ["--version"], { encoding: "utf8" });
  return /version: .*/.exec(`${r.stdout}\n${r.stderr}`)?.[0] ?? "?";
}
