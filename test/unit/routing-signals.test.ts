// The routing signals: in-flight counts, host reports with their refresh rule, answers' timings, prefix feedback.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FleetRouter, MemorySignals, ROUTING_DEFAULTS, parseResidency, parseSlots, parseTimings, prefixChain } from "../../src/routing/index.js";
import { chatBody, hostOf, routeOf } from "../helpers/routing-fakes.js";

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
    s.recordSlots(A, undefined, { total: 2, busy: 1 }, 20_000);
    expect(s.needsRefresh(A, 20_000 + ROUTING_DEFAULTS.refreshAfterMs - 1)).toBe(false);
    expect(s.needsRefresh(A, 20_000 + ROUTING_DEFAULTS.refreshAfterMs)).toBe(true);
  });

  it("keeps using stale slot figures while a refresh runs, and drops them once too old to trust", () => {
    const s = new MemorySignals();
    s.recordSlots(A, undefined, { total: 2, busy: 1 }, 0);
    expect(s.view(A, "coder", ROUTING_DEFAULTS.refreshAfterMs + 1).slots).toEqual({ total: 2, busy: 1 });
    expect(s.view(A, "coder", ROUTING_DEFAULTS.slotsTrustMs).slots).toBeUndefined();
    s.recordSlots(A, "coder", { total: 4, busy: 4 }, 100);
    expect(s.view(A, "coder", 200).slots).toEqual({ total: 4, busy: 4 });
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
  const finished = (over: object) => ({ host: A, model: "coder", startedAt: 0, ok: true, chain, predictedCachedTokens: 0, ...over });

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

  it("indexes the prompt of a successful answer on its host, not of a failed one", () => {
    const s = new MemorySignals();
    s.end(finished({ ok: false }), 1);
    expect(s.cachedPrefix(A, "coder", chain).blocks).toBe(0);
    s.end(finished({}), 1);
    expect(s.cachedPrefix(A, "coder", chain)).toEqual({ blocks: chain.hashes.length, chars: chain.totalChars });
    expect(s.cachedPrefix(hostOf("b"), "coder", chain).blocks).toBe(0);
  });

  it("a predicted warm prefix that came back cold clears what the host was thought to hold (restart, eviction)", () => {
    const s = new MemorySignals();
    const other = prefixChain("chat", chatBody("c2", 3));
    s.end({ ...finished({}), chain: other }, 1);
    s.end(finished({}), 2);
    s.end(finished({ predictedCachedTokens: 900, timings: { cachedTokens: 0, computedTokens: 1000 } }), 3);
    // Only the system prompt both share is left: the cold answer's own prompt, indexed again after the clear.
    expect(s.cachedPrefix(A, "coder", other).blocks).toBe(1);
    expect(s.cachedPrefix(A, "coder", chain).blocks).toBe(chain.hashes.length);
  });

  it("a prediction the answer confirmed keeps the host's other prefixes", () => {
    const s = new MemorySignals();
    const other = prefixChain("chat", chatBody("c2", 3));
    s.end({ ...finished({}), chain: other }, 1);
    s.end(finished({ predictedCachedTokens: 900, timings: { cachedTokens: 880, computedTokens: 120 } }), 3);
    expect(s.cachedPrefix(A, "coder", other).blocks).toBe(other.hashes.length);
  });

  it("remembers a bounded number of prefixes per host, forgetting the least recently sent", () => {
    const s = new MemorySignals({ ...ROUTING_DEFAULTS, prefixCapacity: 4 });
    const old = prefixChain("chat", chatBody("old", 1));
    const recent = prefixChain("chat", chatBody("new", 2));
    s.end({ ...finished({}), chain: old }, 1);
    s.end({ ...finished({}), chain: recent }, 2);
    expect(s.cachedPrefix(A, "coder", recent).blocks).toBe(4);
    expect(s.cachedPrefix(A, "coder", old).blocks).toBe(1);
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
    expect(router.signals.cachedPrefix(host.provider, "coder", other).blocks).toBe(other.hashes.length);
    const attempt = router.begin(second, host, 3_000);
    expect(attempt.predictedCachedTokens).toBeGreaterThan(1_000);
    router.end(attempt, { ok: true, timings: { cachedTokens: 0, computedTokens: 1_800 } }, 4_000);
    expect(router.signals.cachedPrefix(host.provider, "coder", other).blocks).toBe(1);
  });
});
