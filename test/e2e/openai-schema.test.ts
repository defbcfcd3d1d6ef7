// What the router answers in front of REAL llama-server hosts, checked against OpenAI's published schemas (the
// integration tier checks the same on recorded answers; this catches a host build whose answers differ).
import { describe, expect, inject, it } from "vitest";
import { COMPLETION_CHUNK, expectOpenAiShape, type OpenAiSchemaName } from "../helpers/openai-schema.js";
import { E2E } from "./setup.js";

const routerUrl = inject("routerUrl");
const messages = [{ role: "user", content: "Say hello" }];

async function post(path: string, body: unknown) {
  return fetch(`${routerUrl}${path}`, { method: "POST", headers: { authorization: `Bearer ${E2E.clientKey}`, "content-type": "application/json" }, body: JSON.stringify(body) });
}

async function expectJson(res: Response, status: number, schema: OpenAiSchemaName) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as any;
  expectOpenAiShape(schema, body);
  return body;
}

async function expectStream(res: Response, schema: OpenAiSchemaName | typeof COMPLETION_CHUNK) {
  expect(res.status).toBe(200);
  const data = (await res.text()).split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
  expect(data.at(-1)).toBe("[DONE]");
  expect(data.length).toBeGreaterThan(2);
  for (const d of data.slice(0, -1)) expectOpenAiShape(schema, JSON.parse(d));
}

describe("OpenAI schema conformance against real hosts", () => {
  it("/v1/models and /v1/models/{id}", async () => {
    const auth = { headers: { authorization: `Bearer ${E2E.clientKey}` } };
    await expectJson(await fetch(`${routerUrl}/v1/models`, auth), 200, "ListModelsResponse");
    await expectJson(await fetch(`${routerUrl}/v1/models/a/tiny`, auth), 200, "Model");
  });

  it("chat, non-streamed and streamed", async () => {
    const body = await expectJson(await post("/v1/chat/completions", { model: "a/tiny", messages, max_tokens: 8 }), 200, "CreateChatCompletionResponse");
    expect(body.choices[0].message.refusal).toBeNull();
    await expectStream(await post("/v1/chat/completions", { model: "b/tiny", messages, max_tokens: 8, stream: true, stream_options: { include_usage: true } }), "CreateChatCompletionStreamResponse");
  });

  it("completions, non-streamed and streamed", async () => {
    await expectJson(await post("/v1/completions", { model: "a/tiny", prompt: "Once", max_tokens: 8 }), 200, "CreateCompletionResponse");
    await expectStream(await post("/v1/completions", { model: "b/tiny", prompt: "Once", max_tokens: 8, stream: true }), COMPLETION_CHUNK);
  });

  it("errors: an unknown model, a host without embeddings, a prompt over the slot's window", async () => {
    await expectJson(await post("/v1/chat/completions", { model: "a/nope", messages }), 404, "ErrorResponse");
    await expectJson(await post("/v1/embeddings", { model: "a/tiny", input: "hello" }), 501, "ErrorResponse");
    await expectJson(await post("/v1/chat/completions", { model: "s/slow", messages: [{ role: "user", content: "word ".repeat(9000) }], max_tokens: 1 }), 400, "ErrorResponse");
  });
});
