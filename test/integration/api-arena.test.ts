// POST /api/arena: one SSE stream over 2..6 models started at once; `chunk`, one `result` per model, `done` last;
// one failing model does not stop the others; a client that goes away cancels every upstream.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env.js";
import worker from "../../src/index.js";
import { fakeHosts, hostJson, hostStream, refused, sseEvents, type HostHandler } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { KEY, call, uniqueHost, useConfig } from "../helpers/worker.js";

let h: string[];
let hosts: ReturnType<typeof fakeHosts> | undefined;
const MESSAGES = [{ role: "user", content: "hi" }];
const EVENTS = sseEvents(FIXTURES.chatStream);
const enc = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeEach(async () => {
  h = ["h0", "h1", "h2", "h3"].map(uniqueHost);
  await useConfig({
    version: 5,
    providers: h.map((baseUrl, i) => ({ id: `h${i}`, baseUrl, discover: false, timeouts: { idleMs: 1_000 }, models: [{ id: "tiny" }] })),
    aliases: { pool: ["h3/tiny", "h0/tiny"] },
  });
});
afterEach(() => hosts?.restore());

/** A host that answers after `firstByteMs`, then sends the recorded stream one event per `gapMs`; records cancel(). */
function paced(firstByteMs: number, gapMs: number, events = EVENTS, cancelled?: () => void): HostHandler {
  return async () => {
    await sleep(firstByteMs);
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (i > 0) await sleep(gapMs);
        if (i >= events.length) return controller.close();
        controller.enqueue(enc.encode(events[i++ % events.length]!));
      },
      cancel: () => cancelled?.(),
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  };
}

/**
 * `count` hosts that answer after `firstByteMs`, then take turns event by event (`gapMs` apart): host i sends its
 * k-th event only after every host sent its (k-1)-th. The answers can only all complete if the router reads every
 * host at once; one read after another would wait forever (each stream holds at most a chunk or two ahead of its
 * reader).
 */
function lockstep(count: number, firstByteMs: number, gapMs: number): HostHandler[] {
  let sent = 0;
  let wake: (() => void)[] = [];
  return Array.from({ length: count }, (_, i) => async () => {
    await sleep(firstByteMs);
    let k = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (k >= EVENTS.length) return controller.close();
        while (sent !== k * count + i) await new Promise<void>((r) => wake.push(r));
        if (k > 0) await sleep(gapMs); // generation time, so a lane's tokens per second can be measured
        controller.enqueue(enc.encode(EVENTS[k++]!));
        sent++;
        const woken = wake;
        wake = [];
        woken.forEach((w) => w());
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
}

interface Frame {
  event: string;
  data: any;
}

async function frames(res: Response): Promise<Frame[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter(Boolean)
    .map((block) => {
      const lines = block.split("\n");
      expect(lines).toHaveLength(2);
      return { event: lines[0]!.replace(/^event: /, ""), data: JSON.parse(lines[1]!.replace(/^data: /, "")) };
    });
}

describe("POST /api/arena", () => {
  it("starts every model at once and streams them interleaved: chunks, one result each, done last", async () => {
    // The hosts take turns event by event (lockstep): the Arena finishes only if it reads all three at once.
    const turns = lockstep(3, 150, 15);
    hosts = fakeHosts(Object.fromEntries(h.slice(0, 3).map((u, i) => [`${u}/v1/chat/completions`, turns[i]!])));
    const res = await call("/api/arena", { json: { models: ["h0/tiny", "h1/tiny", "h2/tiny"], messages: MESSAGES, max_tokens: 5, temperature: 0 } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const all = await frames(res);

    expect(all.at(-1)).toEqual({ event: "done", data: { models: 3, wallMs: expect.any(Number) } });
    expect(all.filter((f) => f.event === "done")).toHaveLength(1);
    const chunks = all.filter((f) => f.event === "chunk");
    expect(chunks).toHaveLength(3 * (EVENTS.length - 1));
    for (const { data } of chunks) {
      expect(Object.keys(data)).toEqual(["model", "index", "chunk"]);
      expect(data.model).toBe(`h${data.index}/tiny`);
      expect(data.chunk).toMatchObject({ model: `h${data.index}/tiny`, object: "chat.completion.chunk" });
    }
    const order = chunks.map((c) => c.data.index);
    expect(order).not.toEqual([...order].sort()); // interleaved, not one model after another

    const results = all.filter((f) => f.event === "result").map((f) => f.data);
    expect(results.map((r) => r.index).sort()).toEqual([0, 1, 2]);
    for (const r of results) {
      expect(r).toEqual({
        model: `h${r.index}/tiny`,
        index: r.index,
        route: `h${r.index}/tiny`,
        ttftMs: expect.any(Number),
        completionTokens: 4, // the host's final usage chunk
        tokensPerSecond: expect.any(Number),
        finishReason: "length",
      });
      expect(r.ttftMs).toBeGreaterThanOrEqual(150);
      expect(r.tokensPerSecond).toBeGreaterThan(0);
      // Each model's result comes after its own last chunk.
      const lastChunk = all.findLastIndex((f) => f.event === "chunk" && f.data.index === r.index);
      expect(all.findIndex((f) => f.event === "result" && f.data.index === r.index)).toBeGreaterThan(lastChunk);
    }

    for (const c of hosts.calls) {
      expect(c.json()).toEqual({ model: "tiny", messages: MESSAGES, max_tokens: 5, temperature: 0, stream: true, stream_options: { include_usage: true } });
    }
  });

  it("one failing model yields its result with error; the others finish", async () => {
    hosts = fakeHosts({
      [`${h[0]}/v1/chat/completions`]: paced(0, 5),
      [`${h[1]}/v1/chat/completions`]: refused,
      [`${h[2]}/v1/chat/completions`]: () => hostStream(EVENTS, { after: 3, kind: "reset" }),
      [`${h[3]}/v1/chat/completions`]: () => hostJson(FIXTURES.errorContext, 400),
    });
    const res = await call("/api/arena", { json: { models: ["h0/tiny", "h1/tiny", "h2/tiny", "nas/nope", "pool"], messages: MESSAGES } });
    const all = await frames(res);
    expect(all.at(-1)!.event).toBe("done");
    const results = Object.fromEntries(all.filter((f) => f.event === "result").map((f) => [f.data.index, f.data]));
    expect(Object.keys(results)).toHaveLength(5);
    expect(results[0]).toMatchObject({ route: "h0/tiny", completionTokens: 4, finishReason: "length" });
    expect(results[0].error).toBeUndefined();
    expect(results[1]).toMatchObject({ model: "h1/tiny", route: null, ttftMs: null, completionTokens: 0, error: { code: "host_unreachable", type: "upstream_error", param: null } });
    expect(results[2]).toMatchObject({ route: "h2/tiny", completionTokens: 2, error: { code: "upstream_stream_broken", message: expect.stringMatching(/broke off/) } });
    expect(results[3]).toMatchObject({ model: "nas/nope", error: { code: "model_not_found", param: "model" } });
    // An alias pool: its first member answered 400 (not a host failure), so no failover; the host's facts are kept.
    expect(results[4]).toMatchObject({ model: "pool", error: { type: "exceed_context_size_error", n_ctx: 1024 } });
    expect(all.filter((f) => f.event === "chunk" && f.data.index === 2)).toHaveLength(3);
  });

  it("a model whose stream ends cleanly but before [DONE] yields its result with error, not as finished", async () => {
    hosts = fakeHosts({
      [`${h[0]}/v1/chat/completions`]: paced(0, 5),
      [`${h[1]}/v1/chat/completions`]: () => hostStream(EVENTS.slice(0, 3)),
    });
    const all = await frames(await call("/api/arena", { json: { models: ["h0/tiny", "h1/tiny"], messages: MESSAGES } }));
    const results = Object.fromEntries(all.filter((f) => f.event === "result").map((f) => [f.data.index, f.data]));
    expect(results[0].error).toBeUndefined();
    expect(results[1]).toMatchObject({ route: "h1/tiny", error: { code: "upstream_stream_broken", message: expect.stringMatching(/ended before the answer was complete/) } });
    expect(all.filter((f) => f.event === "chunk" && f.data.index === 1)).toHaveLength(3);
  });

  it("a client that goes away cancels every upstream", async () => {
    const cancelled = new Set<number>();
    const forever = Array.from({ length: 10_000 }, () => EVENTS[1]!);
    hosts = fakeHosts(Object.fromEntries([0, 1, 2].map((i) => [`${h[i]}/v1/chat/completions`, paced(0, 20, forever, () => cancelled.add(i))])));
    // The Worker's own fetch, in this isolate: the pool's SELF hop does not pass a reader's cancel on to the Worker's
    // stream (workerd itself does, at its next write to the client). What is tested here is what the
    // Arena does when its stream is cancelled.
    const request = new Request("https://router.test/api/arena", {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ models: ["h0/tiny", "h1/tiny", "h2/tiny"], messages: MESSAGES }),
    });
    const ctx = createExecutionContext();
    const res = await worker.fetch(request, env as Env, ctx);
    const reader = res.body!.getReader();
    const seen = new Set<number>();
    let text = "";
    while (seen.size < 3) {
      text += new TextDecoder().decode((await reader.read()).value);
      for (const m of text.matchAll(/"index":(\d),"chunk"/g)) seen.add(Number(m[1]));
    }
    expect(cancelled.size).toBe(0);
    await reader.cancel();
    await vi.waitFor(() => expect([...cancelled].sort()).toEqual([0, 1, 2]), { timeout: 5_000 });
    await waitOnExecutionContext(ctx);
  });

  it("a client that goes away while the hosts are still silent aborts every request once a host speaks", async () => {
    // workerd notices a gone client only when it next writes to it: here h0 starts streaming once the client left,
    // h1 stays silent; both must be cancelled right after h0's first token.
    const aborted: number[] = [];
    const enc = new TextEncoder();
    const chunk = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "x" } }], object: "chat.completion.chunk" })}\n\n`;
    let asked = 0;
    let bothAsked!: () => void;
    const bothAskedP = new Promise<void>((r) => (bothAsked = r));
    const ask = () => void (++asked === 2 && bothAsked());
    let clientLeft!: () => void;
    const clientLeftP = new Promise<void>((r) => (clientLeft = r));
    hosts = fakeHosts({
      [`${h[0]}/v1/chat/completions`]: async () => {
        ask();
        await clientLeftP;
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            await sleep(20);
            controller.enqueue(enc.encode(chunk));
          },
          cancel: () => void aborted.push(0),
        });
        return new Response(body, { headers: { "content-type": "text/event-stream" } });
      },
      [`${h[1]}/v1/chat/completions`]: (req: Request) => {
        ask();
        return new Promise<Response>((_, reject) => req.signal.addEventListener("abort", () => (aborted.push(1), reject(req.signal.reason))));
      },
    });
    const request = new Request("https://router.test/api/arena", {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ models: ["h0/tiny", "h1/tiny"], messages: MESSAGES }),
    });
    const res = await worker.fetch(request, env as Env, createExecutionContext());
    await bothAskedP; // both asked at once, before anyone read a byte
    expect(hosts.calls).toHaveLength(2);
    await res.body!.cancel();
    clientLeft();
    await vi.waitFor(() => expect(aborted.sort()).toEqual([0, 1]), { timeout: 5_000 });
  });

  it.each([
    ["one model", { models: ["h0/tiny"], messages: MESSAGES }, "models", /at least 2/],
    ["seven models", { models: Array(7).fill("h0/tiny"), messages: MESSAGES }, "models", /at most 6/],
    ["models not a list", { models: "h0/tiny,h1/tiny", messages: MESSAGES }, "models", /array/],
    ["an empty model id", { models: ["h0/tiny", ""], messages: MESSAGES }, "models.1", /empty/],
    ["no messages", { models: ["h0/tiny", "h1/tiny"] }, "messages", /array/],
    ["an absurd max_tokens", { models: ["h0/tiny", "h1/tiny"], messages: MESSAGES, max_tokens: 1e12 }, "max_tokens", /./],
  ])("%s is 400 invalid_body and starts nothing", async (_name, json, param, message) => {
    hosts = fakeHosts({});
    const res = await call("/api/arena", { json });
    expect(res.status).toBe(400);
    expect((await res.json<any>()).error).toMatchObject({ type: "invalid_request_error", code: "invalid_body", param, message: expect.stringMatching(message) });
    expect(hosts.calls).toHaveLength(0);
  });

  it("needs the client key, and a JSON body", async () => {
    hosts = fakeHosts({});
    expect((await call("/api/arena", { json: { models: ["h0/tiny", "h1/tiny"], messages: MESSAGES }, key: null })).status).toBe(401);
    const bad = await call("/api/arena", { method: "POST", body: "not json", headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(400);
    expect((await bad.json<any>()).error.code).toBe("invalid_json");
  });
});
