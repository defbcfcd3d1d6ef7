/** Running the real agent CLIs (installed by scripts/install-agents.sh into .cache/agents) as a person would. */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const BIN = resolve(".cache/agents/node_modules/.bin");

export function ensureAgents(): void {
  const result = spawnSync("bash", ["scripts/install-agents.sh"], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`installing the agent CLIs failed:\n${result.stderr}`);
}

export interface AgentRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A fresh HOME and a git work tree to run an agent in, cut off from any user config. */
export function scratchWorkspace(name: string): { home: string; cwd: string } {
  const root = mkdtempSync(join(tmpdir(), `boocode-${name}-`));
  const home = join(root, "home");
  const cwd = join(root, "work");
  mkdirSync(home, { recursive: true });
  mkdirSync(cwd, { recursive: true });
  spawnSync("git", ["init", "-q"], { cwd });
  return { home, cwd };
}

/**
 * Runs a CLI with stdin closed: opencode and codex read a piped stdin to the end before they start (they append
 * it to the prompt), so an open pipe would make them wait forever.
 */
export function runAgent(bin: "opencode" | "claude" | "codex", args: string[], options: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<AgentRun> {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(join(BIN, bin), args, { cwd: options.cwd, env: { PATH: process.env.PATH ?? "", ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 100_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}
