// Mid-stream continuation on real hosts: two llama-servers serve the same model file (the slow one, ~90 tokens/s, so a
// kill lands mid-answer) as a replicas pool; the host serving a stream is killed with SIGKILL after a few chunks, and
// the `openai` SDK still receives one complete answer, the same one an uninterrupted run gives (temperature 0). The
// two hosts and the pool exist only for this file: the config is pushed here and the original one restored after.
import Anthropic from "@anthropic-ai/sdk";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import { resolve } from "node:path";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { ProvidersConfigInput } from "../../src/config/schema.js";
import { E2E } from "./setup.js";
import { ensureModel, startLlamaServer, type LlamaServerOptions, type RunningLlamaServer } from "./support/llama-server.js";
import { pushConfig, readRouterLog } from "./support/router.js";

const routerUrl = inject("routerUrl");
const stateDir = inject("stateDir");
const client = new OpenAI({ baseURL: `${routerUrl}/v1`, apiKey: E2E.clientKey, maxRetries: 0 });
const original = JSON.parse(readFileSync(`${stateDir}/llama-providers.json`, "utf8")) as ProvidersConfigInput;
const hosts: Record<string, RunningLlamaServer> = {};
const poolHost: Record<string, LlamaServerOptions> = {};
const killedHosts: string[] = [];

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
  for (const name of ["k1", "k2"]) {
    poolHost[name] = { model: slow, alias: "slow", ctx: 4096, parallel: 1, logFile: `${stateDir}/host-${name}.log` };
    hosts[name] = await startLlamaServer(poolHost[name]!);
  }
  // A template that renders every field of a message, and no prompt cache: the same prompt always gives the same answer.
  const everything = ["--chat-template-file", resolve("test/e2e/support/chat-template-everything.jinja"), "--no-cache-prompt"];
  hosts.e1 = await startLlamaServer({ model: slow, alias: "slow", ctx: 4096, parallel: 1, extraArgs: everything, logFile: `${stateDir}/host-e1.log` });
  const { k1, k2, e1 } = hosts;
  const provider = (id: string, url: string) => ({ id, label: `Continuation host ${id}`, baseUrl: url, discover: false, models: [{ id: "slow" }] });
  pushConfig({
    ...original,
    version: original.version + 50,
    providers: [...original.providers, provider("k1", k1!.url), provider("k2", k2!.url), provider("e1", e1!.url)],
    aliases: { ...original.aliases, kpool: { members: ["k1/slow", "k2/slow"], policy: "replicas" } },
  }, stateDir);
  await servedVersion(original.version + 50);
});

/** A pool host the last test killed comes back on its port, so that each test starts with both members. */
afterEach(async () => {
  for (const name of killedHosts.splice(0)) {
    await hosts[name]!.stop();
    hosts[name] = await startLlamaServer({ ...poolHost[name]!, port: hosts[name]!.port });
  }
});

/** SIGKILL, as a host dies: no goodbye on its connections. */
function kill(name: string): void {
  killedHosts.push(name);
  process.kill(-hosts[name]!.pid, "SIGKILL");
}

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
      kill(killed);
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

/** Temperature 0, which llama-server's Anthropic endpoint reads (this SDK's types no longer list it; it sends it as given). */
const GREEDY = { temperature: 0 } as object;

/**
 * An Anthropic stream as the Anthropic SDK gives it (messages.stream), through the router to kpool, the serving host
 * killed after `killAfter` text deltas (0: never).
 */
async function anthropicAnswer(killAfter: number) {
  const anthropic = new Anthropic({ baseURL: routerUrl, apiKey: E2E.clientKey, maxRetries: 0 });
  const stream = anthropic.messages.stream({ model: "kpool", max_tokens: 60, ...GREEDY, messages: [{ role: "user", content: "Tell me about the sea." }] });
  const response = (await stream.withResponse()).response;
  const route = response.headers.get("x-boocode-route")!.split(";")[0]!;
  let deltas = 0;
  let killed: string | undefined;
  const starts: string[] = [];
  stream.on("streamEvent", (event) => {
    if (event.type === "message_start") starts.push(event.message.id);
    if (event.type === "content_block_delta" && event.delta.type === "text_delta" && ++deltas === killAfter) {
      killed = route.split("/")[0]!;
      kill(killed);
    }
  });
  const message = await stream.finalMessage();
  const text = message.content.map((b) => (b.type === "text" ? b.text : "")).join("");
  return { message, text, starts, route, killed, requestId: response.headers.get("x-request-id")! };
}

describe("an Anthropic /v1/messages stream (Claude Code's API) on real hosts", () => {
  /** Bodies that exercise each conversion rule: system blocks with Claude Code's billing line, thinking, tool use and results. */
  const conversation: Anthropic.MessageCreateParamsStreaming = {
    model: "slow",
    max_tokens: 12,
    ...GREEDY,
    stream: true,
    system: [{ type: "text", text: "x-anthropic-billing-header: cc_version=2.1.3; cc_entrypoint=cli; cch=9a8b7;" }, { type: "text", text: "You are a coding agent.", cache_control: { type: "ephemeral" } }],
    tools: [{ name: "read_file", description: "Read a file", input_schema: { type: "object", properties: { path: { type: "string" }, lines: { type: "integer" } }, required: ["path"] } }],
    metadata: { user_id: "user-1" },
    messages: [
      { role: "user", content: [{ type: "text", text: "What is in notes.md?", cache_control: { type: "ephemeral" } }] },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "I should read it.", signature: "" },
          { type: "text", text: "Reading it." },
          { type: "tool_use", id: "toolu_1", name: "read_file", input: { path: "notes.md", lines: 20 } },
        ],
      },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "buy milk" }, { type: "text", text: "\ncall mum" }] }] },
      { role: "user", content: "Summarise it." },
    ],
  };

  it("is asked of the chat endpoint exactly as llama-server converts it: the same prompt tokens and the same answer at temperature 0", async () => {
    const host = new Anthropic({ baseURL: hosts.e1!.url, apiKey: "none", maxRetries: 0 });
    const router = new Anthropic({ baseURL: routerUrl, apiKey: E2E.clientKey, maxRetries: 0 });
    const simple: Anthropic.MessageCreateParamsStreaming = { model: "slow", max_tokens: 12, ...GREEDY, stream: true, system: "Be brief.", messages: [{ role: "user", content: "Hello there" }] };
    for (const body of [simple, conversation]) {
      const native = await host.messages.stream(body).finalMessage();
      const routed = await router.messages.stream({ ...body, model: "e1/slow" }).finalMessage();
      expect(routed.model).toBe("e1/slow");
      expect(routed.content).toEqual(native.content);
      expect(routed.stop_reason).toBe(native.stop_reason);
      expect(routed.usage.input_tokens + (routed.usage.cache_read_input_tokens ?? 0)).toBe(native.usage.input_tokens + (native.usage.cache_read_input_tokens ?? 0));
      expect(routed.usage.output_tokens).toBe(native.usage.output_tokens);
    }
    // The billing line's changing value is blanked as llama-server does: another value, the same prompt.
    const other = { ...conversation, model: "e1/slow", system: [{ type: "text" as const, text: "x-anthropic-billing-header: cc_version=2.1.3; cc_entrypoint=cli; cch=00000;" }, ...(conversation.system as Anthropic.TextBlockParam[]).slice(1)] };
    const [a, b] = [await router.messages.stream({ ...conversation, model: "e1/slow" }).finalMessage(), await router.messages.stream(other).finalMessage()];
    expect(b.content).toEqual(a.content);
    expect(b.usage.input_tokens).toBe(a.usage.input_tokens);
  });

  it("a host killed mid-stream: the Anthropic SDK receives one complete message, the same as without the kill", async () => {
    const reference = await anthropicAnswer(0);
    expect(reference.message.stop_reason).toBe("max_tokens");
    expect(reference.message.usage.output_tokens).toBe(60);
    const cut = await anthropicAnswer(15);
    expect(cut.killed).toBeDefined();
    expect(cut.text).toBe(reference.text);
    expect(cut.starts).toHaveLength(1);
    expect(cut.message).toMatchObject({ model: cut.route, stop_reason: "max_tokens", usage: { output_tokens: 60 } });
    expect(cut.message.usage.input_tokens + (cut.message.usage.cache_read_input_tokens ?? 0)).toBe(reference.message.usage.input_tokens + (reference.message.usage.cache_read_input_tokens ?? 0));
    await expect.poll(() => readRouterLog(stateDir).find((l) => l.requestId === cut.requestId)).toMatchObject({
      path: "/v1/messages",
      outcome: "complete",
      continued: { from: cut.route, to: cut.route === "k1/slow" ? "k2/slow" : "k1/slow", atToken: expect.any(Number) },
    });
  });
});
