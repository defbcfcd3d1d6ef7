/**
 * Starts the e2e world once, for every e2e file:
 * - host `a`: single model `tiny` behind an API key the router holds as a secret, 2 slots of 32,768 tokens
 *   (Claude Code's first request is ~17,500 tokens, Codex's ~19,700 with the byte-level test vocabulary);
 * - host `b`: another model also named `tiny` (same name, other machine), 2 slots of 16,384 (opencode's ~9,500);
 * - host `r`: llama-server in router mode with two models, `alpha` (a file in --models-dir) and
 *   `org/tiny-GGUF:Q4_K_M` (a preset: a name with `/` and `:`);
 * - host `s`: a slow model (`slow`, 768-dim, ~90 tokens/s, no EOS bias) to watch cancellation on `/slots`;
 * - the router under `wrangler dev`, config pushed to its local KV state, client keys on.
 * Every host but `s` biases the EOS token (`--logit-bias 2+4`) so answers end by themselves, as agents expect, and
 * constrains every answer to begin with a letter or digit (a grammar: EOS is only allowed once it is satisfied), so
 * no answer is ever empty or whitespace. Without it the random weights made EOS the first token in ~1 run in 6, an
 * empty answer that looks exactly like a dropped first chunk.
 * Host `b` renders the names of a request's tools into the prompt (the test model's template ignores them), so a
 * test can see from `prompt_tokens` that the tools reached the host.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { ensureLlamaServer, ensureModel, startLlamaServer } from "./support/llama-server.js";
import { routerLogPath, startRouter } from "./support/router.js";

export const E2E = {
  clientKey: "e2e-client-key-7f3a",
  hostKey: "sk-e2e-host-a-SECRET-91c2",
  routerModeName: "org/tiny-GGUF:Q4_K_M",
} as const;

declare module "vitest" {
  export interface ProvidedContext {
    routerUrl: string;
    hostA: string;
    hostB: string;
    hostR: string;
    hostS: string;
    stateDir: string;
  }
}

const EOS_BIAS = ["--logit-bias", "2+4"];
const NEVER_EMPTY = ["--grammar", "root ::= [a-zA-Z0-9] .*"];
const ENDING_ANSWERS = [...EOS_BIAS, ...NEVER_EMPTY];
const TOOLS_TEMPLATE = ["--chat-template-file", resolve("test/e2e/support/chat-template-with-tools.jinja")];

export default async function setup(project: TestProject) {
  const started = Date.now();
  await ensureLlamaServer();
  const tinyA = await ensureModel("tiny-a", { seed: 1 });
  const tinyB = await ensureModel("tiny-b", { seed: 2 });
  const tinyC = await ensureModel("tiny-c", { seed: 3 });
  const slow = await ensureModel("slow", { embd: 768, layers: 8, seed: 4 });
  const stateDir = resolve(".cache/e2e");
  rmSync(stateDir, { recursive: true, force: true });
  const modelsDir = `${stateDir}/models-r`;
  mkdirSync(modelsDir, { recursive: true });
  copyFileSync(tinyC, `${modelsDir}/alpha.gguf`);
  const preset = `${stateDir}/models-r.ini`;
  writeFileSync(preset, `[${E2E.routerModeName}]\nmodel = ${resolve(tinyB)}\n`);

  const [hostA, hostB, hostR, hostS] = await Promise.all([
    startLlamaServer({ model: tinyA, alias: "tiny", ctx: 65536, parallel: 2, apiKey: E2E.hostKey, extraArgs: ENDING_ANSWERS, logFile: `${stateDir}/host-a.log` }),
    startLlamaServer({ model: tinyB, alias: "tiny", ctx: 32768, parallel: 2, extraArgs: [...ENDING_ANSWERS, ...TOOLS_TEMPLATE], logFile: `${stateDir}/host-b.log` }),
    startLlamaServer({ modelsDir, modelsPreset: preset, ctx: 32768, parallel: 1, extraArgs: ENDING_ANSWERS, logFile: `${stateDir}/host-r.log` }),
    startLlamaServer({ model: slow, alias: "slow", ctx: 8192, parallel: 2, logFile: `${stateDir}/host-s.log` }),
  ]);
  const router = await startRouter({
    stateDir,
    secrets: { ROUTER_API_KEYS: E2E.clientKey, HOST_A_KEY: E2E.hostKey },
    config: {
      version: 100,
      providers: [
        { id: "a", label: "Host A (keyed)", baseUrl: hostA.url, auth: { apiKeySecret: "HOST_A_KEY" }, discover: true },
        { id: "b", label: "Host B", baseUrl: hostB.url, discover: true },
        { id: "r", label: "Router-mode host", baseUrl: hostR.url, discover: true },
        { id: "s", label: "Slow host", baseUrl: hostS.url, discover: true },
      ],
      aliases: {
        pool: { members: ["a/tiny", "b/tiny"], policy: "replicas" },
        chain: ["a/tiny", "b/tiny"],
        // The same model file on the router-mode host (loaded on demand) and on b.
        replicas: { members: [`r/${E2E.routerModeName}`, "b/tiny"], policy: "replicas" },
      },
    },
  });
  console.log(`e2e world ready in ${Date.now() - started} ms: router ${router.url}, a ${hostA.url}, b ${hostB.url}, r ${hostR.url}, s ${hostS.url}`);
  project.provide("routerUrl", router.url);
  project.provide("hostA", hostA.url);
  project.provide("hostB", hostB.url);
  project.provide("hostR", hostR.url);
  project.provide("hostS", hostS.url);
  project.provide("stateDir", stateDir);

  return async () => {
    await router.stop();
    await Promise.all([hostA.stop(), hostB.stop(), hostR.stop(), hostS.stop()]);
    // No secret in any log line. The router's whole output of the run (every request of every suite,
    // agents included) must not hold the client key or the host key.
    const output = readFileSync(routerLogPath(stateDir), "utf8");
    const leaked = Object.entries({ clientKey: E2E.clientKey, hostKey: E2E.hostKey }).filter(([, value]) => output.includes(value));
    if (leaked.length) {
      process.exitCode = 1; // vitest reports a teardown error but would still exit 0
      throw new Error(`the router's output holds secret values: ${leaked.map(([name]) => name).join(", ")} (${routerLogPath(stateDir)})`);
    }
  };
}
