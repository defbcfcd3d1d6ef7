// The router under `wrangler dev` in front of two real llama-server hosts that both serve a model named `tiny`,
// driven by the `openai` npm SDK as an agent would drive it.
import OpenAI from "openai";
import { readFileSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import { E2E } from "./setup.js";
import { pushConfig, readRouterLog } from "./support/router.js";

const routerUrl = inject("routerUrl");
const stateDir = inject("stateDir");
const client = new OpenAI({ baseURL: `${routerUrl}/v1`, apiKey: E2E.clientKey, maxRetries: 0 });
const messages = [{ role: "user" as const, content: "Say hello" }];
/** Every raw answer body this file saw, scanned for secrets at the end. */
const seen: string[] = [];

async function raw(path: string, init: RequestInit = {}) {
  const res = await fetch(`${routerUrl}${path}`, { ...init, headers: { authorization: `Bearer ${E2E.clientKey}`, "content-type": "application/json", ...init.headers } });
  const text = await res.text();
  seen.push(text, JSON.stringify([...res.headers]));
  return { res, text };
}

describe("boocode-local /v1 through wrangler dev, real llama-server hosts", () => {
  it("/health names the KV config that was pushed and the auth mode", async () => {
    const { res, text } = await raw("/health", { headers: { authorization: "" } });
    expect(res.status).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ status: "ok", auth: "keys", config: { source: "kv", version: 100, error: null } });
  });

  it("lists both hosts' `tiny` as a/tiny and b/tiny, and the router-mode host's models, each with its per-slot window", async () => {
    const list = await client.models.list();
    const byId = Object.fromEntries(list.data.map((m) => [m.id, m as any]));
    expect(Object.keys(byId).sort()).toEqual(["a/tiny", "b/tiny", "r/alpha", `r/${E2E.routerModeName}`, "s/slow"]);
    expect(byId["a/tiny"]).toMatchObject({ object: "model", owned_by: "a", context_length: 32768 });
    expect(byId["b/tiny"]).toMatchObject({ object: "model", owned_by: "b", context_length: 16384 });
    expect(byId["r/alpha"]).toMatchObject({ object: "model", owned_by: "r", context_length: 32768 });
    expect(byId[`r/${E2E.routerModeName}`]).toMatchObject({ owned_by: "r", context_length: 32768 });
  });

  it.each(["r/alpha", `r/${E2E.routerModeName}`])("router mode: %s loads on first use and answers under its composite id", async (model) => {
    const { data, response } = await client.chat.completions.create({ model, messages, max_tokens: 8 }).withResponse();
    expect(data.model).toBe(model);
    expect(response.headers.get("x-boocode-route")).toBe(model);
    const stream = await client.chat.completions.create({ model, messages, max_tokens: 8, stream: true });
    for await (const chunk of stream) expect(chunk.model).toBe(model);
  });

  it.each(["a/tiny", "b/tiny"])("chat (non-streaming) on %s is served by that host and names it", async (model) => {
    const { data, response } = await client.chat.completions.create({ model, messages, max_tokens: 8 }).withResponse();
    expect(data.model).toBe(model);
    expect(data.object).toBe("chat.completion");
    expect(data.choices[0]!.message.role).toBe("assistant");
    expect(data.usage!.completion_tokens).toBeGreaterThan(0);
    expect(response.headers.get("x-boocode-route")).toBe(model);
    const requestId = response.headers.get("x-request-id")!;
    await expect.poll(() => readRouterLog(stateDir).find((l) => l.requestId === requestId)).toMatchObject({ route: model, status: 200 });
    seen.push(JSON.stringify(data));
  });

  it.each(["a/tiny", "b/tiny"])("chat (streaming) on %s: every chunk carries the composite id, usage arrives last", async (model) => {
    const stream = await client.chat.completions.create({ model, messages, max_tokens: 16, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    seen.push(JSON.stringify(chunks));
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks) expect(chunk.model).toBe(model);
    expect(chunks.at(-1)!.usage!.completion_tokens).toBeGreaterThan(0);
    expect(chunks.some((c) => c.choices[0]?.finish_reason)).toBe(true);
  });

  it("refuses the bare name `tiny` as ambiguous, listing both candidates", async () => {
    const err = await client.chat.completions.create({ model: "tiny", messages }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.status).toBe(400);
    expect(err.code).toBe("ambiguous_model");
    expect(err.error.candidates).toEqual(["a/tiny", "b/tiny"]);
  });

  it("answers 404 model_not_found for a model neither host has", async () => {
    const err = await client.chat.completions.create({ model: "a/llama-70b", messages }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.code).toBe("model_not_found");
  });

  it("refuses a wrong client key with 401", async () => {
    const bad = new OpenAI({ baseURL: `${routerUrl}/v1`, apiKey: "wrong", maxRetries: 0 });
    const err = await bad.models.list().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("serves an ordered chain from its first member", async () => {
    const { data, response } = await client.chat.completions.create({ model: "chain", messages, max_tokens: 4 }).withResponse();
    expect(data.model).toBe("a/tiny");
    expect(response.headers.get("x-boocode-route")).toBe("a/tiny");
  });

  it("legacy completions stream with the composite id", async () => {
    const stream = await client.completions.create({ model: "b/tiny", prompt: "Once", max_tokens: 8, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(chunk.model).toBe("b/tiny");
  });

  it("Anthropic /v1/messages (JSON and stream) and /v1/responses (stream) carry the composite id", async () => {
    const body = { model: "a/tiny", max_tokens: 8, messages };
    const plain = await raw("/v1/messages", { method: "POST", body: JSON.stringify(body) });
    expect(plain.res.status).toBe(200);
    expect(JSON.parse(plain.text)).toMatchObject({ type: "message", model: "a/tiny" });
    const streamed = await raw("/v1/messages", { method: "POST", body: JSON.stringify({ ...body, stream: true }) });
    expect(streamed.text).toContain('"model":"a/tiny"');
    expect(streamed.text).toContain("message_stop");
    const responses = await raw("/v1/responses", { method: "POST", body: JSON.stringify({ model: "b/tiny", input: "hi", max_output_tokens: 8, stream: true }) });
    expect(responses.res.status).toBe(200);
    expect(responses.text).toContain('"model":"b/tiny"');
    expect(responses.text).not.toContain('"model":"tiny"');
  });

  it("a config pushed to local KV while the router runs is live without a restart", async () => {
    const current = JSON.parse(readFileSync(`${stateDir}/llama-providers.json`, "utf8"));
    pushConfig({ ...current, version: 101 }, stateDir);
    await expect.poll(async () => JSON.parse((await raw("/health")).text).config.version, { timeout: 10_000 }).toBe(101);
  });

  it("no answer and no log line ever contains the host's key or the client's key", () => {
    expect(seen.length).toBeGreaterThan(10);
    const answers = seen.join("\n");
    expect(answers).not.toContain(E2E.hostKey);
    expect(answers).not.toContain(E2E.clientKey);
    const log = readFileSync(`${stateDir}/router.log`, "utf8");
    expect(log).toContain('"route":"a/tiny"');
    expect(log).not.toContain(E2E.hostKey);
    expect(log).not.toContain(E2E.clientKey);
  });
});
