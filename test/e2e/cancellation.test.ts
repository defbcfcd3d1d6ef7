// A client that goes away frees the host's slot at once, for streaming AND non-streaming requests, proven on the
// real host with a slow model (~90 tokens/s, asked for 3,000 tokens: ~30 s if nobody cancels): its /slots goes idle
// and its log says it cancelled the task (a task that ran to its end is not "cancelled"). How long that took is
// printed as a figure, not asserted: on a loaded 2-core machine it varies; "cancelled, well before the end" does not.
import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { describe, expect, inject, it } from "vitest";
import { E2E } from "./setup.js";

const routerUrl = inject("routerUrl");
const hostS = inject("hostS");
const hostLog = `${inject("stateDir")}/host-s.log`;
const LONG = { model: "s/slow", messages: [{ role: "user" as const, content: "Write a long story." }], max_tokens: 3000 };

type Slot = { is_processing: boolean; next_token?: { n_decoded: number }[] };
const slots = async () => (await (await fetch(`${hostS}/slots`)).json()) as Slot[];
const busySlots = async () => (await slots()).filter((s) => s.is_processing);
/** How many tasks the host has cancelled so far ("stop: cancel task" in its log). */
const cancelledTasks = () => readFileSync(hostLog, "utf8").split("\n").filter((l) => l.includes("cancel task")).length;

/** Polls `probe` every 25 ms until it holds; throws after `limitMs` (a hang guard, far below the ~30 s generation). */
async function until(what: string, probe: () => Promise<boolean>, limitMs = 15_000): Promise<number> {
  const since = Date.now();
  while (!(await probe())) {
    if (Date.now() - since > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - since;
}

describe("client disconnect frees the host's slot", () => {
  it("streaming: abort after a few chunks, /slots idle within a second", async () => {
    const client = new OpenAI({ baseURL: `${routerUrl}/v1`, apiKey: E2E.clientKey, maxRetries: 0 });
    const abort = new AbortController();
    const cancelledBefore = cancelledTasks();
    const stream = await client.chat.completions.create({ ...LONG, stream: true }, { signal: abort.signal });
    let chunks = 0;
    for await (const chunk of stream) {
      expect(chunk.model).toBe("s/slow");
      if (++chunks === 10) break; // leaving the loop aborts the request
    }
    expect(chunks).toBe(10);
    abort.abort();
    const ms = await until("the host's slot going idle", async () => (await busySlots()).length === 0);
    console.log(`streaming: host slot idle ${ms} ms after the client left`);
    await until("the host logging the cancelled task", async () => cancelledTasks() > cancelledBefore);
  });

  it("non-streaming: abort while the host generates, /slots idle within a second", async () => {
    const abort = new AbortController();
    const pending = fetch(`${routerUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${E2E.clientKey}`, "content-type": "application/json" },
      body: JSON.stringify(LONG),
      signal: abort.signal,
    }).then((r) => r.text()).catch((e) => e);
    const cancelledBefore = cancelledTasks();
    // Leave once the host is well into the answer (the router has written heartbeat spaces by then).
    await until("the host generating 40 tokens", async () => (await busySlots()).some((s) => (s.next_token?.[0]?.n_decoded ?? 0) >= 40));
    abort.abort();
    const ms = await until("the host's slot going idle", async () => (await busySlots()).length === 0);
    console.log(`non-streaming: host slot idle ${ms} ms after the client left`);
    await until("the host logging the cancelled task", async () => cancelledTasks() > cancelledBefore);
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
