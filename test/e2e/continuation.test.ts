// Mid-stream continuation on real hosts: two llama-servers serve the same model file (the slow one, ~90 tokens/s, so a
// kill lands mid-answer) as a replicas pool; the host serving a stream is killed with SIGKILL after a few chunks, and
// the `openai` SDK still receives one complete answer, the same one an uninterrupted run gives (temperature 0). The
// two hosts and the pool exist only for this file: the config is pushed here and the original one restored after.
import { readFileSync } from "node:fs";
import { get } from "node:http";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ProvidersConfigInput } from "../../src/config/schema.js";
import { E2E } from "./setup.js";
import { ensureModel, startLlamaServer, type RunningLlamaServer } from "./support/llama-server.js";
import { pushConfig, readRouterLog } from "./support/router.js";

const routerUrl = inject("routerUrl");
const stateDir = inject("stateDir");
const client = new OpenAI({ baseURL: `${routerUrl}/v1`, apiKey: E2E.clientKey, maxRetries: 0 });
const original = JSON.parse(readFileSync(`${stateDir}/llama-providers.json`, "utf8")) as ProvidersConfigInput;
const hosts: Record<string, RunningLlamaServer> = {};

/**
 * The config version the router serves, asked on a connection of its own: the poll below runs while the router's
 * dev server closes idle pooled connections, and a request on one that was just closed fails ("other side closed").
 */
const configVersion = () =>
  new Promise<number>((resolve, reject) => {
    get(`${routerUrl}/health`, { agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => resolve((JSON.parse(text) as { config: { version: number } }).config.version));
    }).on("error", reject);
  });

/** Waits until the router serves config `version` (it re-reads KV every 2 s); a hang guard, not a pause. */
async function servedVersion(version: number): Promise<void> {
  const since = Date.now();
  while ((await configVersion()) !== version) {
    if (Date.now() - since > 15_000) throw new Error(`the router did not take config version ${version} within 15 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  const slow = await ensureModel("slow", { embd: 768, layers: 8, seed: 4 });
  for (const name of ["k1", "k2"]) hosts[name] = await startLlamaServer({ model: slow, alias: "slow", ctx: 4096, parallel: 1, logFile: `${stateDir}/host-${name}.log` });
  const { k1, k2 } = hosts;
  const provider = (id: string, url: string) => ({ id, label: `Continuation host ${id}`, baseUrl: url, discover: false, models: [{ id: "slow" }] });
  pushConfig({
    ...original,
    version: original.version + 50,
    providers: [...original.providers, provider("k1", k1!.url), provider("k2", k2!.url)],
    aliases: { ...original.aliases, kpool: { members: ["k1/slow", "k2/slow"], policy: "replicas" } },
  }, stateDir);
  await servedVersion(original.version + 50);
});

afterAll(async () => {
  try {
    pushConfig(original, stateDir);
    await servedVersion(original.version);
  } finally {
    await Promise.all(Object.values(hosts).map((h) => h.stop()));
  }
});

/** A streamed answer as the SDK gives it, the serving host killed after `killAfter` content chunks (0: never). */
async function answer(killAfter: number) {
  const request = {
    model: "kpool",
    messages: [{ role: "user" as const, content: "Tell me about the sea." }],
    max_tokens: 80,
    temperature: 0,
    stream: true as const,
    stream_options: { include_usage: true },
    ignore_eos: true, // llama-server's own field: the answer is 80 tokens whatever the random weights say
  };
  const { data: stream, response } = await client.chat.completions.create(request).withResponse();
  const route = response.headers.get("x-boocode-route")!.split(";")[0]!;
  let text = "";
  let chunks = 0;
  let killed: string | undefined;
  const ids = new Set<string>();
  const finishes: string[] = [];
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    ids.add(chunk.id);
    expect(chunk.model).toBe(route);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (choice?.finish_reason) finishes.push(choice.finish_reason);
    if (!choice?.delta.content) continue;
    text += choice.delta.content;
    if (++chunks === killAfter) {
      killed = route.split("/")[0]!;
      process.kill(-hosts[killed]!.pid, "SIGKILL");
    }
  }
  return { text, ids, finishes, usage, route, killed, requestId: response.headers.get("x-request-id")! };
}

describe("a host killed mid-stream", () => {
  it("the openai SDK receives one complete answer, the same as without the kill, and the log line says where it continued", async () => {
    const reference = await answer(0);
    expect(reference.finishes).toEqual(["length"]);
    const cut = await answer(20);
    expect(cut.killed).toBeDefined();
    expect(cut.text).toBe(reference.text);
    expect(cut.ids.size).toBe(1);
    expect(cut.finishes).toEqual(["length"]);
    expect(cut.usage).toMatchObject({ completion_tokens: 80, prompt_tokens: reference.usage!.prompt_tokens, total_tokens: 80 + reference.usage!.prompt_tokens });
    const other = cut.route === "k1/slow" ? "k2/slow" : "k1/slow";
    await expect.poll(() => readRouterLog(stateDir).find((l) => l.requestId === cut.requestId)).toMatchObject({
      outcome: "complete",
      route: cut.route,
      continued: { from: cut.route, to: other, atToken: expect.any(Number), stallMs: expect.any(Number), prefillMs: expect.any(Number) },
    });
    const line = readRouterLog(stateDir).find((l) => l.requestId === cut.requestId)!;
    expect(line.continued.atToken).toBeGreaterThanOrEqual(20);
    expect(line.continued.atToken).toBeLessThan(80);
  });
});
