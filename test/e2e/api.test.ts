// The app API (/api) through wrangler dev against the real llama-server hosts of setup.ts: the catalog's windows are
// the hosts' own per-slot n_ctx, /api/context counts what the host counts for a real chat, and an Arena over three
// real models streams all three interleaved, then one result each and done.
import { readFileSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import type { ProvidersConfigInput } from "../../src/config/schema.js";
import { E2E } from "./setup.js";

const routerUrl = inject("routerUrl");
const stateDir = inject("stateDir");
/** The config setup.ts pushed: where each provider's host is, and whether it needs the host key. */
const config = JSON.parse(readFileSync(`${stateDir}/llama-providers.json`, "utf8")) as ProvidersConfigInput;
const MESSAGES = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Count the tokens of this sentence, please: naïve café, 42 ☕." },
];

async function api(path: string, body?: unknown, init: RequestInit = {}) {
  const res = await fetch(`${routerUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${E2E.clientKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    ...init,
  });
  return { res, body: (res.headers.get("content-type") ?? "").includes("json") ? await res.json() : await res.text() } as { res: Response; body: any };
}

/** Straight to a provider's host, as the router would (with the host key where the config names one). */
async function host(providerId: string, path: string, body?: unknown): Promise<any> {
  const p = config.providers.find((x) => x.id === providerId)!;
  const res = await fetch(`${p.baseUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", ...(p.auth ? { authorization: `Bearer ${E2E.hostKey}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status, `${providerId} ${path}`).toBe(200);
  return res.json();
}

/** The host's own per-slot window for a model, asked without loading it (undefined when it is not loaded). */
async function hostWindow(providerId: string, upstream: string): Promise<number | undefined> {
  const p = config.providers.find((x) => x.id === providerId)!;
  const res = await fetch(`${p.baseUrl}/slots?model=${encodeURIComponent(upstream)}&autoload=false`, {
    headers: p.auth ? { authorization: `Bearer ${E2E.hostKey}` } : {},
  });
  if (res.status === 400) return undefined;
  const slots = (await res.json()) as { n_ctx: number }[];
  expect(new Set(slots.map((s) => s.n_ctx)).size).toBe(1);
  return slots[0]!.n_ctx;
}

describe("the app API against real llama-server hosts", () => {
  it("GET /api/catalog: every host online, and every model's contextLength is its host's per-slot n_ctx", async () => {
    const { res, body } = await api("/api/catalog");
    expect(res.status).toBe(200);
    expect(body.providers.map((p: any) => [p.id, p.status])).toEqual(config.providers.map((p) => [p.id, "online"]));
    expect(body.models.length).toBeGreaterThanOrEqual(config.providers.length);
    for (const m of body.models) {
      expect(m).toMatchObject({ source: expect.stringMatching(/config|discovered/), status: "online", contextTrain: 65536 });
      // An unloaded router-mode model: the window predicted from its launch args must be what it gets once loaded.
      if (m.loaded === false) await api("/api/tokenize", { model: m.id, content: "load" });
      expect({ id: m.id, window: await hostWindow(m.provider, m.upstream) }).toEqual({ id: m.id, window: m.contextLength });
    }
    const { body: offline } = await api("/api/catalog?live=false");
    expect(offline.providers.every((p: any) => p.status === "unknown")).toBe(true);
  });

  it("GET /api/models/{id}: the entry plus the host's slots and props", async () => {
    const { body: catalog } = await api("/api/catalog");
    for (const m of catalog.models) {
      const { res, body } = await api(`/api/models/${m.id}`);
      expect(res.status).toBe(200);
      if (m.loaded === false) {
        // A router-mode model nobody used yet: asking about it must not load it.
        expect(body).toMatchObject({ id: m.id, loaded: false, slots: null });
        continue;
      }
      expect(body).toMatchObject({ id: m.id, contextLength: m.contextLength, slots: { total: expect.any(Number), busy: expect.any(Number) } });
      expect(body.props.default_generation_settings.n_ctx).toBe(m.contextLength);
      expect(body.slots.total).toBe(body.props.total_slots);
    }
    const missing = await api("/api/models/a/llama-70b");
    expect(missing.res.status).toBe(404);
    expect(missing.body.error.code).toBe("model_not_found");
  });

  it("POST /api/context counts exactly what the host counts: its /apply-template + /tokenize, and a real chat's prompt_tokens", async () => {
    const { body: catalog } = await api("/api/catalog");
    for (const m of catalog.models) {
      const { res, body } = await api("/api/context", { model: m.id, messages: MESSAGES });
      expect(res.status, m.id).toBe(200);
      const { prompt } = await host(m.provider, "/apply-template", { model: m.upstream, messages: MESSAGES });
      const { tokens } = await host(m.provider, "/tokenize", { model: m.upstream, content: prompt, add_special: true });
      expect(body).toEqual({ model: m.id, promptTokens: tokens.length, contextLength: m.contextLength, remaining: m.contextLength - tokens.length });
      const chat = await api("/api/chat", { model: m.id, purpose: "compaction", messages: MESSAGES, max_tokens: 1 });
      expect(chat.res.status).toBe(200);
      expect({ model: m.id, promptTokens: body.promptTokens }).toEqual({ model: m.id, promptTokens: chat.body.usage.prompt_tokens });
    }
  });

  it("POST /api/tokenize and /api/detokenize round-trip on the host's tokenizer", async () => {
    const content = "hello world, naïve café";
    const { body } = await api("/api/tokenize", { model: "b/tiny", content });
    expect(body.tokens).toEqual((await host("b", "/tokenize", { content })).tokens);
    expect(body.count).toBe(body.tokens.length);
    const back = await api("/api/detokenize", { model: "b/tiny", tokens: body.tokens });
    expect(back.body).toEqual({ model: "b/tiny", content: expect.stringContaining(content) });
  });

  it("POST /api/chat streams with the composite id and ends with usage", async () => {
    const { res, body } = await api("/api/chat", { model: "a/tiny", purpose: "task", messages: MESSAGES, max_tokens: 8, stream: true });
    expect(res.status).toBe(200);
    const events = (body as string).split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    for (const c of chunks) expect(c.model).toBe("a/tiny");
    expect(chunks.at(-1).usage.completion_tokens).toBeGreaterThan(0);
  });

  it("POST /api/arena over three real models: all three interleaved, one result each, done last", async () => {
    const { body: catalog } = await api("/api/catalog");
    // Three models on three hosts where there are three, so they really run side by side.
    const models: string[] = [];
    for (const m of catalog.models) if (models.length < 3 && !models.some((x) => x.startsWith(`${m.provider}/`))) models.push(m.id);
    for (const m of catalog.models) if (models.length < 3 && !models.includes(m.id)) models.push(m.id);
    expect(models).toHaveLength(3);
    const tokens = 300;
    const { res, body } = await api("/api/arena", { models: [...models, "a/llama-70b"], messages: MESSAGES, max_tokens: tokens, ignore_eos: true });
    expect(res.status).toBe(200);
    const frames = (body as string).split("\n\n").filter(Boolean).map((block) => {
      const [event, data] = block.split("\n");
      return { event: event!.slice(7), data: JSON.parse(data!.slice(6)) };
    });
    expect(frames.at(-1)).toMatchObject({ event: "done", data: { models: 4 } });
    const chunks = frames.filter((f) => f.event === "chunk");
    for (const c of chunks) expect(c.data.chunk.model).toBe(models[c.data.index]);
    const order = chunks.map((c) => c.data.index);
    expect(new Set(order)).toEqual(new Set([0, 1, 2]));
    const switches = order.filter((x, i) => i > 0 && x !== order[i - 1]).length;
    expect(switches, "chunks of the three models interleave").toBeGreaterThan(3);

    const results = frames.filter((f) => f.event === "result").map((f) => f.data);
    expect(results.map((r) => r.index).sort()).toEqual([0, 1, 2, 3]);
    for (const r of results.filter((r) => r.index < 3)) {
      expect(r).toMatchObject({ model: models[r.index], route: models[r.index], completionTokens: tokens, finishReason: "length" });
      expect(r.error).toBeUndefined();
      expect(r.ttftMs).toBeGreaterThan(0);
      expect(r.tokensPerSecond).toBeGreaterThan(0);
    }
    // The fourth model does not exist: its result says so, the others were not disturbed.
    expect(results.find((r) => r.index === 3)).toMatchObject({ model: "a/llama-70b", completionTokens: 0, error: { code: "model_not_found" } });
  });

  it("a client leaving an Arena frees every host's slot at once, long before the generations would have ended", async () => {
    // Both members on the slow host (2 slots, ~90 tokens/s): a tiny model at full speed under wrangler dev floods its
    // inspector proxy, which posts one debug message per received chunk to wrangler's Node process (thousands of
    // sockets a second until the process runs out of files); that is the dev server's cost, not the router's.
    const models = ["s/slow", "s/slow"];
    const abort = new AbortController();
    const res = await fetch(`${routerUrl}/api/arena`, {
      method: "POST",
      headers: { authorization: `Bearer ${E2E.clientKey}`, "content-type": "application/json" },
      body: JSON.stringify({ models, messages: MESSAGES, max_tokens: 3_000, ignore_eos: true }),
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    const started = Date.now();
    let received = 0;
    const seen = new Set<string>();
    while (Date.now() - started < 1_500 || seen.size < 2) {
      const { done, value } = await reader.read();
      if (done) throw new Error("the Arena stream ended before the test left it");
      const text = new TextDecoder().decode(value);
      received += (text.match(/event: chunk/g) ?? []).length;
      for (const m of text.matchAll(/"index":(\d),"chunk"/g)) seen.add(m[1]!);
    }
    const perLaneRate = received / 2 / ((Date.now() - started) / 1000);
    const busy = async () => ((await host("s", "/slots")) as any[]).filter((slot) => slot.is_processing).length;
    expect(await busy()).toBe(2);
    abort.abort();
    const aborted = Date.now();
    await expect.poll(busy, { timeout: 10_000, interval: 50 }).toBe(0);
    const freedMs = Date.now() - aborted;
    // What the hosts would still have needed at the pace seen (an underestimate: later tokens are slower).
    const remainingMs = ((3_000 - received / 2) / perLaneRate) * 1000;
    expect(freedMs).toBeLessThan(remainingMs / 4);
    console.log(`arena disconnect: slots idle ${freedMs} ms after the client left; generation had ~${Math.round(remainingMs)} ms to go`);
  });
});
