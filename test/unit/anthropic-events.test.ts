// A chat stream written as Anthropic events: recorded llama-server chat streams in, the event sequence llama-server's
// own /v1/messages writes out (messages-stream fixture), blocks closed in order, nothing whole without the finish.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AnthropicEvents } from "../../src/anthropic/events.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/llama-server/${name}`, import.meta.url), "utf8");
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Runs `chunks` through the writer, one push each, and parses what comes out. */
function translate(chunks: string[], model = "a/tiny") {
  const writer = new AnthropicEvents(model);
  const text = chunks.map((c) => dec.decode(writer.push(enc.encode(c)))).join("") + dec.decode(writer.flush());
  const events = text.split("\n\n").filter(Boolean).map((block) => {
    const [eventLine, dataLine] = block.split("\n");
    const data = JSON.parse(dataLine!.slice(6));
    expect(eventLine).toBe(`event: ${data.type}`);
    return data;
  });
  return { writer, events };
}

const chunk = (delta: unknown, extra: Record<string, unknown> = {}) => `data: ${JSON.stringify({ id: "chatcmpl-1", created: 1, model: "tiny", object: "chat.completion.chunk", choices: [{ index: 0, finish_reason: null, delta }], ...extra })}\n\n`;
const finish = (reason: string) => `data: ${JSON.stringify({ id: "chatcmpl-1", choices: [{ index: 0, finish_reason: reason, delta: {} }] })}\n\n`;
const usage = (completion: number) => `data: ${JSON.stringify({ id: "chatcmpl-1", choices: [], usage: { completion_tokens: completion, prompt_tokens: 30, total_tokens: 30 + completion, prompt_tokens_details: { cached_tokens: 20 } }, timings: { cache_n: 20, prompt_n: 10, predicted_n: completion } })}\n\n`;
const timings = { cache_n: 20, prompt_n: 10, predicted_n: 1 };
const DONE = "data: [DONE]\n\n";

describe("AnthropicEvents", () => {
  it("a recorded plain chat stream becomes llama-server's own event sequence, split anywhere", () => {
    const body = fixture("chat-stream-ids.body");
    const whole = translate([body]).events;
    // One byte at a time gives the same events.
    expect(translate([...body].map((c) => c)).events).toEqual(whole);
    const text = JSON.parse(body.split("\n\n").find((e) => e.includes('"content":"l"'))!.slice(6)).id;
    expect(whole.map((e) => e.type)).toEqual(["message_start", "content_block_start", ...Array(6).fill("content_block_delta"), "content_block_stop", "message_delta", "message_stop"]);
    expect(whole[0]).toEqual({
      type: "message_start",
      message: { id: text, type: "message", role: "assistant", content: [], model: "a/tiny", stop_reason: null, stop_sequence: null, usage: { cache_read_input_tokens: 25, input_tokens: 1, output_tokens: 0 } },
    });
    expect(whole[1]).toEqual({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
    expect(whole[2]).toEqual({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "l" } });
    expect(whole.at(-2)).toEqual({ type: "message_delta", delta: { stop_reason: "max_tokens", stop_sequence: null }, usage: { output_tokens: 6 } });
    // The same shapes as the recorded /v1/messages stream of the same server.
    const native = fixture("messages-stream.body").split("\n\n").filter(Boolean).map((b) => JSON.parse(b.split("\n")[1]!.slice(6)));
    expect(whole.map((e) => e.type)).toEqual(native.map((e) => e.type).slice(0, 2).concat(Array(6).fill("content_block_delta"), native.map((e) => e.type).slice(-3)));
    expect(Object.keys(whole[0].message)).toEqual(Object.keys(native[0].message));
    expect(Object.keys(whole[0].message.usage)).toEqual(Object.keys(native[0].message.usage));
  });

  it("reasoning, then text, then two tool calls: one block each, each closed (thinking with a signature) before the next", () => {
    const { events, writer } = translate([
      chunk({ role: "assistant", content: null }),
      chunk({ reasoning_content: "think" }, { timings }),
      chunk({ reasoning_content: "ing" }),
      chunk({ content: "ok" }),
      chunk({ tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "ls", arguments: "" } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: "1}" } }] }),
      chunk({ tool_calls: [{ index: 1, id: "c2", type: "function", function: { name: "pwd", arguments: "{}" } }] }),
      finish("tool_calls"),
      usage(9),
      DONE,
    ]);
    expect(events.slice(1)).toEqual([
      { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "" } },
      { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "think" } },
      { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "ing" } },
      { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "" } },
      { type: "content_block_stop", index: 0 },
      { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } },
      { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "ok" } },
      { type: "content_block_stop", index: 1 },
      { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "c1", name: "ls", input: {} } },
      { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: '{"a":' } },
      { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: "1}" } },
      { type: "content_block_stop", index: 2 },
      { type: "content_block_start", index: 3, content_block: { type: "tool_use", id: "c2", name: "pwd", input: {} } },
      { type: "content_block_delta", index: 3, delta: { type: "input_json_delta", partial_json: "{}" } },
      { type: "content_block_stop", index: 3 },
      { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 9 } },
      { type: "message_stop" },
    ]);
    expect(events[0].message.usage).toEqual({ cache_read_input_tokens: 20, input_tokens: 10, output_tokens: 0 });
    expect(writer.final.usage).toMatchObject({ completion_tokens: 9, prompt_tokens: 30 });
  });

  it("finish reasons: stop is end_turn, length is max_tokens", () => {
    expect(translate([chunk({ content: "a" }, { timings }), finish("stop"), DONE]).events.at(-2).delta.stop_reason).toBe("end_turn");
    expect(translate([chunk({ content: "a" }, { timings }), finish("length"), DONE]).events.at(-2).delta.stop_reason).toBe("max_tokens");
  });

  it("no message_stop without the finish and [DONE]: a chat stream that ends early ends the Anthropic one early", () => {
    expect(translate([chunk({ content: "a" }, { timings }), chunk({ content: "b" })]).events.map((e) => e.type)).toEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta"]);
    expect(translate([chunk({ content: "a" }, { timings }), DONE]).events.map((e) => e.type)).not.toContain("message_stop");
    expect(translate([chunk({ content: "a" }, { timings }), finish("stop")]).events.map((e) => e.type)).not.toContain("message_stop");
  });

  it("the host's own error event becomes Anthropic's error event, and nothing follows it", () => {
    const error = `data: ${JSON.stringify({ error: { code: 500, message: "the slot died", type: "server_error" } })}\n\n`;
    const { events } = translate([chunk({ content: "a" }, { timings }), error, finish("stop"), DONE]);
    expect(events.at(-1)).toEqual({ type: "error", error: { type: "api_error", message: "the slot died" } });
    expect(events.map((e) => e.type)).not.toContain("message_stop");
  });

  it("an answer with no content still opens and closes the message", () => {
    const { events } = translate([chunk({ role: "assistant", content: null }, { timings }), finish("stop"), usage(1), DONE]);
    expect(events.map((e) => e.type)).toEqual(["message_start", "message_delta", "message_stop"]);
  });
});
