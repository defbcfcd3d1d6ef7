// GET /status.json: the public activity figures the status page refreshes from. Requests in flight are counted by the
// router from the host call until the answer has ended (stream end, JSON body, failure); tokens/s come from the
// answers' own timings. It never makes a host work and shows only the public view.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import slotsBody from "../fixtures/llama-server/slots.body?raw";
import { fakeHosts, hostJson, refused, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { direct, heldStream } from "../helpers/held-stream.js";
import { KEY, call, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string, spare: string, down: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;

beforeEach(async () => {
  [gpu, spare, down] = [uniqueHost("gpu"), uniqueHost("spare"), uniqueHost("down")];
  await useConfig({
    version: 7,
    providers: [
      { id: "gpu", label: "GPU box", baseUrl: gpu, auth: { apiKeySecret: "GPU_KEY" }, models: [{ id: "qwen-32b", upstream: "tiny" }] },
      { id: "spare", baseUrl: spare, models: [{ id: "qwen-32b", upstream: "tiny" }] },
      { id: "down", baseUrl: down, models: [{ id: "big" }] },
    ],
    aliases: { pool: ["down/big", "spare/qwen-32b"] },
  });
});
afterEach(() => {
  hosts?.restore();
  vi.restoreAllMocks();
});

const CHAT = { messages: [{ role: "user", content: "hi" }], max_tokens: 4 };

async function activity(): Promise<Record<string, { inFlight: number; tokensPerSecond: number | null; recentAnswers: number }>> {
  const res = await direct("/status.json");
  expect(res.status).toBe(200);
  const body = await res.json<any>();
  return Object.fromEntries(body.providers.map((p: any) => [p.id, { inFlight: p.inFlight, tokensPerSecond: p.tokensPerSecond, recentAnswers: p.recentAnswers }]));
}

/** Resolves with the router's log line for `path` once it is written (the relay writes it when the stream has ended). */
function logLineFor(path: string): Promise<Record<string, unknown>> {
  const original = console.log.bind(console);
  return new Promise((resolve) => {
    const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      original(...args); // still seen by the suite's secret scan
      const line = String(args[0]);
      if (!line.startsWith('{"requestId"')) return;
      const parsed = JSON.parse(line);
      if (parsed.path !== path) return;
      spy.mockRestore();
      resolve(parsed);
    });
  });
}

describe("GET /status.json (activity)", () => {
  it("counts a held stream in flight until it ends, then reports the host's tokens/s", async () => {
    const host = heldStream();
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: host.handler });
    expect((await activity()).gpu).toEqual({ inFlight: 0, tokensPerSecond: null, recentAnswers: 0 });

    const logged = logLineFor("/v1/chat/completions");
    const res = await direct("/v1/chat/completions", { model: "gpu/qwen-32b", stream: true, ...CHAT });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    // Mid-stream: one request in flight on gpu, none elsewhere.
    const during = await activity();
    expect([during.gpu!.inFlight, during.spare!.inFlight, during.down!.inFlight]).toEqual([1, 0, 0]);

    host.release();
    while (!(await reader.read()).done);
    expect((await logged).outcome).toBe("complete");
    // Ended: back to zero, and the final chunk's timings (predicted_n 4 in 1.431 ms) give the speed.
    expect((await activity()).gpu).toEqual({ inFlight: 0, tokensPerSecond: 2795.2, recentAnswers: 1 });
  });

  it("counts a client that leaves mid-stream as ended", async () => {
    const host = heldStream();
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: host.handler });
    const logged = logLineFor("/v1/chat/completions");
    const res = await direct("/v1/chat/completions", { model: "gpu/qwen-32b", stream: true, ...CHAT });
    const reader = res.body!.getReader();
    await reader.read();
    expect((await activity()).gpu!.inFlight).toBe(1);
    await reader.cancel();
    // workerd tells the Worker that its client left at the next write: let the host speak again.
    host.release();
    expect((await logged).outcome).toBe("cancelled");
    expect((await activity()).gpu).toEqual({ inFlight: 0, tokensPerSecond: null, recentAnswers: 0 });
  });

  it("counts JSON answers and failures as ended, and a failover on the host that answered", async () => {
    hosts = fakeHosts({
      [`${gpu}/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
      [`${down}/v1/chat/completions`]: refused,
      [`${spare}/v1/chat/completions`]: () => hostJson(FIXTURES.errorContext, 400),
    });
    // A whole JSON answer: its timings (predicted_n 6 in 0.475 ms).
    expect((await direct("/v1/chat/completions", { model: "gpu/qwen-32b", ...CHAT })).status).toBe(200);
    // Unreachable, then a host that refuses the request: neither stays in flight.
    expect((await direct("/v1/chat/completions", { model: "down/big", ...CHAT })).status).toBe(502);
    expect((await direct("/v1/chat/completions", { model: "pool", ...CHAT })).status).toBe(400);
    const after = await activity();
    expect(after.gpu).toEqual({ inFlight: 0, tokensPerSecond: 12631.6, recentAnswers: 1 });
    expect(after.down).toEqual({ inFlight: 0, tokensPerSecond: null, recentAnswers: 0 });
    expect(after.spare).toEqual({ inFlight: 0, tokensPerSecond: null, recentAnswers: 0 });
  });

  it("is public, never asks a host, and shows only the public view", async () => {
    hosts = fakeHosts({
      [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models),
      [`${gpu}/slots`]: () => hostJson(slotsBody),
      [`${spare}/v1/models`]: () => hostJson(FIXTURES.error401, 401),
      [`${down}/v1/models`]: refused,
    });
    // Before the page has been rendered in this isolate: providers and activity, health unknown, no models.
    const before = await (await call("/status.json", { key: null })).json<any>();
    expect(hosts.calls).toHaveLength(0);
    expect(before).toEqual({
      checkedAt: null,
      providers: ["gpu", "spare", "down"].map((id) => ({ id, label: id === "gpu" ? "GPU box" : id, status: "unknown", reason: null, latencyMs: null, inFlight: 0, tokensPerSecond: null, recentAnswers: 0, slots: null, loadedModels: null })),
      models: [],
      aliases: [{ name: "pool", policy: "ordered", members: [{ id: "down/big", status: "unknown" }, { id: "spare/qwen-32b", status: "unknown" }] }],
    });
    // After a page load: that snapshot's health, reasons and slot use, still without asking a host again.
    await call("/", { key: null });
    const calls = hosts.calls.length;
    const res = await call("/status.json", { key: null });
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const text = await res.text();
    expect(hosts.calls).toHaveLength(calls);
    const body = JSON.parse(text);
    expect(body.providers.map((p: any) => [p.id, p.status, p.reason, p.slots, p.loadedModels])).toEqual([
      ["gpu", "online", null, { busy: 0, total: 4 }, ["gpu/qwen-32b"]],
      ["spare", "unauthorized", "unauthorized", null, null],
      ["down", "offline", "unreachable", null, null],
    ]);
    expect(body.models.find((m: any) => m.id === "gpu/qwen-32b")).toEqual({ id: "gpu/qwen-32b", provider: "gpu", status: "online", loaded: null, contextLength: 1024, contextTrain: 65536, slots: { busy: 0, total: 4 }, source: "config" });
    expect(body.aliases[0].members).toEqual([{ id: "down/big", status: "offline" }, { id: "spare/qwen-32b", status: "unauthorized" }]);
    for (const word of [".test", "SECRET", "GPU_KEY", "baseUrl", '"error"', "HTTP 401", "is unreachable", "refused the router's credentials"]) expect(text).not.toContain(word);
  });

  it("answers only GET", async () => {
    const res = await call("/status.json", { method: "POST", body: "{}", key: null });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
    expect((await res.json<any>()).error).toMatchObject({ code: "method_not_allowed" });
  });
});
