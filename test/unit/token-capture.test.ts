// The first host's stream when it may be continued: token ids and counts recorded, the members the client did not ask
// for cut on bytes, everything else exactly as relayed today; on real recorded llama-server streams, split anywhere.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TokenCapture, type CaptureOptions } from "../../src/continuation/token-capture.js";
import { findMember, lastFlatObjectEnd, logprobCount, memberCut, memberValueStart, keyBytes, readInt, readLogprobs, valueEnd } from "../../src/continuation/json-bytes.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const fixture = (name: string) => new Uint8Array(readFileSync(`test/fixtures/llama-server/${name}`));
const STRIP: CaptureOptions = { model: "p/tiny", stripLogprobs: true, stripTimings: true, keepText: false };

function run(bytes: Uint8Array, options: CaptureOptions = STRIP, cuts: number[] = []) {
  const capture = new TokenCapture(options);
  const out: string[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(dec.decode(capture.push(bytes.slice(from, cut))));
    from = cut;
  }
  out.push(dec.decode(capture.flush()));
  return { capture, text: out.join("") };
}

const events = (sse: string) => sse.split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)));

describe("token capture on the first host's stream", () => {
  it("records every id and the token count, and cuts logprobs and timings from token events only", () => {
    const input = fixture("chat-stream-ids.body");
    const { capture, text } = run(input);
    const before = events(dec.decode(input));
    const after = events(text);
    expect(after).toHaveLength(before.length);
    after.forEach((event, i) => {
      const expected = structuredClone(before[i]);
      expected.model = "p/tiny";
      if (expected.choices[0]?.logprobs) {
        delete expected.choices[0].logprobs;
        delete expected.timings;
      }
      expect(event).toEqual(expected);
    });
    // Byte for byte what a host asked for neither member sends (only the values differ between runs).
    expect(text).toContain('"delta":{"content":" in"}}],"created":');
    expect(text).not.toMatch(/"logprobs"|"top_logprobs"/);
    expect(text.match(/"timings"/g)).toHaveLength(1); // the usage chunk keeps the host's final figures
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    const generated = before.filter((e) => e.choices[0]?.logprobs).map((e) => e.choices[0].logprobs.content[0].id);
    expect(capture.ids).toEqual(generated);
    expect(capture).toMatchObject({ generated: 6, promptTokens: 26, cachedTokens: 25, finishReason: "length", sawUsage: true, sawDone: true, blocked: undefined, gaps: [] });
    expect(capture.identity).toEqual({ id: before[0].id, created: before[0].created, fingerprint: "b11669-Debian" });
    expect(capture.lastTimings()).toEqual(before.filter((e) => e.choices[0]?.logprobs).at(-1).timings);
  });

  it("gives the same bytes and the same record however the network splits the stream (every cut point)", () => {
    const input = fixture("chat-stream-ids.body");
    const whole = run(input);
    for (let cut = 1; cut < input.length; cut += 7) {
      const split = run(input, STRIP, [cut, Math.min(input.length, cut + 3)]);
      expect(split.text).toBe(whole.text);
      expect(split.capture.ids).toEqual(whole.capture.ids);
      expect(split.capture.generated).toBe(whole.capture.generated);
    }
  });

  it("leaves the client's own logprobs and timings in place, and still records the ids", () => {
    const input = fixture("chat-stream-ids.body");
    const { capture, text } = run(input, { model: "p/tiny", stripLogprobs: false, stripTimings: false, keepText: false });
    expect(text).toBe(dec.decode(input).replaceAll('"model":"tiny"', '"model":"p/tiny"'));
    expect(capture.ids).toHaveLength(6);
    expect(capture.blocked).toBeUndefined();
  });

  it("a character made of two tokens reports one id while the count grows by two: recorded as a gap with its text", () => {
    const { capture, text } = run(fixture("chat-stream-ids-utf8.body"));
    expect(capture.blocked).toBeUndefined();
    expect(capture.generated).toBe(8);
    expect(capture.ids).toHaveLength(7);
    expect(capture.gaps).toEqual([{ at: 2, reported: 1, missing: 1, text: "é" }]);
    expect(text).toContain('"delta":{"content":"é"}}]');
  });

  it("reasoning (text the host parses) turns the capture to chat mode and keeps the text sent, while the stream is still stripped", () => {
    const { capture, text } = run(fixture("chat-stream-ids-reasoning.body"));
    expect(capture).toMatchObject({ blocked: undefined, mode: "chat", generated: 4, ids: [289, 361, 321, 300] });
    expect(capture.sentText()).toEqual({ reasoning: "3on hell'", content: "" });
    expect(text).toContain('"delta":{"reasoning_content":"3"}}]');
    expect(text).not.toContain('"logprobs"');
  });

  it("keepText (a request with tools) keeps the content sent, escapes and multi-byte characters included, however it is split", () => {
    const events = [
      sseHead(),
      ...['a\\"b', "\\n", "é"].map(
        (piece, i) => `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"${piece}"},"logprobs":{"content":[{"id":${10 + i}}]}}],"id":"x","model":"tiny","timings":{"cache_n":0,"prompt_n":3,"predicted_n":${i + 1}}}\n\n`,
      ),
    ].join("");
    const bytes = enc.encode(events);
    for (const cuts of [[], [17, 18, 200, 201], [bytes.length - 3]]) {
      const { capture } = run(bytes, { ...STRIP, keepText: true }, cuts);
      expect(capture.mode).toBe("chat");
      expect(capture.sentText()).toEqual({ reasoning: "", content: 'a"b\né' });
    }
  });

  it("reasoning after text that was captured for /completion ends the capture", () => {
    const token = (delta: string, n: number) => `data: {"choices":[{"finish_reason":null,"index":0,"delta":{${delta}},"logprobs":{"content":[{"id":${n}}]}}],"id":"x","timings":{"cache_n":0,"prompt_n":3,"predicted_n":${n}}}\n\n`;
    const { capture } = run(enc.encode(sseHead() + token('"content":"a"', 1) + token('"reasoning_content":"b"', 2)));
    expect(capture.blocked).toMatch(/reasoning after text/);
  });

  it("a tool call in flight ends the capture", () => {
    const tool = `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{\\"a"}}]},"logprobs":{"content":[{"id":5,"token":"x","bytes":[120],"logprob":-1,"top_logprobs":[]}]}}],"created":1,"id":"x","model":"tiny","object":"chat.completion.chunk","timings":{"cache_n":0,"prompt_n":3,"predicted_n":1}}\n\n`;
    const { capture, text } = run(enc.encode(sseHead() + tool));
    expect(capture.blocked).toMatch(/tool call/);
    expect(JSON.parse(text.split("\n\n")[1]!.slice(6)).choices[0].delta.tool_calls[0].function.arguments).toBe('{"a');
  });

  it.each([
    ["a token event without ids", `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"a"}}],"id":"x","timings":{"predicted_n":1}}\n\n`, /without token ids/],
    ["a token event without counts", `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"id":5}]}}],"id":"x"}\n\n`, /without token counts/],
    ["more ids than tokens", `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"ab"},"logprobs":{"content":[{"id":5},{"id":6}]}}],"id":"x","timings":{"cache_n":0,"prompt_n":3,"predicted_n":1}}\n\n`, /more token ids/],
    ["an unterminated logprobs value", `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"id":5,"token":"a}]}}],"id":"x"}\n\n`, /unreadable/],
    ["an id that is not an integer", `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"id":5.5}]}}],"id":"x","timings":{"cache_n":0,"prompt_n":3,"predicted_n":1}}\n\n`, /unreadable/],
  ])("%s ends the capture, never the stream", (_name, event, reason) => {
    const { capture, text } = run(enc.encode(sseHead() + event + "data: [DONE]\n\n"));
    expect(capture.blocked).toMatch(reason);
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  it("text without ids (a host that ignored n_probs, as the plain recorded stream) ends the capture", () => {
    const { capture, text } = run(fixture("chat-stream.body"));
    expect(capture.blocked).toMatch(/without token ids/);
    expect(text).toBe(dec.decode(fixture("chat-stream.body")).replaceAll('"model":"tiny"', '"model":"p/tiny"'));
  });

  it("a first event without id and created ends the capture", () => {
    const { capture } = run(enc.encode('data: {"choices":[]}\n\ndata: [DONE]\n\n'));
    expect(capture.blocked).toMatch(/first event/);
  });

  it("more characters to repair than the bound ends the capture", () => {
    let body = sseHead();
    for (let i = 1; i <= 70; i++) {
      body += `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"é"},"logprobs":{"content":[{"id":172}]}}],"id":"x","timings":{"cache_n":0,"prompt_n":3,"predicted_n":${2 * i}}}\n\n`;
    }
    const { capture } = run(enc.encode(body));
    expect(capture.blocked).toMatch(/more than 64 characters/);
    expect(capture.gaps).toHaveLength(64);
  });

  it("a half-sent event at the end is an error (as in the model rewrite), so a break is seen", () => {
    const capture = new TokenCapture(STRIP);
    capture.push(enc.encode(sseHead() + 'data: {"choices":[{"finish'));
    expect(() => capture.flush()).toThrow(/middle of an event/);
  });
});

describe("JSON on bytes", () => {
  const b = (s: string) => enc.encode(s);

  it("finds a member by name, never text inside a string", () => {
    const bytes = b('{"content":"say \\"logprobs\\": here","logprobs" : {"a":1}}');
    const at = findMember(bytes, keyBytes("logprobs"), 0, bytes.length);
    expect(dec.decode(bytes.subarray(at, at + 10))).toBe('"logprobs"');
    expect(dec.decode(bytes.subarray(memberValueStart, valueEnd(bytes, memberValueStart, bytes.length)))).toBe('{"a":1}');
  });

  it("an anchor letter finds the same member as the first letter, at the start of the data and past decoys", () => {
    const bytes = b('{"predicted":1,"x":"\\"predicted_n\\":9","predicted_n":42}');
    for (const key of [keyBytes("predicted_n"), keyBytes("predicted_n", "d"), keyBytes("predicted_n", "_")]) {
      expect(findMember(bytes, key, 0, bytes.length)).toBe(bytes.length - 17);
      expect(readInt(bytes, memberValueStart, bytes.length)).toBe(42);
    }
    const start = b('"logprobs":1');
    expect(findMember(start, keyBytes("logprobs", "b"), 0, start.length)).toBe(0);
    expect(() => keyBytes("usage", "z")).toThrow(/anchor/);
  });

  it("value ends: objects with strings holding brackets and escapes, arrays, numbers, literals", () => {
    const text = '{"a":"}\\"]","b":[1,{"c":"["}],"d":-12,"e":null}';
    const bytes = b(text);
    expect(valueEnd(bytes, 0, bytes.length)).toBe(text.length);
    expect(valueEnd(b('[1,2'), 0, 4)).toBe(-1);
    expect(valueEnd(b('"abc'), 0, 4)).toBe(-1);
    expect(valueEnd(b("123,"), 0, 4)).toBe(3);
  });

  it("the last flat object of an event ends where the event's next to last brace is; otherwise the general scan", () => {
    const event = (timings: string) => b(`data: {"a":1,"timings":${timings}}\n\n`);
    const end = (bytes: Uint8Array) => lastFlatObjectEnd(bytes, dec.decode(bytes).indexOf('"timings":') + 10, bytes.length);
    const flat = event('{"x":1,"y":2.5}');
    expect(end(flat)).toBe(flat.length - 3);
    const nested = event('{"x":{"y":1},"z":2}');
    expect(dec.decode(nested.subarray(dec.decode(nested).indexOf('"timings":') + 10, end(nested)))).toBe('{"x":{"y":1},"z":2}');
    const braceInString = event('{"x":"}","y":1}');
    expect(dec.decode(braceInString.subarray(dec.decode(braceInString).indexOf('"timings":') + 10, end(braceInString)))).toBe('{"x":"}","y":1}');
    const notLast = b('data: {"timings":{"x":1},"b":{"c":2}}\n\n');
    expect(dec.decode(notLast.subarray(17, lastFlatObjectEnd(notLast, 17, notLast.length)))).toBe('{"x":1}');
  });

  it("reads integers only", () => {
    expect(readInt(b("42,"), 0, 3)).toBe(42);
    expect(readInt(b("-7}"), 0, 3)).toBe(-7);
    expect(readInt(b("4.5"), 0, 3)).toBeUndefined();
    expect(readInt(b("1e3"), 0, 3)).toBeUndefined();
    expect(readInt(b("x"), 0, 1)).toBeUndefined();
  });

  it("cuts a member with the comma before it, or after it when it comes first", () => {
    const middle = b('{"a":1,"k":{"x":2},"b":3}');
    const k = findMember(middle, keyBytes("k"), 0, middle.length);
    expect(memberCut(middle, k, valueEnd(middle, memberValueStart, middle.length), middle.length)).toEqual([6, 18]);
    const first = b('{"k":[1] , "b":3}');
    const f = findMember(first, keyBytes("k"), 0, first.length);
    expect(memberCut(first, f, valueEnd(first, memberValueStart, first.length), first.length)).toEqual([1, 10]);
    const only = b('{"k":1}');
    const o = findMember(only, keyBytes("k"), 0, only.length);
    expect(memberCut(only, o, valueEnd(only, memberValueStart, only.length), only.length)).toBeUndefined();
  });

  it("logprob ids: the entries' ids, not their candidates', and the end of the object in the same pass", () => {
    const text = '{"content":[{"id":5,"token":"\\"id\\":9}","top_logprobs":[{"id":7}]},{"token":"x","id":6}]}';
    const bytes = b(text + ',"more":1}');
    const ids: number[] = [];
    expect(readLogprobs(bytes, 0, bytes.length, ids)).toBe(text.length);
    expect([logprobCount, ids]).toEqual([2, [5, 6]]);
    expect(readLogprobs(b('[1]'), 0, 3, ids)).toBe(-1);
    expect(readLogprobs(b('{"content":[{"id":-1}]}'), 0, 22, ids)).toBe(-1);
  });
});

function sseHead() {
  return 'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1,"id":"chatcmpl-1","model":"tiny","object":"chat.completion.chunk"}\n\n';
}
