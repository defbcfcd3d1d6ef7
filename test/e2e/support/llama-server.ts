/**
 * Real llama-server hosts for the e2e tier: installs the binary (scripts/install-llama-server.sh), writes tiny
 * random-weights models (scripts/make-tiny-gguf.mjs) and runs hosts on loopback ports until told to stop.
 * Node built-ins only; everything it writes lives under .cache/ (gitignored).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CACHE_DIR = join(REPO_ROOT, ".cache");
/** Same default as the install script's LLAMA_SERVER_DIR. */
export const LLAMA_SERVER_LAUNCHER = join(
  process.env.LLAMA_SERVER_DIR ?? join(CACHE_DIR, "llama-server"),
  "bin",
  "llama-server",
);
const READY_TIMEOUT_MS = 60_000;
const INSTALL_TIMEOUT_MS = 10 * 60_000;
const STOP_GRACE_MS = 5_000;

export interface ModelOptions {
  /** n_embd (default 64: ~0.5 MB, thousands of tokens/s; 768 with 8 layers gives ~90 tokens/s). */
  embd?: number;
  layers?: number;
  /** Trained context length written into the model (default 65536); llama-server caps each slot at it. */
  ctx?: number;
  seed?: number;
}

export interface LlamaServerOptions {
  /** 0 or undefined: a free port. */
  port?: number;
  /** A .gguf file (single-model host). */
  model?: string;
  /**
   * Router mode: every `NAME.gguf` in the folder becomes model `NAME` (`:` allowed, `/` impossible); a sub-folder
   * becomes one model named after the folder (its first .gguf).
   */
  modelsDir?: string;
  /**
   * Router mode: an INI file of presets, `[org/repo-GGUF:Q4_K_M]` then `model = /path/file.gguf`; the section
   * name is the model id, so ids with `/` and `:` are possible. With or without modelsDir.
   */
  modelsPreset?: string;
  alias?: string;
  /** Total context (-c), split over the slots. */
  ctx?: number;
  /** Slots (-np). */
  parallel?: number;
  apiKey?: string;
  extraArgs?: string[];
  /** Default: .cache/logs/llama-PORT.log. */
  logFile?: string;
}

export interface RunningLlamaServer {
  url: string;
  port: number;
  pid: number;
  logFile: string;
  /** Kills the host (and, in router mode, its model processes) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

let installing: Promise<string> | undefined;

/** Installs llama-server into .cache/llama-server/ unless its launcher is there; returns the launcher's path. */
export function ensureLlamaServer(): Promise<string> {
  if (existsSync(LLAMA_SERVER_LAUNCHER)) return Promise.resolve(LLAMA_SERVER_LAUNCHER);
  installing ??= run("bash", [join(REPO_ROOT, "scripts/install-llama-server.sh")], INSTALL_TIMEOUT_MS)
    .then(() => {
      if (!existsSync(LLAMA_SERVER_LAUNCHER)) throw new Error(`install finished but ${LLAMA_SERVER_LAUNCHER} is missing`);
      return LLAMA_SERVER_LAUNCHER;
    })
    .finally(() => {
      installing = undefined;
    });
  return installing;
}

const models = new Map<string, Promise<string>>();

/**
 * Writes .cache/models/NAME.gguf once (NAME may contain `/` for a sub-folder, e.g. a router-mode models dir) and
 * returns its absolute path. A sidecar NAME.gguf.args.json records the options: other options, new file.
 */
export function ensureModel(name: string, opts: ModelOptions = {}): Promise<string> {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/.test(name)) {
    return Promise.reject(new Error(`bad model name ${JSON.stringify(name)}: letters, digits, . _ - and / only`));
  }
  const path = join(CACHE_DIR, "models", `${name}.gguf`);
  const args = { embd: opts.embd ?? 64, layers: opts.layers ?? 2, ctx: opts.ctx ?? 65536, seed: opts.seed ?? 1 };
  const key = `${path} ${JSON.stringify(args)}`;
  let pending = models.get(key);
  if (!pending) {
    pending = writeModel(path, args);
    models.set(key, pending);
    pending.catch(() => models.delete(key));
  }
  return pending;
}

async function writeModel(path: string, args: Required<ModelOptions>): Promise<string> {
  const sidecar = `${path}.args.json`;
  const wanted = JSON.stringify(args);
  if (existsSync(path) && existsSync(sidecar) && readFileSync(sidecar, "utf8") === wanted) return path;
  const flags = Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]);
  await run(process.execPath, [join(REPO_ROOT, "scripts/make-tiny-gguf.mjs"), path, ...flags], 120_000);
  writeFileSync(sidecar, wanted);
  return path;
}

/** A port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? ok(addr.port) : fail(new Error("no port"))));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts a real llama-server (`--host 127.0.0.1 -t 1` plus the options) and resolves once it serves: GET /health
 * answers 200 and, in router mode (modelsDir or modelsPreset, where /health answers before the model list is
 * ready), GET /v1/models too. Router mode loads a model on its first request (~0.1 s for the tiny model).
 * Rejects after 60 s, or as soon as the process exits, with the tail of its log.
 */
export async function startLlamaServer(opts: LlamaServerOptions): Promise<RunningLlamaServer> {
  const launcher = await ensureLlamaServer();
  // A port picked by freePort() can be taken before llama-server binds it: then it exits at once; pick again.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port || (await freePort());
    try {
      return await startOnce(launcher, port, opts);
    } catch (err) {
      if (opts.port || attempt >= 3 || !(err instanceof BindError)) throw err;
    }
  }
}

class BindError extends Error {}

async function startOnce(launcher: string, port: number, opts: LlamaServerOptions): Promise<RunningLlamaServer> {
  const args = ["--host", "127.0.0.1", "--port", String(port), "-t", "1"];
  if (opts.model) args.push("-m", resolve(opts.model));
  if (opts.modelsDir) args.push("--models-dir", resolve(opts.modelsDir));
  if (opts.modelsPreset) args.push("--models-preset", resolve(opts.modelsPreset));
  if (opts.alias) args.push("--alias", opts.alias);
  if (opts.ctx) args.push("-c", String(opts.ctx));
  if (opts.parallel) args.push("-np", String(opts.parallel));
  if (opts.apiKey) args.push("--api-key", opts.apiKey);
  args.push(...(opts.extraArgs ?? []));

  const logFile = resolve(opts.logFile ?? join(CACHE_DIR, "logs", `llama-${port}.log`));
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, "w");
  // Own process group, so stop() also reaches the model processes a router-mode host spawns.
  const child = spawn(launcher, args, { stdio: ["ignore", fd, fd], detached: true });
  closeSync(fd);
  child.unref();
  const exited = new Promise<void>((ok) => child.once("exit", () => ok()));
  const spawned = new Promise<void>((ok, fail) => {
    child.once("spawn", ok);
    child.once("error", fail);
  });
  await spawned;
  const pid = child.pid!;
  track(child);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        killGroup(pid, "SIGTERM");
        const timer = setTimeout(() => killGroup(pid, "SIGKILL"), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      killGroup(pid, "SIGKILL"); // stragglers of the group, if any
      live.delete(child);
    })());

  const url = `http://127.0.0.1:${port}`;
  const auth: Record<string, string> = opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {};
  const routerMode = args.some((a) => a === "--models-dir" || a === "--models-preset");
  const probes = [`${url}/health`, ...(routerMode ? [`${url}/v1/models`] : [])];
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (const probe of probes) {
      while ((await status(probe, auth)) !== 200) {
        if (child.exitCode !== null || child.signalCode !== null) {
          const log = tail(logFile);
          const why = `llama-server exited (${child.exitCode ?? child.signalCode}) before it was ready`;
          throw new (/couldn't bind/.test(log) ? BindError : Error)(`${why}; ${logFile}:\n${log}`);
        }
        if (Date.now() > deadline) {
          throw new Error(`llama-server not ready in ${READY_TIMEOUT_MS / 1000} s (${probe}); ${logFile}:\n${tail(logFile)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, port, pid, logFile, stop };
}

/** Status of a GET on a fresh connection (no keep-alive pool to leave behind), 0 when it cannot connect. */
function status(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((ok) => {
    const req = request(url, { headers, agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      ok(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => ok(0));
    req.end();
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone, which is what we want.
  }
}

/** Hosts a test forgot to stop must not outlive the test run. */
function track(child: ChildProcess): void {
  live.add(child);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of live) if (c.pid) killGroup(c.pid, "SIGKILL");
  });
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((ok, fail) => {
    execFile(cmd, args, { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${String(stderr).slice(-4000)}`));
      else ok(String(stdout));
    });
  });
}
