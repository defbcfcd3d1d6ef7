// The AI SDK's OpenAI-compatible provider (what opencode uses inside) against the router, generateText and streamText.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, streamText } from "ai";
import { describe, expect, inject, it } from "vitest";
import { E2E } from "./setup.js";

const local = createOpenAICompatible({ name: "boocode-local", baseURL: `${inject("routerUrl")}/v1`, apiKey: E2E.clientKey, includeUsage: true });

describe("AI SDK @ai-sdk/openai-compatible through the router", () => {
  it.each(["a/tiny", "b/tiny", `r/${E2E.routerModeName}`])("generateText on %s", async (model) => {
    const result = await generateText({ model: local(model), prompt: "Say hello", maxOutputTokens: 8 });
    expect(result.response.modelId).toBe(model);
    expect(result.response.headers?.["x-boocode-route"]).toBe(model);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
  });

  it.each(["a/tiny", "r/alpha"])("streamText on %s: text arrives in parts, usage at the end", async (model) => {
    // The hosts bias EOS so agents' answers end; here the stream must carry text, so EOS is ignored (extra body field
    // through the provider's options, as a user would pass llama-server's own sampling fields).
    const result = streamText({ model: local(model), prompt: "Tell a story", maxOutputTokens: 24, providerOptions: { "boocode-local": { ignore_eos: true } } });
    let parts = 0;
    for await (const _ of result.textStream) parts++;
    expect(parts).toBeGreaterThan(0);
    expect((await result.response).modelId).toBe(model);
    expect((await result.usage).outputTokens).toBeGreaterThan(0);
    expect(await result.finishReason).toBe("length");
  });

  it("passes a tools array through to the host and gets a normal answer back", async () => {
    const { tool } = await import("ai");
    const { z } = await import("zod");
    const ask = (tools?: Parameters<typeof generateText>[0]["tools"]) =>
      generateText({ model: local("b/tiny"), prompt: "What is the weather?", maxOutputTokens: 8, ...(tools && { tools }) });
    const plain = await ask();
    const withTools = await ask({ weather: tool({ description: "weather in a city", inputSchema: z.object({ city: z.string() }), execute: async () => "sunny" }) });
    expect(withTools.response.modelId).toBe("b/tiny");
    // Host b's template writes the tools' names into the prompt (setup.ts): the same prompt counts more tokens only
    // if the tools arrived there.
    expect(withTools.usage.inputTokens).toBeGreaterThan(plain.usage.inputTokens!);
  });
});
