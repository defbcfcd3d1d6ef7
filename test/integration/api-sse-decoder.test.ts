// The Arena's SSE decoder (src/stream/sse-decoder.ts), a pure module, run here in workerd where it runs for real:
// every split of the input between chunks gives the same events (openai-node's tests/streaming.test.ts idea).
import { describe, expect, it } from "vitest";
import chatStream from "../fixtures/llama-server/chat-stream.body?raw";
import { SseDecoder, type SseEvent } from "../../src/stream/sse-decoder.js";
import { MAX_EVENT_BYTES } from "../../src/stream/sse-frames.js";

const enc = new TextEncoder();

function decode(chunks: (string | Uint8Array)[]): SseEvent[] {
  const d = new SseDecoder();
  const out = chunks.flatMap((c) => d.push(typeof c === "string" ? enc.encode(c) : c));
  return [...out, ...d.flush()];
}

/** Every way of cutting `bytes` in two, and byte by byte. */
function everySplit(text: string): Uint8Array[][] {
  const bytes = enc.encode(text);
  const cuts = Array.from({ length: bytes.length + 1 }, (_, i) => [bytes.slice(0, i), bytes.slice(i)]);
  return [...cuts, Array.from(bytes, (b) => Uint8Array.of(b))];
}

describe("SseDecoder", () => {
  it("reads llama-server's recorded chat stream into its events", () => {
    const events = decode([chatStream]);
    expect(events).toHaveLength(8);
    expect(events.every((e) => e.event === "message")).toBe(true);
    expect(JSON.parse(events[0]!.data).choices[0].delta.role).toBe("assistant");
    expect(events.at(-1)!.data).toBe("[DONE]");
  });

  it("gives the same events however the bytes are split, CRLF pairs and multi-byte characters included", () => {
    const text = 'event: chunk\r\ndata: {"a":"é€😀"}\r\n\r\n: keep-alive\r\n\r\ndata: one\rdata: two\r\rid: 7\ndata:x\n\n';
    const expected: SseEvent[] = [
      { event: "chunk", data: '{"a":"é€😀"}' },
      { event: "message", data: "one\ntwo" },
      { event: "message", data: "x", id: "7" },
    ];
    for (const chunks of everySplit(text)) expect(decode(chunks)).toEqual(expected);
  });

  it("follows the spec's field rules: one leading space stripped, a bare field name, comments and unknown fields ignored", () => {
    expect(decode(["data:  two spaces\ndata\nretry: 10\nfoo: bar\n:comment\n\n"])).toEqual([{ event: "message", data: " two spaces\n" }]);
  });

  it("dispatches nothing for a block without data, and drops an event the stream never closed", () => {
    expect(decode(["event: ping\n\n", "data: half"])).toEqual([]);
    expect(decode(['data: {"x":1}\n'])).toEqual([]);
  });

  it("keeps a long line across many chunks", () => {
    const long = "x".repeat(100_000);
    const text = `data: ${long}\n\n`;
    const chunks = text.match(/[\s\S]{1,1000}/g)!;
    expect(decode(chunks)).toEqual([{ event: "message", data: long }]);
  });

  it("refuses an event beyond MAX_EVENT_BYTES, one long line or many short data lines, with a clear error", () => {
    const line = new SseDecoder();
    const mib = enc.encode("x".repeat(1 << 20));
    expect(() => {
      for (let i = 0; i <= MAX_EVENT_BYTES >> 20; i++) line.push(mib);
    }).toThrow(expect.objectContaining({ status: 502, code: "upstream_event_too_large", message: expect.stringMatching(/event longer than/) }));
    const lines = new SseDecoder();
    const dataLine = enc.encode(`data: ${"x".repeat((1 << 20) - 7)}\n`);
    expect(() => {
      for (let i = 0; i <= MAX_EVENT_BYTES >> 20; i++) lines.push(dataLine);
    }).toThrow(expect.objectContaining({ code: "upstream_event_too_large" }));
  });

  it("decodes a long line arriving in many chunks with work proportional to its bytes: joined once, decoded once", () => {
    const text = `data: ${"é".repeat(250_000)}\n\n`;
    const bytes = enc.encode(text);
    const chunks = Array.from({ length: Math.ceil(bytes.length / 499) }, (_, i) => bytes.slice(i * 499, (i + 1) * 499)); // cuts inside "é" too
    const set = Uint8Array.prototype.set;
    const textDecode = TextDecoder.prototype.decode;
    let copied = 0;
    let decoded = 0;
    Uint8Array.prototype.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
      copied += source.length;
      return set.call(this, source, offset);
    };
    TextDecoder.prototype.decode = function (this: TextDecoder, ...args: Parameters<TextDecoder["decode"]>) {
      decoded += (args[0] as ArrayBufferView | undefined)?.byteLength ?? 0;
      return textDecode.apply(this, args);
    };
    let events: SseEvent[];
    try {
      events = decode(chunks);
    } finally {
      Uint8Array.prototype.set = set;
      TextDecoder.prototype.decode = textDecode;
    }
    expect(events).toEqual([{ event: "message", data: "é".repeat(250_000) }]);
    expect(copied).toBeLessThanOrEqual(bytes.length);
    expect(decoded).toBeLessThanOrEqual(bytes.length);
  });
});
