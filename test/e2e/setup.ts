/**
 * Starts the e2e world once: two real llama-server hosts serving a model of the same name (`tiny`), host `a` behind
 * an API key the router holds as a secret, and the router under `wrangler dev` with client keys on.
 */
import { mkdirSync, rmSync } from "node:fs";
import type { TestProject } from "vitest/node";
import { ensureLlamaServer, ensureModel, startLlamaServer } from "./support/llama-server.js";
import { startRouter } from "./support/router.js";

export const E2E = {
  clientKey: "e2e-client-key-7f3a",
  hostKey: "sk-e2e-host-a-SECRET-91c2",
} as const;

declare module "vitest" {
  export interface ProvidedContext {
    routerUrl: string;
    hostA: string;
    hostB: string;
    stateDir: string;
  }
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  await ensureLlamaServer();
  const tinyA = await ensureModel("tiny-a", { seed: 1 });
  const tinyB = await ensureModel("tiny-b", { seed: 2 });
  const stateDir = ".cache/e2e";
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });

  const hostA = await startLlamaServer({ model: tinyA, alias: "tiny", ctx: 8192, parallel: 2, apiKey: E2E.hostKey, logFile: `${stateDir}/host-a.log` });
  const hostB = await startLlamaServer({ model: tinyB, alias: "tiny", ctx: 4096, parallel: 2, logFile: `${stateDir}/host-b.log` });
  const router = await startRouter({
    stateDir,
    secrets: { ROUTER_API_KEYS: E2E.clientKey, HOST_A_KEY: E2E.hostKey },
    config: {
      version: 100,
      providers: [
        { id: "a", label: "Host A (keyed)", baseUrl: hostA.url, auth: { apiKeySecret: "HOST_A_KEY" }, discover: true },
        { id: "b", label: "Host B", baseUrl: hostB.url, discover: true },
      ],
      aliases: { pool: ["a/tiny", "b/tiny"] },
    },
  });
  console.log(`e2e world ready in ${Date.now() - started} ms: router ${router.url}, a ${hostA.url}, b ${hostB.url}`);
  project.provide("routerUrl", router.url);
  project.provide("hostA", hostA.url);
  project.provide("hostB", hostB.url);
  project.provide("stateDir", stateDir);
  (globalThis as any).__e2eRouter = router;

  return async () => {
    await router.stop();
    await Promise.all([hostA.stop(), hostB.stop()]);
  };
}
