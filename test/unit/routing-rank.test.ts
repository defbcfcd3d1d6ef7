// Ranking by expected time to first token: load, prefill rate, cached prefixes, ties, shared system prompts, reasons.
import { describe, expect, it } from "vitest";
import { FleetRouter, prefixChain, type Candidate } from "../../src/routing/index.js";
import { slotWait } from "../../src/routing/rank.js";
import { chatBody, hostOf, occupy, routeOf, serve } from "../helpers/routing-fakes.js";

const pool = () => [routeOf("a"), routeOf("b"), routeOf("c")];
const rank = (router: FleetRouter, candidates: Candidate[], body: unknown, session?: string) =>
  router.rank({ candidates, policy: "replicas", session, chain: prefixChain("chat", body) }, 0);
const firstOf = (router: FleetRouter, candidates: Candidate[], body: unknown, session?: string) => rank(router, candidates, body, session).order[0]!.route.id;

describe("ascending expected time to first token, deterministic ties", () => {
  it("a host with a request ahead ranks below an idle one", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    occupy(router, a!, 1);
    const order = rank(router, [a!, b!], chatBody("c1", 1)).order;
    expect(order.map((e) => e.route.id)).toEqual(["b/coder", "a/coder"]);
    expect(order[1]).toMatchObject({ queue: 1, freeSlot: false });
  });

  it("uses the host's reported slots: a busy slot of four leaves room, a busy single slot does not", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    router.recordSlots(hostOf("a"), undefined, [1, 2, 3, 4].map((id) => ({ id, is_processing: id <= 2 })), 0);
    router.recordSlots(hostOf("b"), undefined, [{ id: 0, is_processing: true }], 0);
    expect(firstOf(router, [b!, a!], chatBody("c1", 1))).toBe("a/coder");
  });

  it("a host that reads prompts faster wins a cold prompt", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    serve(router, [b!], chatBody("warmup", 1), { timings: { cachedTokens: 0, computedTokens: 2_000, prefillPerSecond: 3_000 } });
    expect(firstOf(router, [a!, b!], chatBody("new", 1))).toBe("b/coder");
  });

  it("spreads equal hosts by a hash of the conversation, the same host on every turn of one conversation", () => {
    const router = new FleetRouter();
    const candidates = pool();
    const wins = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const first = firstOf(router, candidates, chatBody(`conv-${i}`, 1));
      wins.set(first, (wins.get(first) ?? 0) + 1);
      expect(firstOf(router, candidates, chatBody(`conv-${i}`, 4))).toBe(first);
    }
    expect([...wins.keys()].sort()).toEqual(["a/coder", "b/coder", "c/coder"]);
    expect(Math.min(...wins.values())).toBeGreaterThanOrEqual(10);
  });

  it("keeps config order when nothing tells the hosts apart (no session, no prompt)", () => {
    const router = new FleetRouter();
    const [a, b, c] = pool();
    expect(router.rank({ candidates: [c!, a!, b!], policy: "replicas" }, 0).order.map((e) => e.route.id)).toEqual(["c/coder", "a/coder", "b/coder"]);
  });
});

describe("without a session, the longest cached prefix wins when the wait is comparable", () => {
  it("sends the next turn to the host that has the conversation", () => {
    const router = new FleetRouter();
    const candidates = pool();
    const served = serve(router, candidates, chatBody("c1", 2), { route: candidates[2] });
    const order = rank(router, candidates, chatBody("c1", 3)).order;
    expect(order[0]!.route).toBe(served);
    expect(order[0]).toMatchObject({ cache: "warm" });
    expect(order[1]).toMatchObject({ cache: "cold" });
  });

  it("prefers the host with the longer prefix of the same conversation", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    serve(router, [a!], chatBody("c1", 1));
    serve(router, [b!], chatBody("c1", 3));
    expect(firstOf(router, [a!, b!], chatBody("c1", 4))).toBe("b/coder");
  });

  it("does not queue behind a warm host when a cold prefill elsewhere is quicker", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    serve(router, [b!], chatBody("c1", 2));
    occupy(router, b!, 2);
    const order = rank(router, [a!, b!], chatBody("c1", 3)).order;
    expect(order.map((e) => [e.route.id, e.cache, e.queue])).toEqual([["a/coder", "cold", 0], ["b/coder", "warm", 2]]);
  });
});

describe("conversations that share only the system prompt still spread", () => {
  it("a match of the first block alone counts as cold, so new conversations do not all go where the system prompt is", () => {
    const router = new FleetRouter();
    const candidates = pool();
    serve(router, candidates, chatBody("first", 2), { route: candidates[0] });
    const wins = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const order = rank(router, candidates, chatBody(`new-${i}`, 1)).order;
      wins.add(order[0]!.route.id);
      const onA = order.find((e) => e.route.id === "a/coder")!;
      expect(onA.cache).toBe("cold");
      expect(onA.predictedCachedTokens).toBeGreaterThan(1_000);
    }
    expect(wins.size).toBe(3);
  });

  it("a match shorter than a quarter of the prompt counts as cold too", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    const opening = { ...chatBody("c1", 1), messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }] };
    serve(router, [a!], opening);
    const long = { ...opening, messages: [...opening.messages, { role: "user", content: "y".repeat(4_000) }] };
    expect(rank(router, [a!, b!], long).order.find((e) => e.route === a)!.cache).toBe("cold");
  });
});

describe("a reason per candidate and the predicted cached tokens", () => {
  it("says cache, queue and load as the route header and log line need them", () => {
    const router = new FleetRouter();
    const [a, b, c] = pool();
    serve(router, [a!], chatBody("c1", 2));
    occupy(router, b!, 1);
    router.recordResidency(hostOf("c"), { data: [{ id: "coder", status: { value: "unloaded" } }] }, 0);
    const body = chatBody("c1", 3);
    const byId = new Map(rank(router, [a!, b!, c!], body).order.map((e) => [e.route.id, e]));
    expect(byId.get("a/coder")!.reason).toBe("a/coder; cache=warm; queue=0");
    expect(byId.get("b/coder")!.reason).toBe("b/coder; cache=cold; queue=1");
    expect(byId.get("c/coder")!.reason).toBe("c/coder; cache=cold; queue=0; load=needed");
    const warmChars = prefixChain("chat", chatBody("c1", 2)).totalChars;
    expect(byId.get("a/coder")!.predictedCachedTokens).toBe(Math.round(warmChars / 4));
    expect(byId.get("b/coder")!.predictedCachedTokens).toBe(0);
  });

  it("the attempt carries the reason and the prediction to the end of the request", () => {
    const router = new FleetRouter();
    const [a] = pool();
    serve(router, [a!], chatBody("c1", 2));
    const ranking = rank(router, [a!], chatBody("c1", 3));
    const attempt = router.begin(ranking, a!, 0);
    expect(attempt).toMatchObject({ reason: "a/coder; cache=warm; queue=0", predictedCachedTokens: ranking.order[0]!.predictedCachedTokens });
  });
});

describe("the wait for a slot", () => {
  it("is what the request holding the slot is expected to run on: an average request finishes on time, a long one runs about as long again", () => {
    expect(slotWait([0], 1, 1, 1_000, 0)).toBe(1_000);
    expect(slotWait([0], 1, 1, 1_000, 400)).toBe(600);
    expect(slotWait([0], 1, 1, 1_000, 10_000)).toBe(10_000);
  });

  it("waits for the first of the busy slots to free; requests queued at the host go first, a serviceMs each", () => {
    // Two slots, sent 0 and 9 s ago (service 1 s): the fresh one frees first, at 1 s.
    expect(slotWait([0, 9_000], 2, 2, 1_000, 9_000)).toBe(1_000);
    // Three in flight on two slots: the queued one takes the first slot to free (1 s) until 2 s; the other frees at 9 s.
    expect(slotWait([0, 9_000, 9_000], 3, 2, 1_000, 9_000)).toBe(2_000);
  });

  it("counts slots busy with requests the router did not send (other clients) as an average request each", () => {
    expect(slotWait([], 2, 2, 3_000, 50)).toBe(3_000);
  });
});
