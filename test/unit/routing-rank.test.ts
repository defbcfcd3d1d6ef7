// Ranking by expected time to first token: load, prefill rate, cached prefixes, ties, shared system prompts, reasons.
import { describe, expect, it } from "vitest";
import { FleetRouter, MemorySignals, TIE_MS, prefixChain, slotWait, type Candidate, type FleetSignals, type HostRef, type SlotView } from "../../src/routing/index.js";
import { chatBody, hostOf, occupy, routeOf, serve, slotsAnswer } from "../helpers/routing-fakes.js";

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
    router.recordSlots(hostOf("a"), "coder", slotsAnswer(4, 2), 0);
    router.recordSlots(hostOf("b"), "coder", slotsAnswer(1, 1), 0);
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

  it("estimates a few ms apart are a tie wherever they fall: new conversations still spread over both hosts", () => {
    // b reads prompts a little faster, so a cold prompt costs a few ms less there; 24 vs 26 ms would round apart.
    const signals = new MemorySignals();
    const skewed: FleetSignals = Object.assign(Object.create(signals) as FleetSignals, {
      view: (host: HostRef, model: string, now: number) => {
        const v = signals.view(host, model, now);
        return host.id === "b" ? { ...v, prefillPerSecond: v.prefillPerSecond * 1.1 } : v;
      },
    });
    const router = new FleetRouter(skewed);
    const [a, b] = pool();
    const bodyOf = (chars: number, conversation = 0) => ({ model: "coder", messages: [{ role: "user", content: `${conversation} `.padEnd(chars, "x") }] });
    const costsOf = (chars: number) => {
      const order = rank(router, [a!, b!], bodyOf(chars)).order;
      return [a, b].map((route) => order.find((e) => e.route === route)!.ttftMs) as [number, number];
    };
    // The shortest prompt whose two costs straddle a rounding boundary (a multiple of TIE_MS / 2).
    const chars = Array.from({ length: 400 }, (_, n) => n + 1).find((n) => {
      const [costA, costB] = costsOf(n);
      return Math.round(costA / TIE_MS) !== Math.round(costB / TIE_MS);
    })!;
    const [costA, costB] = costsOf(chars);
    expect(costA - costB).toBeGreaterThan(0);
    expect(costA - costB).toBeLessThan(TIE_MS);
    const wins = new Set(Array.from({ length: 40 }, (_, i) => firstOf(router, [a!, b!], bodyOf(chars, i))));
    expect(wins).toEqual(new Set(["a/coder", "b/coder"]));
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
  const slot = (inFlightSince: number[], foreignBusy = false): SlotView => ({ usedAt: 0, inFlightSince, foreignBusy });

  it("is what the request holding the slot is expected to run on: an average request finishes on time, a long one runs about as long again", () => {
    expect(slotWait(slot([0]), 1_000, 0)).toBe(1_000);
    expect(slotWait(slot([0]), 1_000, 400)).toBe(600);
    expect(slotWait(slot([0]), 1_000, 10_000)).toBe(10_000);
    expect(slotWait(slot([]), 1_000, 10_000)).toBe(0);
  });

  it("adds an average request for each one queued on the slot behind the one running", () => {
    expect(slotWait(slot([0, 9_000, 9_000]), 1_000, 9_000)).toBe(9_000 + 2 * 1_000);
  });

  it("counts a slot busy with a request the router did not send (another client) as an average request", () => {
    expect(slotWait(slot([], true), 3_000, 50)).toBe(3_000);
  });
});

describe("slots: one conversation per slot", () => {
  const known = (router: FleetRouter, route: ReturnType<typeof routeOf>, total: number) => router.recordSlots(route.provider, route.upstream, slotsAnswer(total, 0), 0);
  const pinned = (router: FleetRouter, candidates: Candidate[], body: unknown, now = 0) =>
    router.rank({ candidates, policy: "replicas", chain: prefixChain("chat", body), pinnable: true }, now).order[0]!;

  it("pins a new conversation to an empty or least recently used slot, not to the slot of another conversation with the same system prompt", () => {
    const router = new FleetRouter();
    const a = routeOf("a");
    known(router, a, 2);
    const first = pinned(router, [a], chatBody("c1", 1));
    expect(first).toMatchObject({ slot: 0, pinned: true });
    router.end(router.begin(router.rank({ candidates: [a], policy: "replicas", chain: prefixChain("chat", chatBody("c1", 1)), pinnable: true }, 0), a, 0), { ok: true }, 10);
    expect(pinned(router, [a], chatBody("c2", 1), 20)).toMatchObject({ slot: 1, cache: "cold" });
    // The first conversation's next turn goes back to its own slot, warm.
    expect(pinned(router, [a], chatBody("c1", 2), 20)).toMatchObject({ slot: 0, cache: "warm" });
  });

  it("does not pin while the host's slot count is unknown, and names the slot the host would pick instead", () => {
    const router = new FleetRouter();
    const a = routeOf("a");
    expect(pinned(router, [a], chatBody("c1", 1))).toMatchObject({ slot: 0, pinned: false });
    expect(router.rank({ candidates: [a], policy: "replicas", chain: prefixChain("chat", chatBody("c1", 1)) }, 0).order[0]).toMatchObject({ pinned: false });
  });

  it("waits for the conversation's own busy slot when that beats a cold prefill in a free one, else takes the free one", () => {
    const router = new FleetRouter();
    const a = routeOf("a");
    known(router, a, 2);
    const long = (turns: number) => chatBody("c1", turns, { turnChars: 5_000 });
    serve(router, [a], long(4), { durationMs: 1_000 });
    // A request of the same conversation is running on its slot (slot 0), just sent: a short wait beats ~20 s of prefill.
    router.begin(router.rank({ candidates: [a], policy: "replicas", chain: prefixChain("chat", long(4)), pinnable: true }, 2_000), a, 2_000);
    expect(pinned(router, [a], long(5), 2_100)).toMatchObject({ slot: 0, queue: 1, cache: "partial" });
    // Running for 10 minutes: likely 10 more; the free slot, cold, is quicker.
    expect(pinned(router, [a], long(5), 602_000)).toMatchObject({ slot: 1, queue: 0, cache: "cold" });
  });
});
