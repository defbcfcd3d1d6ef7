// The relay's own contract, outside workerd: cancellation reaches the host body, an idle host and a stalled client
// are each cut after idleMs, a body that ends before the protocol's end event ends with one error event on an event
// boundary, and an assembled answer gets heartbeats (on a timer, host silent or not) then the JSON, its host body read
// in batches when it is a byte stream. Timing tests run on fake timers.
import { afterEach, describe, expect, it, vi } from "vitest";
import { errorPayload } from "../../src/errors.js";
import { ASSEMBLED_RELAY, AssembleTransform, ChatCompletionAssembler } from "../../src/stream/assemble.js";
import { ModelRewriter } from "../../src/stream/model-rewrite.js";
import { errorEvent, relay, type RelayOutcome } from "../../src/stream/relay.js";
import { SseDecoder } from "../../src/stream/sse-decoder.js";
import { endCheckFor } from "../../src/stream/stream-end.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const chunk = (content: string) => enc.encode(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }], model: "tiny" })}\n\n`);
const CHAT = endCheckFor("/v1/chat/completions");

afterEach(() => void vi.useRealTimers());

/** A host body that sends a chunk every `everyMs` until cancelled, and records the cancel. */
function endlessHost(everyMs: number) {
  const state = { cancelled: false, sent: 0 };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((r) => setTimeout(r, everyMs));
      controller.enqueue(chunk("x"));
      state.sent++;
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { body, state };
}

/** A host body that sends `parts` in order, then ends with `end`. */
function scriptedHost(parts: string[], end: "close" | "reset" | "silence" = "close") {
  const state = { cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = parts.shift();
      if (next !== undefined) return controller.enqueue(enc.encode(next));
      if (end === "close") controller.close();
      else if (end === "reset") controller.error(new Error("connection reset by peer"));
      else return new Promise(() => {});
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { body, state };
}

/** Every event of an SSE text, parsed the way a client parses it. */
function clientEvents(text: string) {
  const decoder = new SseDecoder();
  return [...decoder.push(enc.encode(text)), ...decoder.flush()];
}

/** A promise's value once it settled, without awaiting it (a read that must NOT have settled yet stays undefined). */
function track<T>(promise: Promise<T>) {
  const seen: { value?: T } = {};
  promise.then((v) => (seen.value = v));
  return seen;
}

describe("relay", () => {
  it("a client cancel cancels the host body at once and reports 'cancelled'", async () => {
    const host = endlessHost(2);
    const outcomes: string[] = [];
    const out = relay(host.body, { transform: new ModelRewriter("a/tiny"), idleMs: 5000, errorEvent: errorEvent("openai"), onEnd: (o) => outcomes.push(o.kind) });
    const reader = out.getReader();
    expect(dec.decode((await reader.read()).value)).toContain('"model":"a/tiny"');
    await reader.cancel();
    expect(host.state.cancelled).toBe(true);
    expect(outcomes).toEqual(["cancelled"]);
  });

  it("an aborted request signal cancels the host at once, even while the host is silent, and reports 'cancelled'", async () => {
    vi.useFakeTimers();
    const host = scriptedHost([new TextDecoder().decode(chunk("a"))], "silence");
    const client = new AbortController();
    const outcomes: RelayOutcome[] = [];
    const reader = relay(host.body, { transform: new ModelRewriter("a/tiny"), idleMs: 60_000, signal: client.signal, errorEvent: errorEvent("openai"), onEnd: (o) => outcomes.push(o) }).getReader();
    await reader.read();
    reader.read().catch(() => {}); // pending on the silent host
    client.abort();
    await vi.advanceTimersByTimeAsync(0); // lets the abort's consequences run; no time passes
    expect(host.state.cancelled).toBe(true);
    expect(outcomes.map((o) => o.kind)).toEqual(["cancelled"]);
  });

  it("an assembled (non-streaming) answer: spaces while tokens arrive, cancel reaches the host", async () => {
    const host = endlessHost(20);
    const out = relay(host.body, { transform: new AssembleTransform(new ChatCompletionAssembler(), "a/tiny"), idleMs: 5000, errorEvent: (e) => JSON.stringify(errorPayload(e)), ...ASSEMBLED_RELAY });
    const reader = out.getReader();
    const first = await reader.read();
    expect(dec.decode(first.value)).toBe(" ");
    await reader.cancel();
    expect(host.state.cancelled).toBe(true);
  });

  it("an assembled answer ends with the JSON after the spaces, which JSON.parse accepts", async () => {
    const events = ["data: " + JSON.stringify({ id: "c1", created: 5, model: "tiny", choices: [{ index: 0, delta: { role: "assistant", content: "Hel" } }] }) + "\n\n", "data: " + JSON.stringify({ model: "tiny", choices: [{ index: 0, delta: { content: "lo" }, finish_reason: "stop" }] }) + "\n\n", "data: [DONE]\n\n"];
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = events.shift();
        if (!next) return controller.close();
        await new Promise((r) => setTimeout(r, 300));
        controller.enqueue(enc.encode(next));
      },
    });
    const text = await new Response(relay(body, { transform: new AssembleTransform(new ChatCompletionAssembler(), "a/tiny"), idleMs: 5000, errorEvent: () => "", ...ASSEMBLED_RELAY })).text();
    expect(text.startsWith(" ")).toBe(true);
    expect(JSON.parse(text)).toEqual({ id: "c1", object: "chat.completion", created: 5, model: "a/tiny", choices: [{ index: 0, message: { role: "assistant", content: "Hello", refusal: null }, logprobs: null, finish_reason: "stop" }] });
  });

  it("an assembled answer gets a space every 250 ms while the host is silent, and the client leaving then cancels the host", async () => {
    vi.useFakeTimers();
    const host = scriptedHost([new TextDecoder().decode(chunk("a"))], "silence");
    const outcomes: string[] = [];
    const reader = relay(host.body, { transform: new AssembleTransform(new ChatCompletionAssembler(), "a/tiny"), idleMs: 60_000, errorEvent: () => "", onEnd: (o) => outcomes.push(o.kind), ...ASSEMBLED_RELAY }).getReader();
    const first = track(reader.read());
    await vi.advanceTimersByTimeAsync(249);
    expect(first.value).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(dec.decode(first.value?.value)).toBe(" ");
    const second = track(reader.read());
    await vi.advanceTimersByTimeAsync(250);
    expect(dec.decode(second.value?.value)).toBe(" ");
    await reader.cancel(new Error("client left"));
    expect(host.state.cancelled).toBe(true);
    expect(outcomes).toEqual(["cancelled"]);
  });

  it("an assembled answer whose client reads nothing is cut after idleMs although the host keeps streaming", async () => {
    vi.useFakeTimers();
    const host = endlessHost(20);
    const outcomes: string[] = [];
    relay(host.body, { transform: new AssembleTransform(new ChatCompletionAssembler(), "a/tiny"), idleMs: 1000, errorEvent: () => "", onEnd: (o) => outcomes.push(o.kind), ...ASSEMBLED_RELAY }); // never read
    await vi.advanceTimersByTimeAsync(1000);
    expect(outcomes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000); // the first space (250 ms) waits on the client from the next chunk on
    expect(outcomes).toEqual(["stalled"]);
    expect(host.state.cancelled).toBe(true);
  });

  it("an assembled answer reads a byte-stream host body (a fetch body) with BYOB reads, and loses nothing", async () => {
    const events = [
      `data: ${JSON.stringify({ id: "c1", created: 5, model: "tiny", choices: [{ index: 0, delta: { role: "assistant", content: null } }] })}\n\n`,
      ...Array.from({ length: 200 }, (_, i) => `data: ${JSON.stringify({ model: "tiny", choices: [{ index: 0, delta: { content: `t${i} ` } }] })}\n\n`),
      `data: ${JSON.stringify({ model: "tiny", choices: [{ index: 0, delta: {}, finish_reason: "length" }] })}\n\n`,
      "data: [DONE]\n\n",
    ];
    let pulls = 0;
    // A byte stream whose source answers each pull with one event, 1 ms apart, as a host writes token by token. In
    // workerd the reads also ask for a minimum (readAtLeast), so a fast host is read in a few batches; Node has none.
    const body = new ReadableStream({
      type: "bytes",
      async pull(controller) {
        pulls++;
        const next = events.shift();
        if (next === undefined) {
          controller.close();
          return controller.byobRequest?.respond(0);
        }
        await new Promise((r) => setTimeout(r, 1));
        const bytes = enc.encode(next);
        const byob = controller.byobRequest;
        if (byob?.view && byob.view.byteLength >= bytes.length) {
          new Uint8Array(byob.view.buffer, byob.view.byteOffset, bytes.length).set(bytes);
          byob.respond(bytes.length);
        } else controller.enqueue(bytes);
      },
    });
    const text = await new Response(relay(body, { transform: new AssembleTransform(new ChatCompletionAssembler(), "a/tiny"), idleMs: 5000, errorEvent: () => "", ...ASSEMBLED_RELAY })).text();
    expect(pulls).toBeGreaterThan(200);
    expect(JSON.parse(text).choices[0].message.content).toBe(Array.from({ length: 200 }, (_, i) => `t${i} `).join(""));
  });

  it("a host that goes silent mid-stream is cut exactly when idleMs has passed: its body is cancelled, one error event follows", async () => {
    vi.useFakeTimers();
    const host = scriptedHost([new TextDecoder().decode(chunk("a"))], "silence");
    const reader = relay(host.body, { transform: new ModelRewriter("a/tiny"), idleMs: 1000, errorEvent: errorEvent("openai") }).getReader();
    expect(dec.decode((await reader.read()).value)).toContain("a/tiny");
    const next = track(reader.read()); // pending: the host sends nothing more
    await vi.advanceTimersByTimeAsync(999);
    expect(host.state.cancelled).toBe(false);
    expect(next.value).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(host.state.cancelled).toBe(true);
    expect(next.value?.done).toBe(false);
    expect(JSON.parse(dec.decode(next.value!.value).slice(6)).error.code).toBe("upstream_idle_timeout");
    expect((await reader.read()).done).toBe(true);
  });

  it("a client that reads nothing for idleMs is cut, the host cancelled, and the outcome says 'stalled'", async () => {
    vi.useFakeTimers();
    const host = endlessHost(1);
    const outcomes: RelayOutcome[] = [];
    const out = relay(host.body, { transform: new ModelRewriter("a/tiny"), idleMs: 1000, errorEvent: errorEvent("openai"), onEnd: (o) => outcomes.push(o) });
    // Nobody reads `out`: the pipe takes one chunk, then every write waits on the client (backpressure).
    await vi.advanceTimersByTimeAsync(500);
    expect(host.state.cancelled).toBe(false);
    const sentBeforeStall = host.state.sent;
    await vi.advanceTimersByTimeAsync(1000);
    expect(host.state.cancelled).toBe(true);
    expect(host.state.sent).toBe(sentBeforeStall); // the host was not read while the client stalled
    expect(outcomes.map((o) => [o.kind, o.error?.code])).toEqual([["stalled", "client_stalled"]]);
    await expect(out.getReader().read()).rejects.toThrow(/read nothing for 1000 ms/);
  });

  it("the error event's write is timed too: a host that breaks while the client reads nothing still ends the relay", async () => {
    vi.useFakeTimers();
    const host = scriptedHost([dec.decode(chunk("a"))], "reset");
    const outcomes: RelayOutcome[] = [];
    relay(host.body, { transform: new ModelRewriter("a/tiny"), idleMs: 1000, errorEvent: errorEvent("openai"), onEnd: (o) => outcomes.push(o) });
    await vi.advanceTimersByTimeAsync(999); // nobody reads: the pipe holds the one chunk, the error event's write waits
    expect(outcomes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(outcomes.map((o) => [o.kind, o.error?.code])).toEqual([["stalled", "client_stalled"]]);
  });

  it("a slow client that keeps reading within idleMs is neither cut nor mistaken for a silent host", async () => {
    vi.useFakeTimers();
    const host = endlessHost(1);
    const outcomes: string[] = [];
    const reader = relay(host.body, { idleMs: 1000, errorEvent: errorEvent("openai"), onEnd: (o) => outcomes.push(o.kind) }).getReader();
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(900); // 9 s in all, far beyond idleMs, but never 1000 ms without a read
      expect(dec.decode((await reader.read()).value)).not.toContain("error");
    }
    expect(outcomes).toEqual([]);
    expect(host.state.cancelled).toBe(false);
    await reader.cancel();
  });

  it("a body that closes cleanly without the end marker ends with one error event and outcome 'error'", async () => {
    const host = scriptedHost([new TextDecoder().decode(chunk("a"))]);
    const outcomes: RelayOutcome[] = [];
    const text = await new Response(relay(host.body, { transform: new ModelRewriter("a/tiny"), idleMs: 5000, endCheck: CHAT, errorEvent: errorEvent("openai"), onEnd: (o) => outcomes.push(o) })).text();
    const events = clientEvents(text);
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[1]!.data).error).toMatchObject({ code: "upstream_stream_broken", message: expect.stringMatching(/ended before the answer was complete/) });
    expect(outcomes.map((o) => o.kind)).toEqual(["error"]);
  });

  it("a body that ends with the end marker is complete", async () => {
    const host = scriptedHost([new TextDecoder().decode(chunk("a")), "data: [DONE]\n\n"]);
    const outcomes: string[] = [];
    const text = await new Response(relay(host.body, { transform: new ModelRewriter("a/tiny"), idleMs: 5000, endCheck: CHAT, errorEvent: errorEvent("openai"), onEnd: (o) => outcomes.push(o.kind) })).text();
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(outcomes).toEqual(["complete"]);
  });

  it("the error event starts on an event boundary when the host breaks between an event's line and its blank line", async () => {
    const host = scriptedHost([new TextDecoder().decode(chunk("a")), 'data: {"model":"tiny","choices":[]}\n'], "reset");
    const text = await new Response(relay(host.body, { transform: new ModelRewriter("a/tiny"), idleMs: 5000, endCheck: CHAT, errorEvent: errorEvent("openai") })).text();
    const events = clientEvents(text);
    events.forEach((e) => expect(() => JSON.parse(e.data), e.data).not.toThrow());
    expect(events.map((e) => Object.keys(JSON.parse(e.data))[0])).toEqual(["choices", "error"]);
  });
});
