import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ProvidersConfigInput } from "../../src/config/schema.js";
import { fakeHosts, hostJson, hostStream, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, captureLogLines, readEvents, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string;
let laptop: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;

function twoHosts(): ProvidersConfigInput {
  return {
    version: 3,
    providers: [
      { id: "gpu", baseUrl: gpu, auth: { apiKeySecret: "GPU_KEY" }, models: [{ id: "qwen-32b", upstream: "qwen2.5-coder-32b-instruct", contextLength: 32768, maxOutputTokens: 8192, capabilities: ["tools"] }] },
      { id: "laptop", baseUrl: `${laptop}/llama`, discover: true },
    ],
    aliases: { coder: ["gpu/qwen-32b", "laptop/tiny"] },
  };
}

beforeEach(async () => {
  gpu = uniqueHost("gpu");
  laptop = uniqueHost("laptop");
  await useConfig(twoHosts());
});
afterEach(() => hosts?.restore());

const both = (extra: Record<string, (r: Request, b: string) => Response | Promise<Response>> = {}) =>
  fakeHosts({
    [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models),
    [`${laptop}/llama/v1/models`]: () => hostJson(FIXTURES.models),
    ...extra,
  });

const CHAT = { messages: [{ role: "user", content: "hi" }], max_tokens: 6 };

describe("/v1 chat completions", () => {
  it("forwards to the host with the upstream name and the host's key, and answers with the composite id", async () => {
    hosts = both({ [`${gpu}/v1/chat/completions`]: () => hostJson(FIXTURES.chat) });
    const res = await call("/v1/chat/completions", { json: { model: "gpu/qwen-32b", ...CHAT, my_new_param: { keep: true } } });
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(body.model).toBe("gpu/qwen-32b");
    expect(body.choices[0].logprobs).toBeNull();
    expect(body.usage.completion_tokens).toBe(6);
    expect(res.headers.get("x-boocode-route")).toBe("gpu/qwen-32b");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get("server")).toBeNull();
    expect(res.headers.get("set-cookie")).toBeNull();

    const sent = hosts.calls.find((c) => c.url.endsWith("/v1/chat/completions"))!;
    expect(sent.url).toBe(`${gpu}/v1/chat/completions`);
    // Non-streaming is asked of the host as a stream (so a disconnect can cancel it); a host answering JSON anyway is fine.
    // The stream carries token ids and counts, so that a break could be continued elsewhere (src/continuation/).
    expect(sent.json()).toEqual({ model: "qwen2.5-coder-32b-instruct", n_probs: 1, timings_per_token: true, ...CHAT, my_new_param: { keep: true }, stream: true, stream_options: { include_usage: true } });
    expect(sent.headers.get("authorization")).toBe("Bearer sk-upstream-SECRET-gpu");
  });

  it("never forwards the client's credentials, cookies or forwarding headers to a host", async () => {
    hosts = both({ [`${laptop}/llama/v1/chat/completions`]: () => hostJson(FIXTURES.chat) });
    await call("/v1/chat/completions", {
      json: { model: "laptop/tiny", ...CHAT },
      headers: { cookie: "session=abc", "x-forwarded-host": "evil.test", "x-api-key": "test-key-2", "user-agent": "opencode/1.0" },
    });
    const sent = hosts.calls.find((c) => c.url.endsWith("/chat/completions"))!;
    expect(sent.headers.get("authorization")).toBeNull();
    expect(sent.headers.get("x-api-key")).toBeNull();
    expect(sent.headers.get("cookie")).toBeNull();
    expect(sent.headers.get("x-forwarded-host")).toBeNull();
    expect(sent.headers.get("user-agent")).toBe("opencode/1.0");
  });

  it("streams: every chunk carries the composite id, usage and [DONE] pass through", async () => {
    hosts = both({ [`${laptop}/llama/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)) });
    const res = await call("/v1/chat/completions", { json: { model: "laptop/tiny", ...CHAT, stream: true, stream_options: { include_usage: true } } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events = await readEvents(res);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.length).toBe(sseEvents(FIXTURES.chatStream).length - 1);
    for (const chunk of chunks) expect(chunk.model).toBe("laptop/tiny");
    expect(chunks.at(-1).usage.total_tokens).toBe(30);
  });

  it("passes tool-call deltas through untouched (arguments that mention model included) with the usage chunk", async () => {
    const chunk = (delta: unknown, extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: null }], created: 1, id: "c1", model: "tiny", object: "chat.completion.chunk", ...extra })}\n\n`;
    const events = [
      chunk({ role: "assistant", content: null }),
      chunk({ tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "read", arguments: "" } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"path":"a.ts","model":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"keep-me"}' } }] }),
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }], created: 1, id: "c1", model: "tiny", object: "chat.completion.chunk" })}\n\n`,
      `data: ${JSON.stringify({ choices: [], created: 1, id: "c1", model: "tiny", object: "chat.completion.chunk", usage: { prompt_tokens: 9500, completion_tokens: 3, total_tokens: 9503 } })}\n\n`,
      "data: [DONE]\n\n",
    ];
    hosts = both({ [`${laptop}/llama/v1/chat/completions`]: () => hostStream(events) });
    const tools = [{ type: "function", function: { name: "read", parameters: { type: "object", properties: { path: { type: "string" } } } } }];
    const res = await call("/v1/chat/completions", { json: { model: "laptop/tiny", ...CHAT, tools, stream: true, stream_options: { include_usage: true } } });
    const data = (await readEvents(res)).slice(0, -1).map((e) => JSON.parse(e));
    expect(data.map((d) => d.model)).toEqual(Array(6).fill("laptop/tiny"));
    const args = data.flatMap((d) => d.choices[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? []).join("");
    expect(JSON.parse(args)).toEqual({ path: "a.ts", model: "keep-me" });
    expect(data[4].choices[0].finish_reason).toBe("tool_calls");
    expect(data[5].usage.prompt_tokens).toBe(9500);
    expect(hosts.calls.at(-1)!.json().tools).toEqual(tools);
  });

  it("keeps the same model name on two hosts apart (a/<m> and b/<m>)", async () => {
    const answered: string[] = [];
    hosts = both({
      [`${gpu}/v1/chat/completions`]: () => (answered.push("gpu"), hostJson(FIXTURES.chat)),
      [`${laptop}/llama/v1/chat/completions`]: () => (answered.push("laptop"), hostJson(FIXTURES.chat)),
    });
    expect((await (await call("/v1/chat/completions", { json: { model: "gpu/tiny", ...CHAT } })).json<any>()).model).toBe("gpu/tiny");
    expect((await (await call("/v1/chat/completions", { json: { model: "laptop/tiny", ...CHAT } })).json<any>()).model).toBe("laptop/tiny");
    expect(answered).toEqual(["gpu", "laptop"]);
  });

  it("refuses a bare name two hosts serve: 400 ambiguous_model listing the candidates", async () => {
    hosts = both();
    const res = await call("/v1/chat/completions", { json: { model: "tiny", ...CHAT } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { message: expect.stringMatching(/several providers.*gpu\/tiny, laptop\/tiny/), type: "invalid_request_error", param: "model", code: "ambiguous_model", candidates: ["gpu/tiny", "laptop/tiny"] },
    });
  });

  it("serves a bare name only one host has", async () => {
    hosts = both({ [`${gpu}/v1/chat/completions`]: () => hostJson(FIXTURES.chat) });
    const res = await call("/v1/chat/completions", { json: { model: "qwen-32b", ...CHAT } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-boocode-route")).toBe("gpu/qwen-32b");
  });

  it("answers 404 model_not_found for a model no host has", async () => {
    hosts = both();
    for (const model of ["laptop/llama-70b", "nas/tiny", "llama-70b"]) {
      const res = await call("/v1/chat/completions", { json: { model, ...CHAT } });
      expect(res.status, model).toBe(404);
      expect((await res.json<any>()).error).toMatchObject({ type: "invalid_request_error", code: "model_not_found", param: "model" });
    }
  });

  it("fails over across an alias pool when the first member's host is down, before any byte was sent", async () => {
    hosts = both({
      [`${gpu}/v1/chat/completions`]: () => Promise.reject(new TypeError("Network connection lost.")),
      [`${laptop}/llama/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
    });
    const res = await call("/v1/chat/completions", { json: { model: "coder", ...CHAT } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-boocode-route")).toBe("laptop/tiny");
    expect((await res.json<any>()).model).toBe("laptop/tiny");
  });
});

describe("alias pool failover", () => {
  it("skips a member whose host is still loading (503) and serves from the next", async () => {
    hosts = both({
      [`${gpu}/v1/chat/completions`]: () => hostJson({ error: { code: 503, message: "Loading model", type: "unavailable_error" } }, 503),
      [`${laptop}/llama/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
    });
    const res = await call("/v1/chat/completions", { json: { model: "coder", ...CHAT } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-boocode-route")).toBe("laptop/tiny");
  });

  it("does not fail over on a client error (4xx): the next host would refuse it too", async () => {
    hosts = both({ [`${gpu}/v1/chat/completions`]: () => hostJson(FIXTURES.errorContext, 400) });
    const res = await call("/v1/chat/completions", { json: { model: "coder", ...CHAT } });
    expect(res.status).toBe(400);
    expect(hosts.calls.filter((c) => c.url.includes("chat")).length).toBe(1);
  });

  it("answers 503 naming what was tried when every member is down", async () => {
    hosts = both({
      [`${gpu}/v1/chat/completions`]: () => Promise.reject(new TypeError("Network connection lost.")),
      [`${laptop}/llama/v1/chat/completions`]: () => new Response("<html>502</html>", { status: 502 }),
    });
    const res = await call("/v1/chat/completions", { json: { model: "coder", ...CHAT } });
    expect(res.status).toBe(503);
    const error = (await res.json<any>()).error;
    expect(error).toMatchObject({ type: "service_unavailable_error", code: "no_available_host", param: null });
    expect(error.message).toMatch(/gpu\/qwen-32b: provider "gpu" is unreachable; laptop\/tiny: provider "laptop" is down/);
    expect(error.tried).toEqual([
      { model: "gpu/qwen-32b", status: 502, code: "host_unreachable" },
      { model: "laptop/tiny", status: 502, code: "host_unreachable" },
    ]);
  });
});

describe("/v1 other inference endpoints", () => {
  it.each([
    ["/v1/completions", { prompt: "hi", max_tokens: 3, stream: true }, "completionsStream"],
    // stop_sequences: passed to the host's own /v1/messages (the translated path: anthropic-messages.test.ts).
    ["/v1/messages", { messages: [{ role: "user", content: "hi" }], max_tokens: 3, stream: true, stop_sequences: ["END"] }, "messagesStream"],
    ["/v1/responses", { input: "hi", stream: true }, "responsesStream"],
  ] as const)("%s streams with the composite id wherever the protocol names the model", async (path, body, fixture) => {
    hosts = both({ [`${laptop}/llama${path}`]: () => hostStream(sseEvents(FIXTURES[fixture])) });
    const res = await call(path, { json: { model: "laptop/tiny", ...body } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toMatch(/"model":"tiny"/);
    expect(text.match(/"model":"laptop\/tiny"/g)?.length).toBeGreaterThan(0);
    expect(hosts.calls.at(-1)!.json().model).toBe("tiny");
  });

  it.each([
    ["/v1/chat/completions", { messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } }, "chatStream", { prompt: 26, completion: 4 }],
    ["/v1/responses", { input: "hi", stream: true }, "responsesStream", { prompt: 26, completion: 3 }],
    ["/v1/messages", { messages: [{ role: "user", content: "hi" }], max_tokens: 3, stream: true, stop_sequences: ["END"] }, "messagesStream", { completion: 3 }],
  ] as const)("%s: the log line carries the token counts the stream's last events reported", async (path, body, fixture, tokens) => {
    hosts = both({ [`${laptop}/llama${path}`]: () => hostStream(sseEvents(FIXTURES[fixture])) });
    const logs = await captureLogLines(async () => (await call(path, { json: { model: "laptop/tiny", ...body } })).text());
    expect(logs.find((l) => l.path === path)).toMatchObject({ outcome: "complete", tokens });
  });

  it("/v1/messages answers JSON with the composite id", async () => {
    hosts = both({ [`${laptop}/llama/v1/messages`]: () => hostJson(FIXTURES.messages) });
    // stop_sequences: passed to the host's own /v1/messages (without, it is asked of the chat endpoint: anthropic-messages.test.ts).
    const res = await call("/v1/messages", { json: { model: "laptop/tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 4, stop_sequences: ["END"] }, key: null, headers: { "x-api-key": "test-key-2", "anthropic-version": "2023-06-01" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: "message", model: "laptop/tiny" });
    expect(hosts.calls.at(-1)!.headers.get("anthropic-version")).toBe("2023-06-01");
  });

  it("/v1/messages JSON: only the answer's own model is rewritten, never a tool_use input that has a model of its own", async () => {
    const withTool = { ...JSON.parse(String(FIXTURES.messages)), content: [{ type: "tool_use", id: "t1", name: "pick", input: { model: "gpt-4o", nested: { model: "x" } } }] };
    hosts = both({ [`${laptop}/llama/v1/messages`]: () => hostJson(withTool) });
    const res = await call("/v1/messages", { json: { model: "laptop/tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 4, stop_sequences: ["END"] } });
    const body = await res.json<any>();
    expect(body.model).toBe("laptop/tiny");
    expect(body.content[0].input).toEqual({ model: "gpt-4o", nested: { model: "x" } });
  });

  it.each([
    ["/v1/embeddings", { input: "x" }],
    ["/v1/rerank", { query: "q", documents: ["a", "b"] }],
    ["/v1/messages/count_tokens", { messages: [{ role: "user", content: "hi" }] }],
  ])("%s is forwarded to the same host path", async (path, fields) => {
    hosts = both({ [`${gpu}${path}`]: () => hostJson({ object: "list", data: [], model: "qwen2.5-coder-32b-instruct" }) });
    const res = await call(path, { json: { model: "gpu/qwen-32b", ...fields } });
    expect(res.status).toBe(200);
    expect((await res.json<any>()).model).toBe("gpu/qwen-32b");
  });
});

describe("/v1/models", () => {
  it("lists configured and discovered models by composite id, in OpenAI's list shape with windows", async () => {
    hosts = both();
    const res = await call("/v1/models");
    expect(res.status).toBe(200);
    const body = await res.json<any>();
    expect(body.object).toBe("list");
    expect(body.data.map((m: any) => m.id)).toEqual(["gpu/qwen-32b", "gpu/tiny", "laptop/tiny"]);
    for (const m of body.data) {
      expect(m).toMatchObject({ object: "model", owned_by: m.id.split("/")[0] });
      expect(Number.isInteger(m.created)).toBe(true);
    }
    expect(body.data[0]).toMatchObject({ context_length: 32768, max_output_tokens: 8192, capabilities: ["tools"], source: "config" });
    expect(body.data[2]).toMatchObject({ context_length: 1024, source: "discovered" });
  });

  it("still lists configured models when a host is down", async () => {
    hosts = fakeHosts({
      [`${gpu}/v1/models`]: () => Promise.reject(new TypeError("Network connection lost.")),
      [`${laptop}/llama/v1/models`]: () => hostJson("<html>530</html>", 530),
    });
    const body = await (await call("/v1/models")).json<any>();
    expect(body.data.map((m: any) => m.id)).toEqual(["gpu/qwen-32b"]);
  });

  it("lists router-mode models whose names need no escaping, and GET /v1/models/{id} finds one by id with '/' in it", async () => {
    hosts = fakeHosts({
      [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models),
      [`${laptop}/llama/v1/models`]: () => hostJson(FIXTURES.routerModels.replace('"id":"beta"', '"id":"org/repo-GGUF:Q4_K_M"')),
    });
    const ids = (await (await call("/v1/models")).json<any>()).data.map((m: any) => m.id);
    expect(ids).toEqual(["gpu/qwen-32b", "gpu/tiny", "laptop/alpha", "laptop/org/repo-GGUF:Q4_K_M"]);
    for (const path of ["/v1/models/laptop/org/repo-GGUF:Q4_K_M", "/v1/models/laptop%2Forg%2Frepo-GGUF%3AQ4_K_M"]) {
      const res = await call(path);
      expect(res.status, path).toBe(200);
      expect(await res.json()).toMatchObject({ id: "laptop/org/repo-GGUF:Q4_K_M", object: "model", owned_by: "laptop" });
    }
    const missing = await call("/v1/models/laptop/nope");
    expect(missing.status).toBe(404);
    expect((await missing.json<any>()).error.code).toBe("model_not_found");
  });
});
