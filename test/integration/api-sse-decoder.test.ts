// The Arena's SSE decoder (src/stream/sse-decoder.ts), a pure module, run here in workerd where it runs for real:
// every split of the input between chunks gives the same events (openai-node's tests/streaming.test.ts idea).
import { describe, expect, it } from "vitest";
import chatStream from "../fixtures/llama-server/chat-stream.body?raw";
import { SseDecoder, type SseEvent } from "../../src/stream/sse-decoder.js";

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

  it("refuses a line beyond 4 MiB instead of holding it", () => {
    const d = new SseDecoder();
    const chunk = enc.encode("x".repeat(1 << 20));
    expect(() => {
      for (let i = 0; i < 5; i++) d.push(chunk);
    }).toThrow(/longer than/);
  });
});
