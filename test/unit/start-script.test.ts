// `npm start`, `npm run dev` and `npm run config -- check` as a person runs them: real processes, free ports only,
// and every wait is on an event (the process exits, or prints its banner), never a sleep.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "boocode-start-"));
const noSecrets = join(dir, "empty.vars");
writeFileSync(noSecrets, "");
const outdir = join(dir, "worker");
const common = ["--env-file", noSecrets, "--persist-to", join(dir, "state"), "--no-build", "--outdir", outdir];
const KEY = "start-test-key-5e1";

interface Outcome {
  code: number | null;
  stderr: string;
  /** The banner line, when the router came up (the process is still running then). */
  banner?: string;
  child: ChildProcess;
}

const running: ChildProcess[] = [];

/** Runs a script until it exits or prints its banner, whichever comes first. */
function run(script: string, args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  let stderr = "";
  return new Promise((resolve) => {
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      const banner = /^boocode-router: serving on .*$|^.*Ready on .*$/m.exec(stderr)?.[0];
      if (banner) resolve({ code: null, stderr, banner, child });
    });
    child.on("exit", (code) => resolve({ code, stderr, child }));
  });
}

function stop(child: ChildProcess): Promise<unknown> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  return exited;
}

/** GET with an explicit Host header (fetch would not send one of our choosing). */
function getWithHost(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c)).on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject).end();
  });
}

beforeAll(async () => {
  const { buildWorker } = await import(/* @vite-ignore */ "../../scripts/start.mjs" as string);
  buildWorker({ outdir });
}, 120_000);
afterAll(() => Promise.all(running.map(stop)));

describe("npm start refuses unsafe settings before it listens", () => {
  it("a non-loopback address without keys, saying what to set", async () => {
    const out = await run("scripts/start.mjs", ["--ip", "0.0.0.0", "--port", "0", ...common]);
    expect(out.banner).toBeUndefined();
    expect(out.code).toBe(1);
    expect(out.stderr.trim()).toBe(
      "boocode-router: refusing to listen on 0.0.0.0 without client keys: anyone who can reach this machine could use the router. " +
        "Give a key: npm start -- --ip 0.0.0.0 --var ROUTER_API_KEYS:<key> (or ROUTER_API_KEYS=<key> in .dev.vars), or listen on 127.0.0.1",
    );
  }, 60_000);

  it("ROUTER_AUTH=off on a non-loopback address", async () => {
    const out = await run("scripts/start.mjs", ["--ip", "0.0.0.0", "--port", "0", "--var", "ROUTER_AUTH:off", ...common]);
    expect(out.banner).toBeUndefined();
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("(ROUTER_AUTH=off works only on 127.0.0.1, ::1 or localhost)");
  }, 60_000);

  it("ROUTER_AUTH=off together with keys", async () => {
    const out = await run("scripts/start.mjs", ["--port", "0", "--var", "ROUTER_AUTH:off", `ROUTER_API_KEYS:${KEY}`, ...common]);
    expect(out.banner).toBeUndefined();
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("boocode-router: ROUTER_AUTH=off and ROUTER_API_KEYS are both set");
  }, 60_000);

  it("secrets too short to redact: a client key, and an upstream secret the providers config names", async () => {
    const config = join(dir, "providers.json");
    writeFileSync(config, JSON.stringify({ version: 1, providers: [{ id: "gpu", baseUrl: "http://127.0.0.1:9", auth: { apiKeySecret: "GPU_KEY" }, models: [] }] }));
    const out = await run("scripts/start.mjs", ["--port", "0", "--var", "ROUTER_API_KEYS:abc", "GPU_KEY:sk-1", ...common], { LLAMA_PROVIDERS_PATH: config });
    expect(out.banner).toBeUndefined();
    expect(out.code).toBe(1);
    expect(out.stderr.trim().split("\n")).toEqual([
      "boocode-router: ROUTER_API_KEYS entry 1 is shorter than 8 characters; the router refuses secrets it cannot redact safely (use a long random value)",
      "boocode-router: GPU_KEY is shorter than 8 characters; the router refuses secrets it cannot redact safely (use a long random value)",
    ]);
    expect(out.stderr).not.toContain("sk-1");
  }, 60_000);

  it("a port in use gets one friendly line, no workerd stack", async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const out = await run("scripts/start.mjs", ["--port", String(port), "--var", `ROUTER_API_KEYS:${KEY}`, ...common]);
      expect(out.banner).toBeUndefined();
      expect(out.code).toBe(1);
      expect(out.stderr).not.toContain("kj::Exception");
      expect(out.stderr.trim()).toBe(`boocode-router: could not start: 127.0.0.1:${port} is already in use (another npm start or npm run dev?); pick another port with --port N`);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  }, 60_000);
});

describe("workerd's own bind failure (the port taken after the check)", () => {
  it("is one line, not a kj::Exception with a stack", async () => {
    const { serveWorker } = await import(/* @vite-ignore */ "../../scripts/start.mjs" as string);
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as { port: number }).port;
    const lines: string[] = [];
    let sawBindFailure!: () => void;
    const bindFailure = new Promise<void>((resolve) => (sawBindFailure = resolve));
    const onStderr = (line: string) => {
      lines.push(line);
      if (/could not listen|kj::Exception/.test(line)) sawBindFailure();
    };
    try {
      const started = serveWorker({ scriptPath: join(outdir, "index.js"), compatibilityDate: "2026-04-20", persistTo: join(dir, "state"), port, onStdout: () => {}, onStderr });
      // miniflare's own rejection says either; what a person sees is the one line below.
      await expect(started).rejects.toThrow(/Address already in use|The Workers runtime failed to start/);
      await bindFailure;
      expect(lines).toEqual([`boocode-router: workerd could not listen on 127.0.0.1:${port}: Address already in use`]);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  }, 60_000);
});

describe("npm start's banner and the Worker behind it", () => {
  it("with --ip 0.0.0.0 names the real listening address and says it is every interface", async () => {
    const out = await run("scripts/start.mjs", ["--ip", "0.0.0.0", "--port", "0", "--var", `ROUTER_API_KEYS:${KEY}`, ...common]);
    expect(out.code, out.stderr).toBeNull();
    const match = /^boocode-router: serving on http:\/\/0\.0\.0\.0:(\d+), listening on all interfaces \(from this machine: http:\/\/127\.0\.0\.1:(\d+)\); workerd, no dev server; .*; client auth keys$/.exec(out.banner!);
    expect(match, out.banner).not.toBeNull();
    expect(match![1]).toBe(match![2]);
    expect(Number(match![1])).toBeGreaterThan(0);
    const health = await fetch(`http://127.0.0.1:${match![1]}/health`);
    expect(await health.json()).toMatchObject({ status: "ok", auth: "keys" });
    await stop(out.child);
  }, 60_000);

  it("with auth off on loopback, a request under a DNS name is 403 and one under an IP is answered", async () => {
    const out = await run("scripts/start.mjs", ["--port", "0", ...common]);
    expect(out.code, out.stderr).toBeNull();
    expect(out.stderr).toContain("client auth is OFF");
    const port = Number(/serving on http:\/\/127\.0\.0\.1:(\d+)/.exec(out.banner!)?.[1]);
    expect(port, out.banner).toBeGreaterThan(0);
    const rebound = await getWithHost(port, "/v1/models", `rebound.example:${port}`);
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error.code).toBe("host_not_allowed");
    expect((await getWithHost(port, "/health", `127.0.0.1:${port}`)).status).toBe(200);
    expect((await getWithHost(port, "/health", `localhost:${port}`)).status).toBe(200);
    await stop(out.child);
  }, 60_000);
});

describe("npm run dev and npm run config -- check apply the same rules", () => {
  it("npm run dev refuses a non-loopback address without keys", async () => {
    const out = await run("scripts/dev.mjs", ["--ip", "0.0.0.0", "--port", "0", "--env-file", noSecrets]);
    expect(out.banner).toBeUndefined();
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("boocode-router: refusing to listen on 0.0.0.0 without client keys");
    expect(out.stderr).toContain("npm run dev -- --ip 0.0.0.0 --var ROUTER_API_KEYS:<key>");
  }, 60_000);

  it("npm run config -- check refuses a named secret too short to redact", async () => {
    const vars = join(dir, "short.vars");
    writeFileSync(vars, "HOST_KEY=abc\nROUTER_ADMIN_KEY=long-enough-admin\n");
    const config = join(dir, "check.json");
    writeFileSync(config, JSON.stringify({ version: 3, providers: [{ id: "gpu", baseUrl: "http://127.0.0.1:9", auth: { apiKeySecret: "HOST_KEY" }, models: [] }] }));
    const out = await run("scripts/config.mjs", ["check", "--env-file", vars], { LLAMA_PROVIDERS_PATH: config });
    expect(out.code).toBe(1);
    expect(out.stderr.trim()).toBe(`${vars}: HOST_KEY is shorter than 8 characters; the router refuses secrets it cannot redact safely (use a long random value)`);
  }, 60_000);
});
