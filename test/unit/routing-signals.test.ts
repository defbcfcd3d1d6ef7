// The routing signals: in-flight counts, host reports with their refresh rule, answers' timings, prefix feedback.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FleetRouter, MemorySignals, ROUTING_DEFAULTS, parseResidency, parseSlots, parseTimings, prefixChain, type PrefixChain } from "../../src/routing/index.js";
import { chatBody, heldBlocks, hostOf, routeOf } from "../helpers/routing-fakes.js";

const fixture = (name: string) => readFileSync(`test/fixtures/llama-server/${name}.body`, "utf8");
const sseData = (body: string) => body.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
const A = hostOf("a");

describe("host reports", () => {
  it("reads /slots: total and busy", () => {
    expect(parseSlots(JSON.parse(fixture("slots")))).toEqual({ total: 4, busy: 0 });
    expect(parseSlots([{ id: 0, is_processing: true }, { id: 1, is_processing: false }])).toEqual({ total: 2, busy: 1 });
    expect(parseSlots({ error: "slots disabled" })).toBeUndefined();
    expect(parseSlots([])).toBeUndefined();
  });

  it("reads router-mode residency by id and alias; a single-model list gives none", () => {
    expect([...parseResidency(JSON.parse(fixture("router-mode-models")))]).toEqual([["alpha", "unloaded"], ["beta", "unloaded"]]);
    const loaded = parseResidency({ data: [{ id: "m", aliases: ["m2"], status: { value: "loaded" } }, { id: "x", status: { value: "sleeping" } }] });
    expect([...loaded]).toEqual([["m", "loaded"], ["m2", "loaded"]]);
    expect(parseResidency(JSON.parse(fixture("models"))).size).toBe(0);
    expect(parseResidency("nonsense").size).toBe(0);
  });

  it("reads an answer's cache figures from timings, else from the API's usage", () => {
    expect(parseTimings(JSON.parse(fixture("chat")))).toEqual({ cachedTokens: 0, computedTokens: 26, prefillPerSecond: 11601.963409192325 });
    expect(parseTimings(sseData(fixture("chat-stream")).at(-1))).toMatchObject({ cachedTokens: 25, computedTokens: 1 });
    expect(parseTimings(sseData(fixture("responses-stream")).find((e) => e.type === "response.completed"))).toMatchObject({ cachedTokens: 25, computedTokens: 1 });
    expect(parseTimings(JSON.parse(fixture("messages")))).toEqual({ cachedTokens: 25, computedTokens: 1 });
    expect(parseTimings(sseData(fixture("messages-stream"))[0])).toEqual({ cachedTokens: 25, computedTokens: 1 });
    expect(parseTimings({ usage: { prompt_tokens: 30, prompt_tokens_details: { cached_tokens: 20 } } })).toEqual({ cachedTokens: 20, computedTokens: 10 });
    expect(parseTimings({ usage: { prompt_tokens: 30 } })).toBeUndefined();
    expect(parseTimings({ timings: { cache_n: "many" } })).toBeUndefined();
  });
});

describe("in-flight counts and refresh", () => {
  it("counts requests per host and model between begin and end; a second end is ignored", () => {
    const router = new FleetRouter();
    const r = routeOf("a");
    const ranking = router.rank({ candidates: [r], policy: "replicas" }, 0);
    const one = router.begin(ranking, r, 0);
    const two = router.begin(ranking, r, 0);
    expect(router.signals.view(A, "coder", 0).inFlight).toBe(2);
    expect(router.signals.view(A, "other", 0).inFlight).toBe(0);
    router.end(one, { ok: false }, 10);
    router.end(one, { ok: false }, 10);
    expect(router.signals.view(A, "coder", 10).inFlight).toBe(1);
    router.end(two, { ok: true }, 10);
    expect(router.signals.view(A, "coder", 10).inFlight).toBe(0);
  });

  it("asks for a refresh once while stale, again when the claim lapses, and not while the reports are fresh", () => {
    const s = new MemorySignals();
    expect(s.needsRefresh(A, 0)).toBe(true);
    expect(s.needsRefresh(A, 1)).toBe(false);
    expect(s.needsRefresh(A, ROUTING_DEFAULTS.refreshClaimMs)).toBe(true);
    // Slots another reader (the catalog) recorded are not the refresh: residency may still be unread.
    s.recordSlots(A, "coder", [false, true], 20_000);
    expect(s.needsRefresh(A, 20_000)).toBe(true);
    s.reported(A, 20_000, { withResidency: false });
    expect(s.residencyRead(A)).toBe(false);
    expect(s.needsRefresh(A, 20_000 + ROUTING_DEFAULTS.refreshAfterMs - 1)).toBe(false);
    expect(s.needsRefresh(A, 20_000 + ROUTING_DEFAULTS.refreshAfterMs)).toBe(true);
    s.reported(A, 30_000, { withResidency: true });
    expect(s.residencyRead(A)).toBe(true);
  });

  it("takes the slot count from /slots (then requests may be pinned), and believes another client's busy slot only while the report is recent", () => {
    const s = new MemorySignals();
    expect(s.view(A, "coder", 0)).toMatchObject({ slotsKnown: false, slots: [expect.anything()] });
    s.recordSlots(A, "coder", [false, true], 0);
    const fresh = s.view(A, "coder", ROUTING_DEFAULTS.refreshAfterMs + 1);
    expect([fresh.slotsKnown, fresh.slots.map((slot) => slot.foreignBusy)]).toEqual([true, [false, true]]);
    const old = s.view(A, "coder", ROUTING_DEFAULTS.slotsTrustMs);
    expect([old.slotsKnown, old.slots.map((slot) => slot.foreignBusy)]).toEqual([true, [false, false]]);
    // A restart with another slot count shows in the next report; the model's figures are its own.
    s.recordSlots(A, "coder", [true, true, true, true], 100);
    expect(s.view(A, "coder", 200).slots).toHaveLength(4);
    expect(s.view(A, "other", 200).slotsKnown).toBe(false);
  });

  it("gives a model's residency only while it is recent", () => {
    const router = new FleetRouter();
    router.recordResidency(A, JSON.parse(fixture("router-mode-models")), 0);
    expect(router.signals.view(A, "alpha", 1).residency).toBe("unloaded");
    expect(router.signals.view(A, "coder", 1).residency).toBeUndefined();
    expect(router.signals.view(A, "alpha", ROUTING_DEFAULTS.residencyTrustMs).residency).toBeUndefined();
  });
});

describe("feedback from answers", () => {
  const chain = prefixChain("chat", chatBody("c1", 2));
  const finished = (over: object) => ({ host: A, model: "coder", slot: 0, startedAt: 0, ok: true, chain, predictedCachedTokens: 0, ...over });
  /** A request sent to slot 0 of A with `prompt`, then finished as `over` says. */
  const served = (s: MemorySignals, prompt: PrefixChain, over: object = {}, at = 1) => {
    s.begin(A, "coder", 0, prompt, at);
    s.end({ ...finished({ startedAt: at }), chain: prompt, ...over }, at + 1);
  };

  it("learns the prefill rate from answers that computed enough tokens, and the characters per token", () => {
    const s = new MemorySignals();
    s.end(finished({ timings: { cachedTokens: 0, computedTokens: 10, prefillPerSecond: 99_999 } }), 1);
    expect(s.view(A, "coder", 1).prefillPerSecond).toBe(ROUTING_DEFAULTS.prefillPerSecond);
    s.end(finished({ timings: { cachedTokens: 0, computedTokens: 2000, prefillPerSecond: 3000 } }), 1);
    expect(s.view(A, "coder", 1).prefillPerSecond).toBe(3000);
    expect(s.view(A, "coder", 1).charsPerToken).toBeCloseTo(chain.totalChars / 2000, 0);
  });

  it("learns how long a request holds a slot, from successful attempts only", () => {
    const s = new MemorySignals();
    s.end(finished({ ok: false }), 99_000);
    expect(s.view(A, "coder", 0).serviceMs).toBe(ROUTING_DEFAULTS.serviceMs);
    s.end(finished({}), 4_000);
    expect(s.view(A, "coder", 0).serviceMs).toBe(4_000);
  });

  it("a slot holds the prompt sent to it; after a failure what it holds is unknown", () => {
    const s = new MemorySignals();
    served(s, chain);
    expect(heldBlocks(s, A, chain)).toBe(chain.hashes.length);
    expect(heldBlocks(s, hostOf("b"), chain)).toBe(0);
    served(s, chain, { ok: false });
    expect(heldBlocks(s, A, chain)).toBe(0);
  });

  it("a prompt replaced by one that keeps less than half of it goes to the RAM cache; one that keeps more is overwritten", () => {
    const s = new MemorySignals();
    const shortSystem = { system: "Be brief." };
    const displaced = prefixChain("chat", chatBody("c1", 3, shortSystem));
    served(s, displaced);
    served(s, prefixChain("chat", chatBody("c2", 3, shortSystem))); // shares only a short system prompt: saved to RAM
    expect(s.inRam(A, "coder", displaced).blocks).toBe(displaced.hashes.length);
    const longShared = prefixChain("chat", chatBody("c3", 1));
    served(s, longShared);
    served(s, prefixChain("chat", chatBody("c4", 1))); // shares a long system prompt: keeps most of the slot, no save
    expect(s.inRam(A, "coder", longShared).blocks).toBe(0);
  });

  it("a predicted warm prefix that came back cold clears what the host was thought to hold (restart, eviction)", () => {
    const s = new MemorySignals();
    const other = prefixChain("chat", chatBody("c2", 3, { system: "Be brief." }));
    s.recordSlots(A, "coder", [false, false], 0);
    s.begin(A, "coder", 1, other, 0);
    s.end({ ...finished({ slot: 1 }), chain: other }, 1);
    served(s, chain, { predictedCachedTokens: 900, timings: { cachedTokens: 0, computedTokens: 1000 } }, 3);
    // The cold answer's own prompt is known again; the other slot's is not.
    expect(heldBlocks(s, A, other)).toBe(0);
    expect(heldBlocks(s, A, chain)).toBe(chain.hashes.length);
  });

  it("a prediction the answer confirmed keeps what the host's other slots hold", () => {
    const s = new MemorySignals();
    const other = prefixChain("chat", chatBody("c2", 3));
    s.recordSlots(A, "coder", [false, false], 0);
    s.begin(A, "coder", 1, other, 0);
    s.end({ ...finished({ slot: 1 }), chain: other }, 1);
    served(s, chain, { predictedCachedTokens: 900, timings: { cachedTokens: 880, computedTokens: 120 } }, 3);
    expect(heldBlocks(s, A, other)).toBe(other.hashes.length);
  });

  it("remembers a bounded number of RAM-cache prefixes per host, forgetting the least recently saved", () => {
    const s = new MemorySignals({ ...ROUTING_DEFAULTS, ramPrefixes: 4 });
    const brief = { system: "Be brief." };
    const old = prefixChain("chat", chatBody("old", 1, brief));
    const recent = prefixChain("chat", chatBody("new", 2, brief));
    for (const prompt of [old, recent, prefixChain("chat", chatBody("third", 1, brief))]) served(s, prompt);
    expect(s.inRam(A, "coder", recent).blocks).toBe(4);
    expect(s.inRam(A, "coder", old).blocks).toBe(1);
  });
});

describe("one request through the router, as the request path will drive it", () => {
  it("rank, begin, end with the stream's final timings: the next turn is predicted warm there, and a cold answer corrects it", () => {
    const router = new FleetRouter();
    const [a, b] = [routeOf("a"), routeOf("b")];
    const timings = parseTimings(sseData(fixture("chat-stream")).at(-1));
    const turn = (n: number) => router.rank({ candidates: [a, b], policy: "replicas", chain: prefixChain("chat", chatBody("c1", n)) }, 0);
    const first = turn(1);
    router.end(router.begin(first, first.order[0]!.route, 0), { ok: true, timings }, 2_000);
    const second = turn(2);
    expect(second.order[0]).toMatchObject({ route: first.order[0]!.route, cache: "warm" });
    // Another conversation answered on the same host; then the host comes back cold where warm was predicted.
    const host = first.order[0]!.route;
    const other = prefixChain("chat", chatBody("c9", 3));
    const otherRanking = router.rank({ candidates: [host], policy: "replicas", chain: other }, 2_500);
    router.end(router.begin(otherRanking, host, 2_500), { ok: true }, 2_600);
    expect(heldBlocks(router.signals, host.provider, other)).toBe(other.hashes.length);
    const attempt = router.begin(second, host, 3_000);
    expect(attempt.predictedCachedTokens).toBeGreaterThan(1_000);
    router.end(attempt, { ok: true, timings: { cachedTokens: 0, computedTokens: 1_800 } }, 4_000);
    expect(heldBlocks(router.signals, host.provider, other)).toBe(1); // the system prompt it shares with the answer's own prompt
  });
});

describe("another client's requests", () => {
  it("a slot a report saw busy while the router's own request ran there is not another client's once that request ended", () => {
    const s = new MemorySignals();
    const chain = prefixChain("chat", chatBody("c1", 1));
    s.recordSlots(A, "coder", [false], 0);
    s.begin(A, "coder", 0, chain, 10);
    s.recordSlots(A, "coder", [true], 20); // taken while the router's request was running
    s.end({ host: A, model: "coder", slot: 0, startedAt: 10, ok: true, chain, predictedCachedTokens: 0 }, 30);
    expect(s.view(A, "coder", 40).slots[0]!.foreignBusy).toBe(false);
    s.recordSlots(A, "coder", [true], 50); // taken after it ended: someone else's
    expect(s.view(A, "coder", 60).slots[0]!.foreignBusy).toBe(true);
  });

  it("a request whose end was never seen stops counting once /slots shows its slot idle long after it was sent", () => {
    const s = new MemorySignals();
    const chain = prefixChain("chat", chatBody("c1", 1));
    s.recordSlots(A, "coder", [false, false], 0);
    s.begin(A, "coder", 0, chain, 1_000);
    s.begin(A, "coder", 1, chain, 1_000);
    // Idle soon after: the request may still be on its way to the host.
    s.recordSlots(A, "coder", [false, false], 1_000 + ROUTING_DEFAULTS.lostAfterMs - 1);
    expect(s.view(A, "coder", 20_000).inFlight).toBe(2);
    // Idle long after: slot 0's request is over; slot 1's, still shown working, is not.
    s.recordSlots(A, "coder", [false, true], 1_000 + ROUTING_DEFAULTS.lostAfterMs);
    expect(s.view(A, "coder", 20_000).slots.map((slot) => slot.inFlightSince.length)).toEqual([0, 1]);
  });

  it("an older report arriving after a newer one does not replace it (two readers answered out of order)", () => {
    const s = new MemorySignals();
    s.recordSlots(A, "coder", [true, false], 100);
    s.recordSlots(A, "coder", [false, false], 50);
    expect(s.view(A, "coder", 120).slots.map((slot) => slot.foreignBusy)).toEqual([true, false]);
  });
});
