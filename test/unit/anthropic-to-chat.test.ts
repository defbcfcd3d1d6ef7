// The Anthropic -> chat conversion must be llama-server's own (server_chat_convert_anthropic_to_oai, b11669): the
// same chat request gives the same prompt tokens. These cases pin each of its rules; the e2e tier checks the result
// against the real server (same prompt tokens, same answer at temperature 0).
import { describe, expect, it } from "vitest";
import { anthropicToChat } from "../../src/anthropic/to-chat.js";

describe("anthropicToChat", () => {
  it("a system string, string messages and the passed fields; everything else dropped; max_tokens defaults to 4096", () => {
    const chat = anthropicToChat({
      model: "m", system: "be brief", messages: [{ role: "user", content: "hi" }],
      temperature: 0, top_p: 0.9, top_k: 5, stream: true, chat_template_kwargs: { enable_thinking: false },
      seed: 3, id_slot: 1, n_probs: 2, service_tier: "auto",
    });
    expect(chat).toEqual({
      messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }],
      max_tokens: 4096, temperature: 0, top_p: 0.9, top_k: 5, stream: true, chat_template_kwargs: { enable_thinking: false },
    });
  });

  it("system blocks: the text of text blocks joined, Claude Code's changing billing value blanked", () => {
    const chat = anthropicToChat({
      max_tokens: 9,
      system: [{ type: "text", text: "x-anthropic-billing-header: cc_version=2.1; cch=a1b2c; rest" }, { type: "image" }, { type: "text", text: " and more", cache_control: { type: "ephemeral" } }],
      messages: [],
    });
    expect(chat.messages).toEqual([{ role: "system", content: "x-anthropic-billing-header: cc_version=2.1; cch=fffff; rest and more" }]);
    expect(chat.max_tokens).toBe(9);
  });

  it("blocks: text parts kept as sent, thinking joined into reasoning_content, tool_use as tool_calls, results after", () => {
    const chat = anthropicToChat({
      messages: [
        { role: "user", content: [{ type: "text", text: "list files", cache_control: { type: "ephemeral" } }] },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "I should ", signature: "" },
            { type: "thinking", thinking: "call ls" },
            { type: "tool_use", id: "call_1", name: "ls", input: { path: ".", deep: false } },
            { type: "tool_use", id: "call_2", name: "pwd", input: null },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "call_1", content: "a.txt" },
            { type: "tool_result", tool_use_id: "call_2", content: [{ type: "text", text: "/home" }, { type: "text", text: "/x" }] },
            { type: "tool_result", tool_use_id: "call_3" },
          ],
        },
        { role: "assistant" },
        { role: "user" },
      ],
    });
    expect(chat.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "list files", cache_control: { type: "ephemeral" } }] },
      {
        role: "assistant",
        content: "",
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "ls", arguments: '{"path":".","deep":false}' } },
          { id: "call_2", type: "function", function: { name: "pwd", arguments: "{}" } },
        ],
        reasoning_content: "I should call ls",
      },
      { role: "tool", tool_call_id: "call_1", content: "a.txt" },
      { role: "tool", tool_call_id: "call_2", content: "/home/x" },
      { role: "tool", tool_call_id: "call_3", content: "" },
      { role: "user" },
    ]);
  });

  it("images: base64 and url sources as image_url parts, also inside a tool result", () => {
    const chat = anthropicToChat({
      messages: [
        { role: "user", content: [{ type: "image", source: { type: "base64", data: "AAA" } }, { type: "image", source: { type: "url", url: "https://x/y.png" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: [{ type: "text", text: "see" }, { type: "image", source: { type: "base64", media_type: "image/png", data: "BB" } }] }] },
      ],
    });
    expect(chat.messages).toEqual([
      { role: "user", content: [{ type: "image_url", image_url: { url: "data:image/jpeg;base64,AAA" } }, { type: "image_url", image_url: { url: "https://x/y.png" } }] },
      { role: "tool", tool_call_id: "t", content: [{ type: "text", text: "see" }, { type: "image_url", image_url: { url: "data:image/png;base64,BB" } }] },
    ]);
  });

  it("tools, tool_choice, stop_sequences, thinking budget and metadata user id", () => {
    const chat = anthropicToChat({
      messages: [],
      tools: [{ name: "ls", description: "list", input_schema: { type: "object" } }, { name: "pwd" }],
      tool_choice: { type: "any" },
      stop_sequences: ["END"],
      thinking: { type: "enabled" },
      metadata: { user_id: "u1" },
    });
    expect(chat).toMatchObject({
      tools: [
        { type: "function", function: { name: "ls", description: "list", parameters: { type: "object" } } },
        { type: "function", function: { name: "pwd", description: "", parameters: {} } },
      ],
      tool_choice: "required",
      stop: ["END"],
      thinking_budget_tokens: 10000,
      __metadata_user_id: "u1",
    });
    expect(anthropicToChat({ messages: [], tool_choice: { type: "auto" }, thinking: { type: "enabled", budget_tokens: 512 } })).toMatchObject({ tool_choice: "auto", thinking_budget_tokens: 512 });
    expect(anthropicToChat({ messages: [], tool_choice: { type: "none" }, thinking: { type: "disabled" }, metadata: {} })).toEqual({ messages: [], max_tokens: 4096 });
  });
});
