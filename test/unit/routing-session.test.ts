// Sessions keep their home host unless waiting there costs more than a cold start elsewhere; a model that must load
// never outranks a loaded, idle member; `ordered` pools keep config order.
import { describe, expect, it } from "vitest";
import { orderForSession } from "../../src/resolver/affinity.js";
import { FleetRouter, prefixChain, type Candidate } from "../../src/routing/index.js";
import { chatBody, hostOf, occupy, routeOf, serve } from "../helpers/routing-fakes.js";

const pool = () => [routeOf("a"), routeOf("b"), routeOf("c")];
const rank = (router: FleetRouter, candidates: Candidate[], body: unknown, session?: string, policy: "replicas" | "ordered" = "replicas") =>
  router.rank({ candidates, policy, session, chain: prefixChain("chat", body) }, 0);
const ids = (r: { order: { route: Candidate }[] }) => r.order.map((e) => e.route.id);

describe("a session stays on its home host", () => {
  it("a new session's home is its rendezvous choice", () => {
    const candidates = pool();
    for (const session of ["s1", "s2", "s3", "s4"]) {
      const order = rank(new FleetRouter(), candidates, chatBody(session, 1), session).order;
      expect(order[0]!.route).toBe(orderForSession(candidates, session)[0]);
      expect(order[0]!.home).toBe(true);
    }
  });

  it("stays on the host that served it last, even when that was not its rendezvous choice", () => {
    const router = new FleetRouter();
    const candidates = pool();
    const elsewhere = orderForSession(candidates, "s1")[2]!;
    serve(router, candidates, chatBody("c1", 1), { session: "s1", route: elsewhere });
    // A new prompt (no cached prefix anywhere): only the session's home tells the hosts apart.
    expect(rank(router, candidates, chatBody("unrelated", 1), "s1").order[0]!.route).toBe(elsewhere);
  });

  it("a request sent while the session's first one is still running follows it there (the home moves when a request is sent)", () => {
    const router = new FleetRouter();
    const candidates = pool();
    const elsewhere = orderForSession(candidates, "s1")[2]!;
    // Two slots on every host: one request in flight leaves a slot free at home.
    for (const c of candidates) router.recordSlots(c.provider, c.upstream, [{ is_processing: false }, { is_processing: false }], 0);
    const first = router.rank({ candidates, policy: "replicas", session: "s1", chain: prefixChain("chat", chatBody("c1", 1)) }, 0);
    router.begin(first, elsewhere, 0); // sent, not finished: no answer, no timings yet
    expect(rank(router, candidates, chatBody("unrelated", 1), "s1").order[0]!.route).toBe(elsewhere);
  });

  it("stays home with no wait there, even where another host reads prompts faster (home holds the session's context)", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    // b learned a prefill rate ten times a's; the session was served by a.
    serve(router, [b!], chatBody("other", 1), { route: b, timings: { cachedTokens: 0, computedTokens: 4_000, prefillPerSecond: 8_000 } });
    serve(router, [a!], chatBody("other2", 1), { route: a, timings: { cachedTokens: 0, computedTokens: 4_000, prefillPerSecond: 800 } });
    serve(router, [a!, b!], chatBody("c1", 1), { session: "s1", route: a });
    expect(ids(rank(router, [a!, b!], chatBody("fresh prompt of the same session", 6), "s1"))[0]).toBe("a/coder");
  });

  it("a home that failed is forgotten: the session is ranked afresh", () => {
    const router = new FleetRouter();
    const candidates = pool();
    const elsewhere = orderForSession(candidates, "s1")[2]!;
    const first = router.rank({ candidates, policy: "replicas", session: "s1", chain: prefixChain("chat", chatBody("c1", 1)) }, 0);
    router.end(router.begin(first, elsewhere, 0), { ok: false }, 10);
    expect(rank(router, candidates, chatBody("unrelated", 1), "s1").order[0]!.route).toBe(orderForSession(candidates, "s1")[0]);
  });

  it("moves when the wait at home costs more than a cold prefill elsewhere (short prompt)", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    // Requests on a take 15 s each: one ahead is a 15 s wait, a cold 1.5k-token prompt on b about 2 s.
    serve(router, [a!, b!], chatBody("c1", 1), { session: "s1", route: a, durationMs: 15_000 });
    occupy(router, a!, 1);
    expect(ids(rank(router, [a!, b!], chatBody("c1", 2), "s1"))).toEqual(["b/coder", "a/coder"]);
  });

  it("stays and waits when a cold prefill elsewhere would take longer (long prompt, warm at home)", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    const long = (turns: number) => chatBody("c1", turns, { turnChars: 5_000 });
    // One request ahead on a is a 15 s wait; b would read a 15k-token prompt cold, about 19 s.
    serve(router, [a!, b!], long(5), { session: "s1", route: a, durationMs: 15_000 });
    occupy(router, a!, 1);
    const order = rank(router, [a!, b!], long(6), "s1").order;
    expect(order.map((e) => [e.route.id, e.cache, e.queue])).toEqual([["a/coder", "warm", 1], ["b/coder", "cold", 0]]);
  });

  it("leaves a home whose requests in flight have run far longer than usual, though a typical request there is short", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    const long = (turns: number) => chatBody("c1", turns, { turnChars: 5_000 });
    // Requests on a usually take 1 s, and the session is warm there; but the one holding a's slot was sent 60 s ago.
    serve(router, [a!, b!], long(5), { session: "s1", route: a, durationMs: 1_000 });
    const held = router.rank({ candidates: [a!], policy: "replicas" }, 0);
    router.begin(held, a!, 0);
    const rankAt = (now: number) => router.rank({ candidates: [a!, b!], policy: "replicas", session: "s1", chain: prefixChain("chat", long(6)) }, now);
    // Just sent: a 1 s wait at home beats a ~19 s cold prefill on b.
    expect(rankAt(100).order.map((e) => e.route.id)).toEqual(["a/coder", "b/coder"]);
    // Running for 60 s: likely to run about as long again; the cold prefill on b is quicker.
    expect(rankAt(60_000).order.map((e) => [e.route.id, e.cache])).toEqual([["b/coder", "cold"], ["a/coder", "warm"]]);
  });

  it("a home that is no longer a candidate falls back to the rendezvous choice", () => {
    const router = new FleetRouter();
    const [a, b, c] = pool();
    serve(router, [a!, b!, c!], chatBody("c1", 1), { session: "s1", route: c });
    const order = rank(router, [a!, b!], chatBody("unrelated", 1), "s1").order;
    expect(order[0]!.route).toBe(orderForSession([a!, b!], "s1")[0]);
  });
});

describe("residency", () => {
  const long = (turns: number) => chatBody("c1", turns, { turnChars: 10_000 });
  const unloadedOnA = (router: FleetRouter) => router.recordResidency(hostOf("a"), { data: [{ id: "coder", status: { value: "unloaded" } }] }, 0);

  /** b has read prompts slowly so far: by the estimate alone a load on a plus a prefill there beats a prefill on b. */
  const slowPrefillOnB = (router: FleetRouter, b: Candidate) =>
    serve(router, [b], chatBody("teaching", 1), { timings: { cachedTokens: 0, computedTokens: 5_000, prefillPerSecond: 100 } });

  it("a host that must load the model never ranks above a loaded member with a free slot, even when its estimate is lower", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    slowPrefillOnB(router, b!);
    unloadedOnA(router);
    const order = rank(router, [a!, b!], long(7)).order;
    // By the estimate alone a would win (load + prefill at the default rate < the same prefill at b's slow rate).
    expect(order.find((e) => e.route === a)!.ttftMs).toBeLessThan(order.find((e) => e.route === b)!.ttftMs);
    expect(order.map((e) => [e.route.id, e.load])).toEqual([["b/coder", "none"], ["a/coder", "needed"]]);
  });

  it("may rank above a loaded member that has no free slot when the estimate says so", () => {
    const router = new FleetRouter();
    const [a, b] = pool();
    slowPrefillOnB(router, b!);
    unloadedOnA(router);
    occupy(router, b!, 1);
    expect(ids(rank(router, [a!, b!], long(7)))).toEqual(["a/coder", "b/coder"]);
  });

  it("a model that is loading also yields to a loaded, idle member", () => {
    const router = new FleetRouter();
    const [a, b, c] = pool();
    router.recordResidency(hostOf("a"), { data: [{ id: "coder", status: { value: "loading" } }] }, 0);
    occupy(router, c!, 3);
    const order = rank(router, [a!, c!, b!], chatBody("c1", 1)).order;
    expect(order.map((e) => [e.route.id, e.load])).toEqual([["b/coder", "none"], ["a/coder", "loading"], ["c/coder", "none"]]);
  });
});

describe("an ordered pool keeps config order", () => {
  it("does not reorder by load, cache or session, and says so in the reason", () => {
    const router = new FleetRouter();
    const [a, b, c] = pool();
    serve(router, [c!], chatBody("c1", 2), { session: "s1" });
    occupy(router, a!, 3);
    const ranking = rank(router, [a!, b!, c!], chatBody("c1", 3), "s1", "ordered");
    expect(ids(ranking)).toEqual(["a/coder", "b/coder", "c/coder"]);
    expect(ranking.order[0]!.reason).toBe("a/coder; cache=cold; queue=3; policy=ordered");
    expect(ranking.order[2]!.reason).toBe("c/coder; cache=warm; queue=0; policy=ordered");
  });
});

describe("a conversation that moves", () => {
  it("is credited, on the other hosts, with the system prompt they have cached: it moves where only its own turns are missing", () => {
    const long = (name: string, turns: number) => chatBody(name, turns, { turnChars: 800 });
    // Whatever the session (so whatever the spread hash says), b wins: it holds the system prompt, c holds nothing.
    for (const session of ["s1", "s2", "s3", "s4", "s5", "s6"]) {
      const router = new FleetRouter();
      const [a, b, c] = pool();
      for (const r of [a!, b!, c!]) router.recordSlots(r.provider, r.upstream, [{ is_processing: false }], 0);
      serve(router, [a!], long(`c-${session}`, 3), { session, route: a, durationMs: 1_000 });
      serve(router, [b!], long("other", 2), { route: b, durationMs: 1_000 });
      // a's one slot is held by a request running for a minute.
      router.begin(router.rank({ candidates: [a!], policy: "replicas" }, 0), a!, 0);
      const order = router.rank({ candidates: [a!, b!, c!], policy: "replicas", session, chain: prefixChain("chat", long(`c-${session}`, 4)), pinnable: true }, 60_000).order;
      expect(order[0]!.route.id).toBe("b/coder");
    }
  });
});
