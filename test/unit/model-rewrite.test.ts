import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ModelRewriter, rewriteModelValues } from "../../src/stream/model-rewrite.js";
import { MAX_EVENT_BYTES } from "../../src/stream/sse-frames.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const fixture = (name: string) => new Uint8Array(readFileSync(`test/fixtures/llama-server/${name}`));
const literal = (s: string) => enc.encode(JSON.stringify(s));
const rewrite = (text: string, model = "gpu/tiny") => dec.decode(rewriteModelValues(enc.encode(text), literal(model)));

/** Feeds `bytes` through a rewriter in pieces cut at `cuts`. */
function streamThrough(bytes: Uint8Array, cuts: number[], model = "gpu/tiny"): string {
  const rw = new ModelRewriter(model);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(rw.push(bytes.slice(from, cut)));
    from = cut;
  }
  out.push(rw.flush());
  return out.map((b) => dec.decode(b)).join("");
}

const dataEvents = (sse: string) =>
  sse.split("\n\n").flatMap((event) => event.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6))));

describe("model rewrite on bytes", () => {
  it("rewrites every chunk of a recorded chat stream and changes nothing else", () => {
    const original = dec.decode(fixture("chat-stream.body"));
    const out = streamThrough(fixture("chat-stream.body"), []);
    const before = dataEvents(original);
    const after = dataEvents(out);
    expect(after).toHaveLength(before.length);
    after.forEach((event, i) => expect(event).toEqual({ ...before[i], model: "gpu/tiny" }));
    expect(out.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  it("gives the same output however the network splits the stream (every cut point)", () => {
    const bytes = fixture("chat-stream.body");
    const whole = streamThrough(bytes, []);
    for (let cut = 1; cut < bytes.length; cut += 7) expect(streamThrough(bytes, [cut]), `cut at ${cut}`).toBe(whole);
    const everyByte = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    expect(streamThrough(bytes, everyByte)).toBe(whole);
  });

  it("rewrites the nested model of Anthropic and Responses streams", () => {
    const messages = streamThrough(fixture("messages-stream.body"), [100, 333]);
    expect(dataEvents(messages).find((e) => e.type === "message_start").message.model).toBe("gpu/tiny");
    const responses = streamThrough(fixture("responses-stream.body"), [50]);
    expect(dataEvents(responses).find((e) => e.type === "response.completed").response.model).toBe("gpu/tiny");
    expect(responses).not.toContain('"model":"tiny"');
  });

  it("leaves strings that merely mention model alone", () => {
    const text = '{"model":"tiny","choices":[{"delta":{"content":"the \\"model\\":\\"x\\" key","tool_calls":[{"function":{"arguments":"{\\"model\\":\\"y\\"}"}}]}}]}\n';
    const out = JSON.parse(rewrite(text));
    expect(out.model).toBe("gpu/tiny");
    expect(out.choices[0].delta.content).toBe('the "model":"x" key');
    expect(out.choices[0].delta.tool_calls[0].function.arguments).toBe('{"model":"y"}');
  });

  it("handles escaped quotes and unicode in the old value, spacing around ':', and non-string models", () => {
    expect(JSON.parse(rewrite('{"model" : "we\\"ird\\\\"}'))).toEqual({ model: "gpu/tiny" });
    expect(JSON.parse(rewrite('{"model":"modèle-ü"}'))).toEqual({ model: "gpu/tiny" });
    expect(rewrite('{"model":null,"x":{"model":7}}')).toBe('{"model":null,"x":{"model":7}}');
  });

  it("writes a composite id that itself needs escaping correctly", () => {
    expect(JSON.parse(rewrite('{"model":"a"}', 'r/org/x"y:Q4'))).toEqual({ model: 'r/org/x"y:Q4' });
  });

  it("returns the same buffer when there is nothing to rewrite (no copy on the hot path)", () => {
    const bytes = enc.encode('data: {"choices":[]}\n\n');
    expect(rewriteModelValues(bytes, literal("x"))).toBe(bytes);
  });

  it("holds an unfinished event until its blank line arrives; a half event at the end is an error, never passed on", () => {
    const rw = new ModelRewriter("gpu/tiny");
    expect(rw.push(enc.encode('data: {"mod')).length).toBe(0);
    expect(dec.decode(rw.push(enc.encode('el":"tiny"}\n\ndata: {"model":"t')))).toBe('data: {"model":"gpu/tiny"}\n\n');
    expect(dec.decode(rw.push(enc.encode('iny"}')))).toBe("");
    expect(() => rw.flush()).toThrow(expect.objectContaining({ code: "upstream_stream_broken" }));
    const blankEnd = new ModelRewriter("gpu/tiny");
    blankEnd.push(enc.encode("data: [DONE]\n\n\n"));
    expect(blankEnd.flush().length).toBe(0);
  });

  it("releases whole events only: an event's data line is held until its blank line, even split across chunks", () => {
    const rw = new ModelRewriter("gpu/tiny");
    expect(dec.decode(rw.push(enc.encode('data: {"model":"tiny"}\n')))).toBe("");
    expect(dec.decode(rw.push(enc.encode("\n")))).toBe('data: {"model":"gpu/tiny"}\n\n');
    expect(dec.decode(rw.push(enc.encode('event: x\r\ndata: {"model":"tiny"}\r\n')))).toBe("");
    expect(dec.decode(rw.push(enc.encode("\r\n")))).toBe('event: x\r\ndata: {"model":"gpu/tiny"}\r\n\r\n');
  });

  it("rewrites an event over 1 MiB that arrives in many chunks (the host's model never passes through)", () => {
    const event = enc.encode(`data: {"model":"tiny","choices":[{"delta":{"content":"${"x".repeat(3 << 20)}"}}]}\n\n`);
    const cuts = Array.from({ length: Math.floor(event.length / 65536) }, (_, i) => (i + 1) * 65536);
    const out = streamThrough(event, cuts);
    expect(out.startsWith('data: {"model":"gpu/tiny","choices"')).toBe(true);
    expect(out).not.toContain('"model":"tiny"');
  });

  it("ends the stream with an error on an event longer than MAX_EVENT_BYTES instead of passing it on", () => {
    const rw = new ModelRewriter("gpu/tiny");
    const piece = enc.encode("x".repeat(1 << 20));
    let out = "";
    const feed = () => {
      out += dec.decode(rw.push(enc.encode('data: {"model":"tiny","content":"')));
      for (let i = 0; i <= MAX_EVENT_BYTES >> 20; i++) out += dec.decode(rw.push(piece));
    };
    expect(feed).toThrow(expect.objectContaining({ status: 502, code: "upstream_event_too_large" }));
    expect(out).toBe("");
  });

  it("copies each byte of a long event a bounded number of times, however many chunks it comes in (not quadratic)", () => {
    // One 1,000,000-byte event in 1,000 chunks: joining the held chunks once is ~1 MB of copying; re-joining the
    // whole pending buffer on every chunk (the old way) is ~500 MB.
    const chunks = Array.from({ length: 1000 }, () => enc.encode("x".repeat(1000)));
    chunks[0] = enc.encode('data: {"model":"tiny","x":"' + "x".repeat(1000 - 28));
    chunks.push(enc.encode('"}\n\n'));
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const set = Uint8Array.prototype.set;
    let copied = 0;
    Uint8Array.prototype.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
      copied += source.length;
      return set.call(this, source, offset);
    };
    let out: Uint8Array[] = [];
    try {
      const rw = new ModelRewriter("gpu/tiny");
      out = chunks.map((c) => rw.push(c));
    } finally {
      Uint8Array.prototype.set = set;
    }
    expect(dec.decode(out.at(-1)!).startsWith('data: {"model":"gpu/tiny","x":"xxx')).toBe(true);
    expect(copied).toBeLessThanOrEqual(3 * total);
  });
});
