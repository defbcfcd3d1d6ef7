/**
 * Runs the router the way a person does: `wrangler dev` (workerd), with a providers config pushed to its local KV
 * state by `npm run config -- push --local`, secrets from an env file, and its output kept for log assertions.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ProvidersConfigInput } from "../../../src/config/schema.js";
import { freePort } from "./llama-server.js";

export interface RunningRouter {
  url: string;
  /** Everything wrangler dev printed so far (the router's JSON log lines are in it). */
  output(): string;
  /** The router's structured log lines so far. */
  logLines(): Record<string, unknown>[];
  stop(): Promise<void>;
}

export interface RouterOptions {
  config: ProvidersConfigInput;
  /** Worker secrets (upstream keys, client keys), written to an env file, never to argv. */
  secrets: Record<string, string>;
  /** Folder for this run's local KV state and files. */
  stateDir: string;
}

export function pushConfig(config: ProvidersConfigInput, stateDir: string): void {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, "llama-providers.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  const push = spawnSync("npm", ["run", "-s", "config", "--", "push", "--local", "--persist-to", resolve(stateDir, "state")], {
    env: { ...process.env, LLAMA_PROVIDERS_PATH: path },
    encoding: "utf8",
  });
  if (push.status !== 0) throw new Error(`config push failed:\n${push.stdout}\n${push.stderr}`);
}

export async function startRouter(options: RouterOptions): Promise<RunningRouter> {
  pushConfig(options.config, options.stateDir);
  const envFile = join(options.stateDir, "secrets.env");
  writeFileSync(envFile, Object.entries(options.secrets).map(([k, v]) => `${k}=${v}`).join("\n") + "\n", { mode: 0o600 });
  const port = await freePort();
  // The inspector proxy off, as `npm run dev` starts it: with it on, wrangler holds a socket per streamed chunk
  // (docs/dev-descriptors.md).
  const child: ChildProcess = spawn(
    process.execPath,
    ["node_modules/wrangler/bin/wrangler.js", "dev", "--ip", "127.0.0.1", "--port", String(port),
      "--persist-to", resolve(options.stateDir, "state"), "--env-file", envFile, "--show-interactive-dev-session=false"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", VSCODE_INSPECTOR_OPTIONS: "boocode-router: inspector proxy off" } },
  );
  let output = "";
  const logFile = createWriteStream(routerLogPath(options.stateDir));
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on("data", (d) => {
      // The whole output goes to the log file; memory keeps the last MAX_OUTPUT characters (a runaway log cannot
      // take the test process down with it).
      output += d;
      if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT / 2);
      logFile.write(d);
    });
  }
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited ${child.exitCode}:\n${output}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`wrangler dev did not become ready in 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    output: () => output,
    logLines: () => parseLogLines(output),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Characters of router output kept in memory for the log-line assertions. */
const MAX_OUTPUT = 16 << 20;

export const routerLogPath = (stateDir: string) => join(stateDir, "router.log");

/** The router's one-JSON-line-per-request log, from wrangler dev's output. */
export function parseLogLines(output: string): Record<string, any>[] {
  return output.split("\n").flatMap((line) => {
    const start = line.indexOf('{"requestId"');
    if (start < 0) return [];
    try {
      return [JSON.parse(line.slice(start))];
    } catch {
      return [];
    }
  });
}

/** For test files (another process than the one that started the router): the log lines written so far. */
export function readRouterLog(stateDir: string): Record<string, any>[] {
  return parseLogLines(readFileSync(routerLogPath(stateDir), "utf8"));
}
