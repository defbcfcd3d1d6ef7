// Router-mode residency: what the router learns from answers and refusals between reports, what an unload costs the
// prefix index, and which attempts are asked not to load the model (routing/plan.ts).
import { describe, expect, it } from "vitest";
import { FleetRouter, ROUTING_DEFAULTS, attemptPlan, prefixChain } from "../../src/routing/index.js";
import { chatBody, heldBlocks, hostOf, routeOf } from "../helpers/routing-fakes.js";

const A = hostOf("a");
const listing = (status: string) => ({ data: [{ id: "coder", status: { value: status } }, { id: "other", status: { value: "unloaded" } }] });

describe("residency between reports", () => {
  it("an answer from a router-mode host means the model is loaded there; a single-model host learns no residency", () => {
    const router = new FleetRouter();
    router.recordResidency(A, listing("unloaded"), 0);
    const ranking = router.rank({ candidates: [routeOf("a"), routeOf("b")], policy: "replicas" }, 0);
    router.end(router.begin(ranking, routeOf("a"), 0), { ok: true }, 100);
    router.end(router.begin(ranking, routeOf("b"), 0), { ok: true }, 100);
    expect(router.signals.view(A, "coder", 200)).toMatchObject({ residency: "loaded", routerMode: true });
    expect(router.signals.view(A, "other", 200).residency).toBe("unloaded");
    expect(router.signals.view(hostOf("b"), "coder", 200)).toMatchObject({ residency: undefined, routerMode: false });
  });

  it("a refusal marks the model unloaded; a fact noted after the report went stale is trusted on its own", () => {
    const router = new FleetRouter();
    router.recordResidency(A, listing("loaded"), 0);
    router.signals.noteResidency(A, "coder", "unloaded", 10);
    expect(router.signals.view(A, "coder", 20).residency).toBe("unloaded");
    const late = ROUTING_DEFAULTS.residencyTrustMs + 5;
    router.signals.noteResidency(A, "coder", "loaded", late);
    expect(router.signals.view(A, "coder", late + 1).residency).toBe("loaded");
    expect(router.signals.view(A, "other", late + 1).residency).toBeUndefined();
  });

  it("an unload forgets every prompt the host had cached for that model, whether reported or learned from a refusal", () => {
    const router = new FleetRouter();
    const chain = prefixChain("chat", chatBody("c1", 3));
    const served = () => {
      const ranking = router.rank({ candidates: [routeOf("a")], policy: "replicas", chain }, 0);
      router.end(router.begin(ranking, routeOf("a"), 0), { ok: true }, 10);
      expect(heldBlocks(router.signals, A, chain)).toBe(chain.hashes.length);
    };
    router.recordResidency(A, listing("loaded"), 0);
    served();
    router.recordResidency(A, listing("unloaded"), 20);
    expect(heldBlocks(router.signals, A, chain)).toBe(0);
    served();
    router.signals.noteResidency(A, "coder", "unloaded", 30);
    expect(heldBlocks(router.signals, A, chain)).toBe(0);
  });
});

describe("the attempt plan", () => {
  const [a, b, c] = [routeOf("a"), routeOf("b"), routeOf("c")];

  it("asks a router-mode member believed loaded not to load, and brings it back last with loading allowed", () => {
    const router = new FleetRouter();
    router.recordResidency(a.provider, listing("loaded"), 0);
    const ranking = router.rank({ candidates: [a, b], policy: "replicas" }, 0);
    expect(attemptPlan([a, b], ranking)).toEqual([
      { route: a, onlyIfLoaded: true },
      { route: b, onlyIfLoaded: false },
      { route: a, onlyIfLoaded: false },
    ]);
  });

  it("if it refuses, it is tried again loading allowed before a later member whose wait is longer than a load", () => {
    const router = new FleetRouter();
    router.recordResidency(a.provider, listing("loaded"), 0);
    // b holds a request that has run for 5 minutes: likely another 5 minutes, longer than a load on a (20 s).
    router.begin(router.rank({ candidates: [b], policy: "replicas" }, 0), b, 0);
    const ranking = router.rank({ candidates: [a, b, c], policy: "replicas" }, 300_000);
    const routes = ranking.order.map((e) => e.route);
    expect(routes).toEqual([a, c, b]);
    expect(attemptPlan(routes, ranking)).toEqual([
      { route: a, onlyIfLoaded: true },
      { route: c, onlyIfLoaded: false },
      { route: a, onlyIfLoaded: false },
      { route: b, onlyIfLoaded: false },
    ]);
  });

  it("leaves alone a member known to need a load (the ranking chose it knowingly), the last candidate and single-model hosts", () => {
    const router = new FleetRouter();
    router.recordResidency(a.provider, listing("unloaded"), 0);
    router.recordResidency(c.provider, listing("loaded"), 0);
    const ranking = router.rank({ candidates: [a, b, c], policy: "replicas" }, 0);
    expect(attemptPlan([a, b, c], ranking)).toEqual([a, b, c].map((route) => ({ route, onlyIfLoaded: false })));
  });
});

describe("load times and hosts that went down", () => {
  const [a, b] = [routeOf("a"), routeOf("b")];

  it("learns a host's load time from a load it did, and then prefers a quick load over a queue elsewhere", () => {
    const router = new FleetRouter();
    router.recordResidency(a.provider, listing("unloaded"), 0);
    // Requests on b take 5 s; one was just sent there, so the next waits ~5 s, less than the assumed 10 s load on a.
    router.end(router.begin(router.rank({ candidates: [b], policy: "replicas" }, 0), b, 0), { ok: true }, 5_000);
    router.begin(router.rank({ candidates: [b], policy: "replicas" }, 10_000), b, 10_000);
    const rankAt = (now: number) => router.rank({ candidates: [a, b], policy: "replicas" }, now).order.map((e) => e.route.id);
    expect(rankAt(10_000)).toEqual(["b/coder", "a/coder"]);
    // a loads the model for another request: its headers came 400 ms after sending.
    const attempt = router.begin(router.rank({ candidates: [a], policy: "replicas" }, 10_000), a, 10_000);
    expect(attempt.loads).toBe(true);
    router.loaded(attempt, 400);
    router.end(attempt, { ok: true }, 10_500);
    router.signals.noteResidency(a.provider, "coder", "unloaded", 10_600); // unloaded again by someone else
    expect(router.signals.view(a.provider, "coder", 10_600).loadMs).toBe(400);
    expect(rankAt(10_600)).toEqual(["a/coder", "b/coder"]);
  });

  it("a host that went down forgets what its slots and RAM cache held", () => {
    const router = new FleetRouter();
    const chain = prefixChain("chat", chatBody("c1", 3));
    router.end(router.begin(router.rank({ candidates: [a], policy: "replicas", chain }, 0), a, 0), { ok: true }, 10);
    expect(heldBlocks(router.signals, A, chain)).toBe(chain.hashes.length);
    router.hostDown(a.provider);
    expect(heldBlocks(router.signals, A, chain)).toBe(0);
  });
});
