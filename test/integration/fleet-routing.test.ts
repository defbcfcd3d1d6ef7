// The fleet router in the request path: a replicas pool is ranked by expected time to first token (what the
// router has in flight on each host, which host holds the conversation's prefix), an ordered chain keeps its order,
// and every answer's timings feed back into the ranking. The rules themselves are pinned in test/unit/routing-*.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeHosts, hostJson, hostStream, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { direct, heldStream } from "../helpers/held-stream.js";
import { orderForSession } from "../../src/resolver/affinity.js";
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import type { Env } from "../../src/env.js";
import worker from "../../src/index.js";
import { fleet } from "../../src/routing/index.js";
import { KEY, uniqueHost, useConfig } from "../helpers/worker.js";

let a: string, b: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;

beforeEach(async () => {
  [a, b] = [uniqueHost("a"), uniqueHost("b")];
  await useConfig({
    version: 1,
    providers: [
      { id: "a", baseUrl: a, models: [{ id: "qwen", upstream: "tiny" }] },
      { id: "b", baseUrl: b, models: [{ id: "qwen", upstream: "tiny" }] },
    ],
    aliases: { coder: { members: ["a/qwen", "b/qwen"], policy: "replicas" }, chain: ["a/qwen", "b/qwen"] },
  });
});
afterEach(() => {
  hosts?.restore();
  vi.restoreAllMocks();
});

/** An agent's first turn: its system prompt (shared by all its conversations), then the user's request. */
const TURN_1 = [
  { role: "system", content: "You are a coding agent." },
  { role: "user", content: "write a function that adds two numbers, in TypeScript, with a test" },
];
const routeOf = (res: Response) => res.headers.get("x-boocode-route")!.split(";")[0];

/** The router's JSON log lines written from now on, for `path`. */
function logLines(path: string): Record<string, any>[] {
  const lines: Record<string, any>[] = [];
  const original = console.log.bind(console);
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    original(...args); // still seen by the suite's secret scan
    const line = String(args[0]);
    if (line.startsWith('{"requestId"') && JSON.parse(line).path === path) lines.push(JSON.parse(line));
  });
  return lines;
}

describe("a replicas pool", () => {
  it("sends a request to the idle member while the other one's slot is taken by a stream still running", async () => {
    const held = { [a]: heldStream(), [b]: heldStream() };
    hosts = fakeHosts({ [`${a}/v1/chat/completions`]: held[a]!.handler, [`${b}/v1/chat/completions`]: held[b]!.handler });
    const first = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: TURN_1 });
    const reader = first.body!.getReader();
    await reader.read(); // the first request is streaming: one request in flight on its host
    const second = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: TURN_1 });
    expect(second.status).toBe(200);
    expect(routeOf(second)).not.toBe(routeOf(first));
    expect(second.headers.get("x-boocode-route")).toMatch(/; cache=cold; queue=0$/);
    for (const h of Object.values(held)) h.release();
    await Promise.all([second.text(), (async () => { while (!(await reader.read()).done); })()]);
  });

  it("sends a conversation's next turn to the host that has its prefix, and logs the prediction next to the host's cached tokens", async () => {
    hosts = fakeHosts({
      [`${a}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
      [`${b}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
    });
    const lines = logLines("/v1/chat/completions");
    const turn1 = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: TURN_1 });
    await turn1.text();
    const turn2Messages = [...TURN_1, { role: "assistant", content: "function add(a: number, b: number) { return a + b; }" }, { role: "user", content: "now the test" }];
    const turn2 = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: turn2Messages });
    await turn2.text();
    expect(routeOf(turn2)).toBe(routeOf(turn1));
    expect(turn2.headers.get("x-boocode-route")).toMatch(/; cache=(partial|warm); queue=0$/);
    await vi.waitFor(() => expect(lines).toHaveLength(2));
    const cachedByHost = JSON.parse(sseEvents(FIXTURES.chatStream).find((e) => e.includes('"timings"'))!.slice(6)).timings.cache_n;
    expect(lines[0]!.routing).toEqual({ reason: turn1.headers.get("x-boocode-route"), predictedCached: 0, actualCached: cachedByHost });
    expect(lines[1]!.routing.predictedCached).toBeGreaterThan(0);
  });
});

describe("a replicas pool reads what the hosts are doing", () => {
  /** `/slots` of a host with `total` slots, `busy` of them processing. */
  const slots = (total: number, busy: number) => () => hostJson(Array.from({ length: total }, (_, id) => ({ id, n_ctx: 4096, is_processing: id < busy })));

  it("keeps a session on its home host while a second slot there is free (it learns the slot count from /slots)", async () => {
    const held = { [a]: heldStream(), [b]: heldStream() };
    hosts = fakeHosts({
      [`${a}/v1/chat/completions`]: held[a]!.handler,
      [`${b}/v1/chat/completions`]: held[b]!.handler,
      [`${a}/slots`]: slots(2, 0),
      [`${b}/slots`]: slots(2, 0),
    });
    const session = { "x-session-affinity": "ses_home" };
    const first = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: TURN_1 }, session);
    const reader = first.body!.getReader();
    await reader.read(); // the session's first request holds one of its home's two slots
    const second = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: TURN_1 }, session);
    expect(routeOf(second)).toBe(routeOf(first));
    expect(hosts.calls.some((c) => c.url.startsWith(`${a}/slots`)) && hosts.calls.some((c) => c.url.startsWith(`${b}/slots`))).toBe(true);
    for (const h of Object.values(held)) h.release();
    await Promise.all([second.text(), (async () => { while (!(await reader.read()).done); })()]);
  });

  it("never sends a request to a router-mode host that must load the model while a member has it loaded and a slot free", async () => {
    await useConfig({
      version: 2,
      providers: [
        { id: "a", baseUrl: a, discover: true, models: [] },
        { id: "b", baseUrl: b, discover: true, models: [] },
      ],
      aliases: { coder: { members: ["a/qwen", "b/qwen"], policy: "replicas" } },
    });
    const routerMode = (status: string) => () => hostJson({ object: "list", data: [{ id: "qwen", object: "model", owned_by: "llamacpp", aliases: [], status: { value: status, args: [] } }] });
    hosts = fakeHosts({
      [`${a}/v1/models`]: routerMode("unloaded"),
      [`${b}/v1/models`]: routerMode("loaded"),
      [`${a}/slots`]: slots(1, 0),
      [`${b}/slots`]: slots(1, 0),
      [`${a}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
      [`${b}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
    });
    for (let i = 0; i < 4; i++) {
      const res = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: [{ role: "user", content: `conversation ${i}` }] });
      await res.text();
      expect(res.headers.get("x-boocode-route")).toBe("b/qwen; cache=cold; queue=0");
    }
  });
});

describe("every /slots the router reads is routing information", () => {
  const oneSlot = (busy: () => boolean) => () => hostJson([{ id: 0, n_ctx: 4096, is_processing: busy() }]);
  const modelList = () => hostJson({ object: "list", data: [{ id: "tiny", object: "model", owned_by: "llamacpp", meta: { n_ctx_train: 4096 } }] });
  const viewOf = (id: string, baseUrl: string) => fleet.signals.view({ id, baseUrl }, "tiny", Date.now()).slots[0]!;

  it("a slot another client took, seen by GET /api/models/{id}, counts in the next ranking without waiting for the refresh", async () => {
    let aBusy = false;
    hosts = fakeHosts({
      [`${a}/slots`]: oneSlot(() => aBusy),
      [`${b}/slots`]: oneSlot(() => false),
      [`${a}/v1/models`]: modelList,
      [`${a}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
      [`${b}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
    });
    await (await direct("/v1/chat/completions", { model: "coder", stream: true, messages: TURN_1 })).text();
    expect(viewOf("a", a).foreignBusy).toBe(false);
    aBusy = true; // another client's request, which the router did not send
    const detail = await direct("/api/models/a/qwen", undefined, { authorization: `Bearer ${KEY}` });
    expect(await detail.json()).toMatchObject({ slots: { total: 1, busy: 1 } });
    expect(viewOf("a", a).foreignBusy).toBe(true);
  });

  it("a report asked for while the router's own request held the slot still shows it busy, and is not read as another client's", async () => {
    // The isolate's clock moves only when the test moves it, so "asked before the request ended" is exact.
    let now = Date.now();
    vi.spyOn(Date, "now").mockImplementation(() => now);
    const held = heldStream();
    let gated = false;
    let slotsAsked!: () => void;
    const asked = new Promise<void>((resolve) => (slotsAsked = resolve));
    let answerSlots!: () => void;
    const answered = new Promise<void>((resolve) => (answerSlots = resolve));
    hosts = fakeHosts({
      [`${a}/v1/models`]: modelList,
      [`${a}/v1/chat/completions`]: held.handler,
      // Once gated, the host answers /slots late, as a real one does between prompt batches: after the router's
      // own request has ended, with that request still shown.
      [`${a}/slots`]: async () => {
        if (!gated) return hostJson([{ id: 0, n_ctx: 4096, is_processing: false }]);
        slotsAsked();
        await answered;
        return hostJson([{ id: 0, n_ctx: 4096, is_processing: true }]);
      },
    });
    const end = fleet.signals.end.bind(fleet.signals);
    let markEnded!: () => void;
    const requestEnded = new Promise<void>((resolve) => (markEnded = resolve));
    vi.spyOn(fleet.signals, "end").mockImplementation((finished, at) => {
      end(finished, at);
      markEnded();
    });
    const detailOf = () => direct("/api/models/a/qwen", undefined, { authorization: `Bearer ${KEY}` });
    await (await detailOf()).text(); // a fresh report: the request below starts no background refresh
    const stream = await direct("/v1/chat/completions", { model: "a/qwen", stream: true, messages: TURN_1 });
    const reader = stream.body!.getReader();
    await reader.read();
    gated = true;
    const detail = detailOf();
    await asked;
    now += 10;
    held.release();
    while (!(await reader.read()).done);
    await requestEnded; // the router's bookkeeping runs after the last chunk went out
    now += 10;
    answerSlots();
    expect(await (await detail).json()).toMatchObject({ slots: { total: 1, busy: 1 } });
    expect(viewOf("a", a).foreignBusy).toBe(false);
  });
});

describe("slots: one conversation per slot", () => {
  const idleSlots = () => hostJson(Array.from({ length: 2 }, (_, id) => ({ id, n_ctx: 4096, is_processing: false })));
  const SYSTEM = { role: "system", content: "You are a coding agent. Follow the repository's rules. ".repeat(40) };
  const opening = (task: string) => [SYSTEM, { role: "user", content: task }];
  const sent = () => hosts!.calls.filter((c) => c.method === "POST").map((c) => ({ host: new URL(c.url).origin, path: new URL(c.url).pathname, slot: c.json().id_slot }));

  it("pins each conversation to a slot of its own (a second one with the same system prompt takes the other slot), and each turn goes back to it", async () => {
    hosts = fakeHosts({
      [`${a}/slots`]: idleSlots,
      [`${b}/slots`]: idleSlots,
      [`${a}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
      [`${b}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
    });
    const one = opening("rename the parser module");
    const two = opening("write the changelog");
    for (const messages of [one, two, [...one, { role: "assistant", content: "done" }, { role: "user", content: "now the tests" }], [...two, { role: "assistant", content: "ok" }, { role: "user", content: "shorter" }]]) {
      await (await direct("/v1/chat/completions", { model: "coder", stream: true, messages })).text();
    }
    const [first, second, firstAgain, secondAgain] = sent();
    expect(first!.slot).toBeTypeOf("number");
    // Same host: different slots. Different hosts: each has a slot. Either way, never one slot for both.
    if (first!.host === second!.host) expect(second!.slot).not.toBe(first!.slot);
    expect(firstAgain).toEqual(first);
    expect(secondAgain).toEqual(second);
  });

  it("does not pin where llama-server ignores id_slot (its own Anthropic endpoint), nor over a client's own id_slot; pins Anthropic messages asked of the chat endpoint", async () => {
    hosts = fakeHosts({
      [`${a}/slots`]: idleSlots,
      [`${b}/slots`]: idleSlots,
      [`${a}/v1/messages`]: () => hostStream(sseEvents(FIXTURES.messagesStream)),
      [`${b}/v1/messages`]: () => hostStream(sseEvents(FIXTURES.messagesStream)),
      [`${a}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
      [`${b}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
    });
    // stop_sequences: the router passes the request to the host's own /v1/messages, which drops id_slot.
    await (await direct("/v1/messages", { model: "coder", stream: true, max_tokens: 8, stop_sequences: ["END"], system: SYSTEM.content, messages: [{ role: "user", content: "hi" }] })).text();
    await (await direct("/v1/chat/completions", { model: "coder", stream: true, id_slot: 1, messages: opening("mine") })).text();
    await (await direct("/v1/messages", { model: "coder", stream: true, max_tokens: 8, system: SYSTEM.content, messages: [{ role: "user", content: "hi" }] })).text();
    const posts = hosts.calls.filter((c) => c.method === "POST");
    const bodies = posts.map((c) => c.json());
    expect(new URL(posts[0]!.url).pathname).toBe("/v1/messages");
    expect(bodies[0]).not.toHaveProperty("id_slot");
    expect(bodies[1]!.id_slot).toBe(1);
    expect(posts[1]!.body.match(/"id_slot"/g)).toHaveLength(1);
    expect(new URL(posts[2]!.url).pathname).toBe("/v1/chat/completions");
    expect(bodies[2]!.id_slot).toEqual(expect.any(Number));
  });
});

describe("a router-mode member the router believes has the model loaded", () => {
  const routerModeList = (status: string) => () => hostJson({ object: "list", data: [{ id: "qwen", object: "model", owned_by: "llamacpp", aliases: [], status: { value: status, args: [] } }] });
  const slotsOf = (total: number, busy: number) => () => hostJson(Array.from({ length: total }, (_, id) => ({ id, n_ctx: 4096, is_processing: id < busy })));
  /** A session whose rendezvous home is `a` (ties go to the home). */
  const HOME_A = { "x-session-affinity": Array.from({ length: 64 }, (_, i) => `home-a-${i}`).find((id) => orderForSession([{ id: "a/qwen" }, { id: "b/qwen" }], id)[0]!.id === "a/qwen")! };
  /** Both hosts list the model as loaded and show two free slots. */
  const bothReportLoadedAndFree = () => ({
    [`${a}/v1/models`]: routerModeList("loaded"),
    [`${a}/slots`]: slotsOf(2, 0),
    [`${b}/v1/models`]: routerModeList("loaded"),
    [`${b}/slots`]: slotsOf(2, 0),
  });
  /** llama-server in router mode with the model unloaded: `?autoload=false` is refused, anything else loads and answers. */
  const unloadedHost = (request: Request) =>
    new URL(request.url).searchParams.get("autoload") === "false"
      ? hostJson({ error: { code: 400, message: "model is not loaded", type: "invalid_request_error" } }, 400)
      : hostStream(sseEvents(FIXTURES.chatStream));

  beforeEach(async () => {
    await useConfig({
      version: 3,
      providers: [
        { id: "a", baseUrl: a, discover: true, models: [] },
        { id: "b", baseUrl: b, discover: true, models: [] },
      ],
      aliases: { coder: { members: ["a/qwen", "b/qwen"], policy: "replicas" } },
    });
  });

  it("is still asked with autoload=false when the catalog read its slots before the pool's first request (slots are not residency)", async () => {
    hosts = fakeHosts({
      ...bothReportLoadedAndFree(),
      [`${a}/v1/chat/completions`]: unloadedHost, // unloaded since: the refusal tells
      [`${b}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
    });
    const detail = await direct("/api/models/a/qwen", undefined, { authorization: `Bearer ${KEY}` });
    expect(await detail.json()).toMatchObject({ slots: { total: 2, busy: 0 } });
    const res = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: TURN_1 }, HOME_A);
    await res.text();
    expect(routeOf(res)).toBe("b/qwen");
    const chatCalls = hosts.calls.filter((c) => c.url.includes("/v1/chat/completions")).map((c) => c.url);
    expect(chatCalls).toEqual([`${a}/v1/chat/completions?autoload=false`, `${b}/v1/chat/completions`]);
  });

  it("is still asked with autoload=false after a request naming it alone read its slots (that read is not residency)", async () => {
    hosts = fakeHosts({
      ...bothReportLoadedAndFree(),
      [`${a}/v1/chat/completions`]: unloadedHost, // unloaded since the model list was read: the refusal tells
      [`${b}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
    });
    // A request for a/qwen alone (it loads, as a request naming one model does); its background read of a's /slots
    // is awaited here.
    const ctx = createExecutionContext();
    const single = await worker.fetch(new Request("https://router.test/v1/chat/completions", { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: JSON.stringify({ model: "a/qwen", stream: true, messages: TURN_1 }) }), env as Env, ctx);
    await single.text();
    await waitOnExecutionContext(ctx);
    expect(hosts.calls.some((c) => c.url.startsWith(`${a}/slots`))).toBe(true);
    const res = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: [{ role: "user", content: "a new conversation" }] }, HOME_A);
    await res.text();
    expect(routeOf(res)).toBe("b/qwen");
    const poolCalls = hosts.calls.filter((c) => c.url.includes("/v1/chat/completions")).map((c) => c.url).slice(1);
    expect(poolCalls).toEqual([`${a}/v1/chat/completions?autoload=false`, `${b}/v1/chat/completions`]);
  });

  it("is asked to answer only if it really has it; when it has not (unloaded since its last report), the next member serves at once", async () => {
    hosts = fakeHosts({
      // Both report the model loaded and their slots free; the session's home is `a`, so `a` ranks first.
      ...bothReportLoadedAndFree(),
      [`${a}/v1/chat/completions`]: unloadedHost,
      [`${b}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)),
    });
    const res = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: TURN_1 }, HOME_A);
    await res.text();
    expect(res.status).toBe(200);
    expect(routeOf(res)).toBe("b/qwen");
    const chatCalls = hosts.calls.filter((c) => c.url.includes("/v1/chat/completions")).map((c) => c.url);
    expect(chatCalls).toEqual([`${a}/v1/chat/completions?autoload=false`, `${b}/v1/chat/completions`]);

    // Now known to be unloaded there: the next conversation is not offered to `a` at all while `b` can take it.
    const next = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: [{ role: "user", content: "another conversation" }] });
    await next.text();
    expect(routeOf(next)).toBe("b/qwen");
    expect(hosts.calls.filter((c) => c.url.startsWith(`${a}/v1/chat/completions`))).toHaveLength(1);
  });

  it("comes back last, with loading allowed, when no other member answers", async () => {
    hosts = fakeHosts({
      ...bothReportLoadedAndFree(),
      [`${a}/v1/chat/completions`]: unloadedHost,
      [`${b}/v1/chat/completions`]: () => hostJson({ error: { message: "Loading model", type: "unavailable_error", code: 503 } }, 503),
    });
    const res = await direct("/v1/chat/completions", { model: "coder", stream: true, messages: TURN_1 }, HOME_A);
    await res.text();
    expect(res.status).toBe(200);
    expect(routeOf(res)).toBe("a/qwen");
    const chatCalls = hosts.calls.filter((c) => c.url.includes("/v1/chat/completions")).map((c) => c.url);
    expect(chatCalls).toEqual([`${a}/v1/chat/completions?autoload=false`, `${b}/v1/chat/completions`, `${a}/v1/chat/completions`]);
  });

  it("in an ordered chain it is sent the request as it is: the chain's order is a quality choice, so its first member may load", async () => {
    hosts = fakeHosts({
      [`${a}/v1/models`]: routerModeList("loaded"),
      [`${a}/v1/chat/completions`]: unloadedHost,
    });
    await useConfig({
      version: 4,
      providers: [
        { id: "a", baseUrl: a, discover: true, models: [] },
        { id: "b", baseUrl: b, discover: true, models: [] },
      ],
      aliases: { chain: { members: ["a/qwen", "b/qwen"], policy: "ordered" } },
    });
    const res = await direct("/v1/chat/completions", { model: "chain", stream: true, messages: TURN_1 });
    await res.text();
    expect(routeOf(res)).toBe("a/qwen");
    expect(hosts.calls.filter((c) => c.url.includes("/v1/chat/completions")).map((c) => c.url)).toEqual([`${a}/v1/chat/completions`]);
  });
});

describe("an ordered chain", () => {
  it("keeps its order even while its first member is busy: falling back to a smaller model is the config's choice, not the router's", async () => {
    const held = heldStream();
    hosts = fakeHosts({ [`${a}/v1/chat/completions`]: held.handler, [`${b}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)) });
    const first = await direct("/v1/chat/completions", { model: "chain", stream: true, messages: TURN_1 });
    const reader = first.body!.getReader();
    await reader.read();
    const second = await direct("/v1/chat/completions", { model: "chain", stream: true, messages: TURN_1 });
    expect([first.headers.get("x-boocode-route"), second.headers.get("x-boocode-route")]).toEqual(["a/qwen", "a/qwen"]);
    held.release();
    await Promise.all([second.text(), (async () => { while (!(await reader.read()).done); })()]);
  });
});
