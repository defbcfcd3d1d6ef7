// The relay's own contract, outside workerd: cancellation reaches the host body, an idle host is cut with one error
// event, and the assembling transform writes heartbeats then the JSON.
import { describe, expect, it } from "vitest";
import { errorPayload } from "../../src/errors.js";
import { AssembleTransform, ChatCompletionAssembler } from "../../src/stream/assemble.js";
import { ModelRewriter } from "../../src/stream/model-rewrite.js";
import { errorEvent, relay } from "../../src/stream/relay.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const chunk = (content: string) => enc.encode(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }], model: "tiny" })}\n\n`);

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

  it("an assembled (non-streaming) answer: spaces while tokens arrive, cancel reaches the host", async () => {
    const host = endlessHost(20);
    const out = relay(host.body, { transform: new AssembleTransform(new ChatCompletionAssembler(), "a/tiny"), idleMs: 5000, errorEvent: (e) => JSON.stringify(errorPayload(e)) });
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
    const text = await new Response(relay(body, { transform: new AssembleTransform(new ChatCompletionAssembler(), "a/tiny"), idleMs: 5000, errorEvent: () => "" })).text();
    expect(text.startsWith(" ")).toBe(true);
    expect(JSON.parse(text)).toEqual({ id: "c1", object: "chat.completion", created: 5, model: "a/tiny", choices: [{ index: 0, message: { role: "assistant", content: "Hello", refusal: null }, logprobs: null, finish_reason: "stop" }] });
  });

  it("a silent host is cut after idleMs: its body is cancelled and the client gets one error event", async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk("a"));
      },
      cancel() {
        cancelled = true;
      },
    });
    const text = await new Response(relay(body, { transform: new ModelRewriter("a/tiny"), idleMs: 100, errorEvent: errorEvent("openai") })).text();
    expect(cancelled).toBe(true);
    const events = text.trim().split("\n\n");
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[1]!.slice(6)).error.code).toBe("upstream_idle_timeout");
  });

  it("a slow client is not mistaken for a silent host", async () => {
    const host = endlessHost(1);
    const reader = relay(host.body, { idleMs: 50, errorEvent: errorEvent("openai") }).getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 200)); // the client reads nothing for 4 idle periods
    const next = dec.decode((await reader.read()).value);
    expect(next).not.toContain("error");
    await reader.cancel();
  });
});
