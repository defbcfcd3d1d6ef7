// A client that goes away frees the host's slot at once, for streaming AND non-streaming requests, proven on the
// real host's /slots with a slow model (~90 tokens/s, asked for 3,000 tokens: ~30 s if nobody cancels).
import OpenAI from "openai";
import { describe, expect, inject, it } from "vitest";
import { E2E } from "./setup.js";

const routerUrl = inject("routerUrl");
const hostS = inject("hostS");
const LONG = { model: "s/slow", messages: [{ role: "user" as const, content: "Write a long story." }], max_tokens: 3000 };

const busySlots = async () => ((await (await fetch(`${hostS}/slots`)).json()) as { is_processing: boolean }[]).filter((s) => s.is_processing).length;

/** Polls /slots every 25 ms; the time from `since` until no slot is processing. */
async function msUntilIdle(since: number, limitMs = 10_000): Promise<number> {
  while (Date.now() - since < limitMs) {
    if ((await busySlots()) === 0) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`a slot was still processing ${limitMs} ms after the client left`);
}

async function waitUntilBusy() {
  const deadline = Date.now() + 15_000;
  while ((await busySlots()) === 0) {
    if (Date.now() > deadline) throw new Error("the host never started generating");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("client disconnect frees the host's slot", () => {
  it("streaming: abort after a few chunks, /slots idle within a second", async () => {
    const client = new OpenAI({ baseURL: `${routerUrl}/v1`, apiKey: E2E.clientKey, maxRetries: 0 });
    const abort = new AbortController();
    const stream = await client.chat.completions.create({ ...LONG, stream: true }, { signal: abort.signal });
    let chunks = 0;
    try {
      for await (const chunk of stream) {
        expect(chunk.model).toBe("s/slow");
        if (++chunks === 10) break; // leaving the loop aborts the request
      }
    } catch {}
    abort.abort();
    const left = Date.now();
    expect(await busySlots()).toBeGreaterThanOrEqual(0);
    const ms = await msUntilIdle(left);
    console.log(`streaming: host slot idle ${ms} ms after the client left`);
    expect(ms).toBeLessThan(1000);
  });

  it("non-streaming: abort while the host generates, /slots idle within a second", async () => {
    const abort = new AbortController();
    const pending = fetch(`${routerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${E2E.clientKey}`, "content-type": "application/json" },
      body: JSON.stringify(LONG),
      signal: abort.signal,
    }).then((r) => r.text()).catch((e) => e);
    await waitUntilBusy();
    await new Promise((r) => setTimeout(r, 500));
    abort.abort();
    const left = Date.now();
    const ms = await msUntilIdle(left);
    console.log(`non-streaming: host slot idle ${ms} ms after the client left`);
    expect(ms).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
  });

  it("non-streaming that completes still returns valid JSON after the heartbeat spaces", async () => {
    const res = await fetch(`${routerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${E2E.clientKey}`, "content-type": "application/json" },
      body: JSON.stringify({ ...LONG, max_tokens: 60 }),
    });
    const text = await res.text();
    expect(text.length - text.trimStart().length).toBeGreaterThan(0); // ~0.6 s of generation: at least one space
    const body = JSON.parse(text);
    expect(body).toMatchObject({ object: "chat.completion", model: "s/slow", usage: { completion_tokens: 60 } });
    expect(body.choices[0].message.content.length).toBeGreaterThan(0);
  });
});
