// The activity counters behind the status page: in flight until `end` (once, however often it is called), tokens/s
// from the host's timings or, without them, from the usage over the time since the answer's first byte, and only
// over the last minute.
import { afterEach, describe, expect, it, vi } from "vitest";
import { activityOf, countedInFlight, hostRequestStarted } from "../../src/upstream/activity.js";

let n = 0;
const provider = () => ({ id: "p", baseUrl: `http://host-${++n}.test` });
afterEach(() => vi.restoreAllMocks());

describe("activity", () => {
  it("counts a request in flight until it ends, once, and keys providers by id and base URL", () => {
    const p = provider();
    const a = hostRequestStarted(p);
    const b = hostRequestStarted(p);
    expect(activityOf(p).inFlight).toBe(2);
    expect(activityOf({ id: p.id, baseUrl: "http://elsewhere.test" }).inFlight).toBe(0);
    a.end();
    a.end();
    expect(activityOf(p).inFlight).toBe(1);
    b.end();
    expect(activityOf(p)).toEqual({ inFlight: 0, tokensPerSecond: null, recentAnswers: 0 });
  });

  it("prefers the host's timings, falls back to usage over the time since the first byte, and forgets after a minute", () => {
    const p = provider();
    let now = 1_000_000;
    vi.spyOn(Date, "now").mockImplementation(() => now);
    hostRequestStarted(p).end({ usage: { completion_tokens: 999 }, timings: { predicted_n: 100, predicted_ms: 2_000 } });
    expect(activityOf(p).tokensPerSecond).toBe(50);
    // No timings (an Anthropic stream): 30 output tokens from the first byte to the end, 1 s later.
    const b = hostRequestStarted(p);
    b.answered();
    now += 1_000;
    b.end({ usage: { output_tokens: 30 } });
    // Token-weighted over both: 130 tokens in 3 s.
    expect(activityOf(p)).toEqual({ inFlight: 0, tokensPerSecond: 43.3, recentAnswers: 2 });
    // A whole answer at once says nothing about speed; neither does one without any count.
    const c = hostRequestStarted(p);
    c.answered();
    c.end({ usage: { completion_tokens: 5 } });
    hostRequestStarted(p).end({ usage: {} });
    expect(activityOf(p).recentAnswers).toBe(2);
    now += 60_001;
    expect(activityOf(p)).toEqual({ inFlight: 0, tokensPerSecond: null, recentAnswers: 0 });
  });

  it("ends the request when the attempt fails, and leaves it to the answer when it succeeds", async () => {
    const p = provider();
    await expect(countedInFlight(p, async () => Promise.reject(new Error("refused")))).rejects.toThrow("refused");
    expect(activityOf(p).inFlight).toBe(0);
    let handed: { end(answer?: unknown): void } | undefined;
    await countedInFlight(p, async (activity) => void (handed = activity));
    expect(activityOf(p).inFlight).toBe(1);
    handed!.end();
    expect(activityOf(p).inFlight).toBe(0);
  });
});
