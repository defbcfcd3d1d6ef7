// A request's conversation as cumulative prefix hashes, for the chat, Anthropic, Responses and completions shapes.
import { describe, expect, it } from "vitest";
import { EMPTY_CHAIN, prefixChain, spreadKey } from "../../src/routing/index.js";
import { TOOLS, chatBody } from "../helpers/routing-fakes.js";

describe("prefix chain of a chat request", () => {
  it("has one cumulative hash per message; a later turn starts with the earlier turn's hashes", () => {
    const first = prefixChain("chat", chatBody("c1", 1));
    const third = prefixChain("chat", chatBody("c1", 3));
    expect(first.hashes).toHaveLength(2);
    expect(third.hashes).toHaveLength(6);
    expect(third.hashes.slice(0, 2)).toEqual(first.hashes);
    expect(new Set(third.hashes).size).toBe(6);
    expect(third.chars.every((c, i) => i === 0 || c > third.chars[i - 1]!)).toBe(true);
    expect(third.totalChars).toBe(third.chars[5]);
  });

  it("puts the tools in the first block: other tools change every hash", () => {
    const body = chatBody("c1", 2);
    const other = { ...body, tools: [{ ...TOOLS[0], function: { ...TOOLS[0]!.function, name: "write" } }] };
    const a = prefixChain("chat", body);
    const b = prefixChain("chat", other);
    expect(b.hashes.some((h, i) => h === a.hashes[i])).toBe(false);
    const without = prefixChain("chat", { ...body, tools: undefined });
    expect(without.hashes[0]).not.toBe(a.hashes[0]);
  });

  it("a changed message changes its own hash and every later one, not the earlier ones", () => {
    const body = chatBody("c1", 3);
    const edited = structuredClone(body);
    edited.messages[2]!.content += "!";
    const a = prefixChain("chat", body);
    const b = prefixChain("chat", edited);
    expect(b.hashes.slice(0, 2)).toEqual(a.hashes.slice(0, 2));
    expect(b.hashes.slice(2).some((h, i) => h === a.hashes[i + 2])).toBe(false);
  });

  it("keeps value boundaries: ['ab','c'] and ['a','bc'] differ, and so do role and tool calls", () => {
    const parts = (x: string, y: string) => prefixChain("chat", { messages: [{ role: "user", content: [{ type: "text", text: x }, { type: "text", text: y }] }] });
    expect(parts("ab", "c").hashes[0]).not.toBe(parts("a", "bc").hashes[0]);
    const asRole = (role: string) => prefixChain("chat", { messages: [{ role, content: "hi" }] }).hashes[0];
    expect(asRole("user")).not.toBe(asRole("assistant"));
    const call = (args: string) => prefixChain("chat", { messages: [{ role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "read", arguments: args } }] }] }).hashes[0];
    expect(call('{"path":"a"}')).not.toBe(call('{"path":"b"}'));
  });

  it("long texts (hashed as UTF-8 words) differ by one character anywhere, odd lengths and non-ASCII included", () => {
    const hashOf = (text: string) => prefixChain("completions", { prompt: text }).hashes[0];
    const base = "line of code; ".repeat(10_000) + "é☃𝄞";
    const seen = new Set([hashOf(base)]);
    for (const at of [0, 1, 3, 70_000, 139_999, base.length - 1]) seen.add(hashOf(base.slice(0, at) + "#" + base.slice(at + 1)));
    seen.add(hashOf(base + "x"));
    seen.add(hashOf(base.slice(0, -1)));
    expect(seen.size).toBe(9);
    expect(hashOf(base)).toBe(hashOf(`${base}`.slice(0)));
  });

  it("ignores fields outside role, content and tool calls (a client's extra per-message data)", () => {
    const plain = prefixChain("chat", { messages: [{ role: "user", content: "hi" }] });
    const extra = prefixChain("chat", { messages: [{ role: "user", content: "hi", reasoning_content: "hmm" }] });
    expect(extra.hashes).toEqual(plain.hashes);
  });
});

describe("prefix chain of other APIs", () => {
  const anthropic = (cacheOn: number) => ({
    system: [{ type: "text", text: "You are Claude Code.", ...(cacheOn === -1 ? { cache_control: { type: "ephemeral" } } : {}) }],
    tools: [{ name: "Read", input_schema: { type: "object" } }],
    messages: ["one", "two", "three"].map((text, i) => ({ role: i % 2 ? "assistant" : "user", content: [{ type: "text", text, ...(i === cacheOn ? { cache_control: { type: "ephemeral" } } : {}) }] })),
  });

  it("Anthropic: block 0 is tools + system, then one block per message; moving cache_control changes nothing", () => {
    const a = prefixChain("messages", anthropic(-1));
    expect(a.hashes).toHaveLength(4);
    expect(prefixChain("messages", anthropic(2)).hashes).toEqual(a.hashes);
    expect(prefixChain("messages", { ...anthropic(-1), system: "other" }).hashes[0]).not.toBe(a.hashes[0]);
  });

  it("Responses: block 0 is tools + instructions, then one block per input item; item id and status are ignored", () => {
    const items = [
      { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] },
      { type: "function_call", call_id: "c1", name: "read", arguments: "{}", id: "fc_1", status: "completed" },
    ];
    const a = prefixChain("responses", { instructions: "Be brief.", tools: TOOLS, input: items });
    const b = prefixChain("responses", { instructions: "Be brief.", tools: TOOLS, input: [items[0], { ...items[1], id: "fc_2", status: "in_progress" }] });
    expect(a.hashes).toHaveLength(3);
    expect(b.hashes).toEqual(a.hashes);
    expect(prefixChain("responses", { input: "just text" }).hashes).toHaveLength(2);
  });

  it("completions: the prompt is one block; a body that is not an object gives the empty chain", () => {
    expect(prefixChain("completions", { prompt: "Once upon" }).hashes).toHaveLength(1);
    expect(prefixChain("chat", null)).toBe(EMPTY_CHAIN);
    expect(prefixChain("chat", { messages: "not a list" }).hashes).toHaveLength(1);
  });
});

describe("spread key", () => {
  it("is the session when there is one, else the conversation's opening, the same on every turn", () => {
    expect(spreadKey("abc", prefixChain("chat", chatBody("c1", 2)))).toBe("s:abc");
    const turn1 = spreadKey(undefined, prefixChain("chat", chatBody("c1", 1)));
    expect(spreadKey(undefined, prefixChain("chat", chatBody("c1", 4)))).toBe(turn1);
    expect(spreadKey(undefined, prefixChain("chat", chatBody("c2", 1)))).not.toBe(turn1);
    expect(spreadKey(undefined, EMPTY_CHAIN)).toBe("");
  });
});
