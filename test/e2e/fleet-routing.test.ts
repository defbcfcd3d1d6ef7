// Fleet routing on real llama-server hosts (setup.ts): conversations keep hitting their own host's prompt cache, a
// session leaves a home held by long generations when a cold start elsewhere is quicker, and a router-mode replica
// without the model loaded is passed over while a loaded member is free. The prompt caches, slots and loads here are
// llama-server's own; `timings.cache_n` is what the host reports having reused.
import { readFileSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import type { ProvidersConfigInput } from "../../src/config/schema.js";
import { orderForSession } from "../../src/resolver/affinity.js";
import { E2E } from "./setup.js";

const routerUrl = inject("routerUrl");
const stateDir = inject("stateDir");
const config = JSON.parse(readFileSync(`${stateDir}/llama-providers.json`, "utf8")) as ProvidersConfigInput;
const REPLICA_R = `r/${E2E.routerModeName}`;

/** An agent's system prompt, shared by its conversations (~1,500 tokens with the test vocabulary). */
const SYSTEM = Array.from({ length: 40 }, (_, i) => `Rule ${i}: read the file before you edit it, keep changes small, run the tests.`).join("\n");

interface Turn {
  route: string;
  reason: string;
  content: string;
  cached: number;
  prompt: number;
}

/** One streamed chat turn through the router; the route it took and the host's own cache figures. */
async function turn(model: string, messages: unknown[], extra: { headers?: Record<string, string>; body?: Record<string, unknown> } = {}): Promise<Turn> {
  const res = await fetch(`${routerUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${E2E.clientKey}`, "content-type": "application/json", ...extra.headers },
    body: JSON.stringify({ model, messages, stream: true, stream_options: { include_usage: true }, max_tokens: 8, ...extra.body }),
  });
  const text = await res.text();
  expect(res.status, text.slice(0, 300)).toBe(200);
  const events = text.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
  const timings = events.findLast((e) => e.timings)?.timings;
  expect(timings, "the host's timings reach the client").toBeDefined();
  const header = res.headers.get("x-boocode-route")!;
  return {
    route: header.split(";")[0]!,
    reason: header,
    content: events.map((e) => e.choices?.[0]?.delta?.content ?? "").join(""),
    cached: timings.cache_n,
    prompt: timings.cache_n + timings.prompt_n,
  };
}

/** Straight to a provider's host (with the host key where the config names one). */
function host(providerId: string, path: string, body?: unknown): Promise<Response> {
  const p = config.providers.find((x) => x.id === providerId)!;
  return fetch(`${p.baseUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", ...(p.auth ? { authorization: `Bearer ${E2E.hostKey}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function busySlots(providerId: string): Promise<number> {
  const slots = (await (await host(providerId, "/slots")).json()) as { is_processing: boolean }[];
  return slots.filter((s) => s.is_processing).length;
}

async function residency(model: string): Promise<string> {
  const list = (await (await host("r", "/v1/models")).json()) as { data: { id: string; status: { value: string } }[] };
  return list.data.find((m) => m.id === model)!.status.value;
}

describe("fleet routing on real hosts", () => {
  it("two conversations without a session header each keep hitting their own host's cache (≥ 80% of the prompt cached from turn 2 on)", async () => {
    const conversations = ["Refactor the parser module.", "Write a changelog entry for the release."].map((task) => [
      { role: "system", content: SYSTEM },
      { role: "user", content: task },
    ]);
    const seen: Turn[][] = [[], []];
    for (let t = 0; t < 5; t++) {
      for (const [i, messages] of conversations.entries()) {
        const answer = await turn("pool", messages);
        seen[i]!.push(answer);
        messages.push({ role: "assistant", content: answer.content }, { role: "user", content: `Turn ${t + 2}: now do the next step, and explain it.` });
      }
    }
    for (const [i, turns] of seen.entries()) {
      console.log(`conversation ${i}: ${turns.map((x) => `${x.route} ${x.cached}/${x.prompt}`).join(", ")}`);
      expect(new Set(turns.map((x) => x.route)).size, "one host for the whole conversation").toBe(1);
      for (const [t, later] of turns.entries()) {
        if (t === 0) continue;
        expect(later.cached / later.prompt).toBeGreaterThanOrEqual(0.8);
        // The whole previous turn was still in the host's cache, not only the system prompt both conversations share:
        // each conversation kept a slot of its own (left to itself, llama-server would put both in one slot).
        expect(later.cached).toBeGreaterThanOrEqual(turns[t - 1]!.prompt);
      }
    }
  });

  it("a session leaves its home when long generations hold every slot there and a cold start elsewhere is quicker", async () => {
    const session = { "x-session-id": "fleet-e2e-saturated-home" };
    const messages = [{ role: "user", content: "Summarise the build log in one line." }];
    const home = (await turn("pool", messages, { headers: session })).route;
    const homeProvider = home.split("/")[0]!;
    const other = home === "a/tiny" ? "b/tiny" : "a/tiny";
    // Fill both of home's slots with long generations, sent through the router so it counts them.
    const stop = new AbortController();
    const long = [0, 1].map(async () => {
      const res = await fetch(`${routerUrl}/v1/chat/completions`, {
        method: "POST",
        signal: stop.signal,
        headers: { authorization: `Bearer ${E2E.clientKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: home, messages: [{ role: "user", content: "Write a long story." }], stream: true, max_tokens: 12_000, ignore_eos: true }),
      });
      const reader = res.body!.getReader();
      const firstChunk = await reader.read();
      return { reader, firstChunk };
    });
    const started = Date.now();
    const streams = await Promise.all(long);
    expect(streams.every((s) => !s.firstChunk.done)).toBe(true);
    const drained = streams.map(async ({ reader }) => {
      while (!(await reader.read().catch(() => ({ done: true }))).done);
    });
    // What is under test is the AGE of the requests holding the slots: once they have run ~1 s, far longer than the
    // session's own requests took, the router expects them to run on about as long, while a 20-token prompt read cold
    // on the other host takes milliseconds. So the wait here is the input, not a synchronisation.
    await new Promise((r) => setTimeout(r, Math.max(0, 1_000 - (Date.now() - started))));
    expect(await busySlots(homeProvider)).toBe(2);
    const next = await turn("pool", [...messages, { role: "assistant", content: "ok" }, { role: "user", content: "And the warnings?" }], { headers: session });
    stop.abort();
    await Promise.all(drained);
    console.log(`home ${home}; with its slots held: ${next.reason}`);
    expect(next.route).toBe(other);
    expect(next.reason).toMatch(/cache=cold; queue=0/);
  });

  it("a router-mode replica without the model loaded is passed over while a loaded member is free, also when the router believed it loaded", async () => {
    const unload = async () => {
      const res = await host("r", "/models/unload", { model: E2E.routerModeName });
      // 400 when it is not loaded in the first place (an earlier file may or may not have loaded it).
      if (res.status !== 200) expect(await res.json()).toMatchObject({ error: { message: expect.stringMatching(/not (loaded|running)/) } });
      // The host reports `unloaded` once the model's process has exited, a few ms after it answered.
      await expect.poll(() => residency(E2E.routerModeName), { timeout: 5_000 }).toBe("unloaded");
    };
    await unload();
    // Known unloaded (the router asks the hosts before its first ranking of the pool): b serves, r loads nothing.
    for (let i = 0; i < 3; i++) expect((await turn("replicas", [{ role: "user", content: `Question ${i} for the pool.` }])).route).toBe("b/tiny");
    expect(await residency(E2E.routerModeName)).toBe("unloaded");

    // Loaded on r (a request naming it loads it), and a session whose home is r: r serves it.
    expect((await turn(REPLICA_R, [{ role: "user", content: "Load yourself." }])).route).toBe(REPLICA_R);
    const members = [REPLICA_R, "b/tiny"].map((id) => ({ id }));
    const session = Array.from({ length: 64 }, (_, i) => `fleet-e2e-r-${i}`).find((s) => orderForSession(members, s)[0]!.id === REPLICA_R)!;
    expect((await turn("replicas", [{ role: "user", content: "First turn at home." }], { headers: { "x-session-id": session } })).route).toBe(REPLICA_R);

    // Unloaded behind the router's back: the next request of that session must not wait on a load while b is free.
    await unload();
    expect(await busySlots("b")).toBe(0);
    const next = await turn("replicas", [{ role: "user", content: "Second turn." }], { headers: { "x-session-id": session } });
    console.log(`after the unload: ${next.reason}`);
    expect(next.route).toBe("b/tiny");
    expect(await residency(E2E.routerModeName)).toBe("unloaded");
  });
});
