/**
 * Every OpenAI-shaped answer and error the router emits on /v1, checked against OpenAI's published OpenAPI schemas
 * (test/helpers/openai-schema.ts). Hosts answer with recorded llama-server bodies, so what is checked is what a
 * client of the router really gets from a real host.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeHosts, hang, hostJson, hostStream, refused, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { COMPLETION_CHUNK, expectOpenAiShape, openAiViolations } from "../helpers/openai-schema.js";
import { call, readEvents, uniqueHost, useConfig } from "../helpers/worker.js";

let host: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;
const CHAT = { model: "h/tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 6 };

beforeEach(async () => {
  host = uniqueHost("h");
  await useConfig({
    version: 1,
    providers: [{ id: "h", baseUrl: host, discover: true, timeouts: { firstByteMs: 300, idleMs: 300 }, models: [{ id: "tiny" }] }],
  });
});
afterEach(() => hosts?.restore());

const withHost = (handlers: Record<string, (r: Request, b: string) => Response | Promise<Response>> = {}) =>
  (hosts = fakeHosts({ [`${host}/v1/models`]: () => hostJson(FIXTURES.models), ...handlers }));

/** The JSON payloads of an SSE body, `[DONE]` left out. */
async function streamedJson(res: Response): Promise<unknown[]> {
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const data = await readEvents(res);
  expect(data.at(-1)).toBe("[DONE]");
  return data.slice(0, -1).map((d) => JSON.parse(d));
}

describe("the schema check itself", () => {
  it("rejects a chat answer without message.refusal, and a model without owned_by", () => {
    const chat = JSON.parse(FIXTURES.chat);
    chat.choices[0].logprobs = null;
    expect(openAiViolations("CreateChatCompletionResponse", chat).join("\n")).toMatch(/refusal/);
    chat.choices[0].message.refusal = null;
    expect(openAiViolations("CreateChatCompletionResponse", chat)).toEqual([]);
    expect(openAiViolations("Model", { id: "h/tiny", object: "model", created: 1 }).join("\n")).toMatch(/owned_by/);
    expect(openAiViolations("ErrorResponse", { error: { message: "x", type: "y", code: 400 } }).join("\n")).toMatch(/param|code/);
  });
});

describe("answers conform to OpenAI's schemas", () => {
  it("GET /v1/models is a ListModelsResponse and GET /v1/models/{id} a Model", async () => {
    withHost();
    const list = await call("/v1/models");
    expect(list.status).toBe(200);
    const body = await list.json<any>();
    expect(body.data.map((m: { id: string }) => m.id)).toContain("h/tiny");
    expectOpenAiShape("ListModelsResponse", body);
    const one = await call("/v1/models/h/tiny");
    expect(one.status).toBe(200);
    expectOpenAiShape("Model", await one.json());
  });

  it("a non-streamed chat answer (assembled from the host's stream) is a CreateChatCompletionResponse", async () => {
    withHost({ [`${host}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)) });
    const res = await call("/v1/chat/completions", { json: CHAT });
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expectOpenAiShape("CreateChatCompletionResponse", body);
    expect(body.choices[0].message).toMatchObject({ role: "assistant", refusal: null });
  });

  it("a chat answer a host sent as plain JSON is a CreateChatCompletionResponse", async () => {
    withHost({ [`${host}/v1/chat/completions`]: () => hostJson(FIXTURES.chat) });
    const res = await call("/v1/chat/completions", { json: CHAT });
    expect(res.status).toBe(200);
    expectOpenAiShape("CreateChatCompletionResponse", await res.json());
  });

  it("an assembled chat answer with tool calls is a CreateChatCompletionResponse", async () => {
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ choices: [{ finish_reason: finish, index: 0, delta }], created: 1795606040, id: "chatcmpl-t", model: "tiny", object: "chat.completion.chunk" })}\n\n`;
    const events = [
      chunk({ role: "assistant", content: null }),
      chunk({ tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":"Oslo"}' } }] }),
      chunk({}, "tool_calls"),
      "data: [DONE]\n\n",
    ];
    withHost({ [`${host}/v1/chat/completions`]: () => hostStream(events) });
    const body = await (await call("/v1/chat/completions", { json: CHAT })).json<any>();
    expectOpenAiShape("CreateChatCompletionResponse", body);
    expect(body.choices[0].message.tool_calls).toEqual([{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }]);
  });

  it("every chunk of a streamed chat answer is a CreateChatCompletionStreamResponse", async () => {
    withHost({ [`${host}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)) });
    const chunks = await streamedJson(await call("/v1/chat/completions", { json: { ...CHAT, stream: true } }));
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks) expectOpenAiShape("CreateChatCompletionStreamResponse", chunk);
  });

  it("a completion, streamed or not, is a CreateCompletionResponse (OpenAI streams the same object)", async () => {
    withHost({ [`${host}/v1/completions`]: () => hostStream(sseEvents(FIXTURES.completionsStream)) });
    const whole = await call("/v1/completions", { json: { model: "h/tiny", prompt: "hi", max_tokens: 3 } });
    expect(whole.status).toBe(200);
    expectOpenAiShape("CreateCompletionResponse", await whole.json());
    const chunks = await streamedJson(await call("/v1/completions", { json: { model: "h/tiny", prompt: "hi", max_tokens: 3, stream: true } }));
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks) expectOpenAiShape(COMPLETION_CHUNK, chunk);
    // The derived chunk schema is no blanket pass: only a null finish_reason was let through.
    expect(openAiViolations(COMPLETION_CHUNK, { ...(chunks[0] as object), choices: [{ text: "x", index: 0, logprobs: null, finish_reason: "eos" }] })).not.toEqual([]);
  });

  it("an embeddings answer is a CreateEmbeddingResponse", async () => {
    withHost({ [`${host}/v1/embeddings`]: () => hostJson(FIXTURES.embeddings) });
    const res = await call("/v1/embeddings", { json: { model: "h/tiny", input: "hello" } });
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(body.model).toBe("h/tiny");
    expectOpenAiShape("CreateEmbeddingResponse", body);
  });
});

describe("errors conform to OpenAI's ErrorResponse", () => {
  async function expectErrorShape(res: Response, status: number) {
    expect(res.status).toBe(status);
    expectOpenAiShape("ErrorResponse", await res.json());
  }

  it.each([
    ["no key (401)", () => call("/v1/models", { key: null }), 401],
    ["truncated JSON (400)", () => call("/v1/chat/completions", { method: "POST", body: '{"model":' }), 400],
    ["no model (400)", () => call("/v1/chat/completions", { json: { messages: [] } }), 400],
    ["an unknown model (404)", () => call("/v1/chat/completions", { json: { ...CHAT, model: "h/nope" } }), 404],
    ["an unknown model id (404)", () => call("/v1/models/h/nope"), 404],
    ["an unknown route (404)", () => call("/v1/nope"), 404],
    ["the wrong method (405)", () => call("/v1/chat/completions"), 405],
    ["a body over the limit (413)", () => call("/v1/chat/completions", { method: "POST", body: "x".repeat(1_100_000) }), 413],
  ] as const)("%s", async (_name, send, status) => {
    withHost();
    await expectErrorShape(await send(), status);
  });

  it.each([
    ["llama-server's own error, with a numeric code (400)", () => hostJson(FIXTURES.errorContext, 400), 400],
    ["embeddings off (501)", () => hostJson(FIXTURES.errorEmbeddings, 501), 501],
    ["the host refusing the router's key (502)", () => hostJson(FIXTURES.error401, 401), 502],
    ["an unreachable host (502)", refused, 502],
    ["a host that never answers (504)", hang, 504],
  ] as const)("%s", async (_name, handler, status) => {
    withHost({ [`${host}/v1/chat/completions`]: handler });
    await expectErrorShape(await call("/v1/chat/completions", { json: CHAT }), status);
  });

  it("the error event that ends a broken stream is an ErrorResponse", async () => {
    withHost({ [`${host}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream), { after: 2, kind: "reset" }) });
    const data = await readEvents(await call("/v1/chat/completions", { json: { ...CHAT, stream: true } }));
    expectOpenAiShape("ErrorResponse", JSON.parse(data.at(-1)!));
  });

  it("the error body that ends a cut non-streamed answer is an ErrorResponse (the status was already sent as 200)", async () => {
    withHost({ [`${host}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream).slice(0, 3)) });
    const res = await call("/v1/chat/completions", { json: CHAT });
    expect(res.status).toBe(200);
    expectOpenAiShape("ErrorResponse", await res.json());
  });
});
