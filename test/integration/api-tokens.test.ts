// POST /api/context, /api/tokenize, /api/detokenize: counted by the serving host (/apply-template then /tokenize),
// with every error a client can meet.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import tokenizeBody from "../fixtures/llama-server/tokenize.body?raw";
import { fakeHosts, hostJson, refused, type HostHandler } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string, laptop: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;
const MESSAGES = [{ role: "user", content: "hi" }];
/** The recorded /tokenize answer has 12 tokens; the host's window is 1,024 per slot. */
const TOKENS = JSON.parse(tokenizeBody).tokens as number[];

beforeEach(async () => {
  [gpu, laptop] = [uniqueHost("gpu"), uniqueHost("laptop")];
  await useConfig({
    version: 4,
    providers: [
      { id: "gpu", baseUrl: gpu, auth: { apiKeySecret: "GPU_KEY" }, models: [{ id: "qwen", upstream: "tiny", contextLength: 32768 }] },
      { id: "laptop", baseUrl: laptop, discover: false, models: [{ id: "tiny", contextLength: 8 }] },
    ],
    aliases: { pool: ["gpu/qwen", "laptop/tiny"] },
  });
});
afterEach(() => hosts?.restore());

const world = (extra: Record<string, HostHandler> = {}) =>
  fakeHosts({
    [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models),
    [`${gpu}/apply-template`]: () => hostJson(FIXTURES.apply),
    [`${gpu}/tokenize`]: () => hostJson(tokenizeBody),
    [`${gpu}/detokenize`]: () => hostJson({ content: "<s> hello" }),
    ...extra,
  });

async function expectError(res: Response, status: number, match: Record<string, unknown>) {
  expect(res.status).toBe(status);
  const body = await res.json<any>();
  expect(Object.keys(body.error)).toEqual(expect.arrayContaining(["message", "type", "param", "code"]));
  expect(body.error).toMatchObject(match);
  expect(JSON.stringify(body)).not.toContain("SECRET");
}

describe("POST /api/context", () => {
  it("applies the chat template, tokenizes it with the BOS a chat gets, and reports the effective window", async () => {
    hosts = world();
    const tools = [{ type: "function", function: { name: "f", parameters: {} } }];
    const res = await call("/api/context", { json: { model: "gpu/qwen", messages: MESSAGES, tools } });
    expect(res.status).toBe(200);
    // Configured as 32,768 but the host serves it with 1,024 per slot: that is what fits.
    expect(await res.json()).toEqual({ model: "gpu/qwen", promptTokens: TOKENS.length, contextLength: 1024, remaining: 1024 - TOKENS.length });
    const template = hosts.calls.find((c) => c.url.endsWith("/apply-template"))!;
    expect(template.json()).toEqual({ model: "tiny", messages: MESSAGES, tools });
    expect(template.headers.get("authorization")).toBe("Bearer sk-upstream-SECRET-gpu");
    const tokenize = hosts.calls.find((c) => c.url.endsWith("/tokenize"))!;
    expect(tokenize.json()).toEqual({ model: "tiny", content: JSON.parse(FIXTURES.apply).prompt, add_special: true });
  });

  it("says by how much a prompt is over the window (negative remaining)", async () => {
    hosts = fakeHosts({ [`${laptop}/apply-template`]: () => hostJson(FIXTURES.apply), [`${laptop}/tokenize`]: () => hostJson(tokenizeBody) });
    expect(await (await call("/api/context", { json: { model: "laptop/tiny", messages: MESSAGES } })).json()).toEqual({
      model: "laptop/tiny", promptTokens: 12, contextLength: 8, remaining: -4,
    });
  });

  it("counts on the next pool member when the first one's host is down", async () => {
    hosts = world({
      [`${gpu}/v1/models`]: refused,
      [`${gpu}/apply-template`]: refused,
      [`${laptop}/apply-template`]: () => hostJson(FIXTURES.apply),
      [`${laptop}/tokenize`]: () => hostJson(tokenizeBody),
    });
    const res = await call("/api/context", { json: { model: "pool", messages: MESSAGES } });
    expect(res.status).toBe(200);
    expect((await res.json<any>()).model).toBe("laptop/tiny");
    // The failure is remembered, as for inference: the next count goes to the healthy member first.
    const before = hosts.calls.filter((c) => c.url.startsWith(`${gpu}/apply-template`)).length;
    expect((await (await call("/api/context", { json: { model: "pool", messages: MESSAGES } })).json<any>()).model).toBe("laptop/tiny");
    expect(hosts.calls.filter((c) => c.url.startsWith(`${gpu}/apply-template`)).length).toBe(before);
  });

  it("every pool member down is 503 no_available_host naming what was tried", async () => {
    hosts = world({ [`${gpu}/v1/models`]: refused, [`${gpu}/apply-template`]: refused, [`${laptop}/apply-template`]: refused });
    const res = await call("/api/context", { json: { model: "pool", messages: MESSAGES } });
    await expectError(res.clone(), 503, { code: "no_available_host" });
    expect((await res.json<any>()).error.tried.map((t: any) => t.model)).toEqual(["gpu/qwen", "laptop/tiny"]);
  });

  it.each([
    ["no messages", { model: "gpu/qwen" }, "messages"],
    ["empty messages", { model: "gpu/qwen", messages: [] }, "messages"],
    ["a message without a role", { model: "gpu/qwen", messages: [{ content: "x" }] }, "messages.0.role"],
    ["no model", { messages: MESSAGES }, "model"],
  ])("%s is 400 invalid_body naming the field, and reaches no host", async (_name, json, param) => {
    hosts = fakeHosts({});
    await expectError(await call("/api/context", { json }), 400, { code: "invalid_body", param });
    expect(hosts.calls).toHaveLength(0);
  });

  it("bad JSON is 400 invalid_json", async () => {
    hosts = fakeHosts({});
    await expectError(await call("/api/context", { method: "POST", body: "{", headers: { "content-type": "application/json" } }), 400, { code: "invalid_json" });
  });

  it("an unknown model is 404 model_not_found", async () => {
    hosts = world();
    await expectError(await call("/api/context", { json: { model: "gpu/nope", messages: MESSAGES } }), 404, { code: "model_not_found", param: "model" });
  });

  it("a host that is down is 502 host_unreachable", async () => {
    hosts = fakeHosts({ [`${laptop}/apply-template`]: refused });
    await expectError(await call("/api/context", { json: { model: "laptop/tiny", messages: MESSAGES } }), 502, { code: "host_unreachable" });
  });

  it("a host refusing the router's key is 502 upstream_unauthorized", async () => {
    hosts = world({ [`${gpu}/apply-template`]: () => hostJson(FIXTURES.error401, 401) });
    await expectError(await call("/api/context", { json: { model: "gpu/qwen", messages: MESSAGES } }), 502, { code: "upstream_unauthorized" });
  });

  it("the host's own 4xx passes through with its status", async () => {
    hosts = world({ [`${gpu}/apply-template`]: () => hostJson({ error: { code: 400, message: "messages[0] is invalid", type: "invalid_request_error" } }, 400) });
    await expectError(await call("/api/context", { json: { model: "gpu/qwen", messages: MESSAGES } }), 400, { message: "messages[0] is invalid", type: "invalid_request_error" });
  });

  it("an answer without a prompt is 502 bad_upstream_response", async () => {
    hosts = world({ [`${gpu}/apply-template`]: () => hostJson({ nope: 1 }) });
    await expectError(await call("/api/context", { json: { model: "gpu/qwen", messages: MESSAGES } }), 502, { code: "bad_upstream_response" });
  });

  it("needs the client key", async () => {
    hosts = fakeHosts({});
    await expectError(await call("/api/context", { json: { model: "gpu/qwen", messages: MESSAGES }, key: "wrong" }), 401, { code: "invalid_api_key" });
  });
});

describe("POST /api/tokenize and /api/detokenize", () => {
  it("tokenize answers the host's tokens and their count, passing the host's options through", async () => {
    hosts = world();
    const res = await call("/api/tokenize", { json: { model: "gpu/qwen", content: "hello world", with_pieces: false } });
    expect(await res.json()).toEqual({ model: "gpu/qwen", tokens: TOKENS, count: TOKENS.length });
    expect(hosts.calls.find((c) => c.url.endsWith("/tokenize"))!.json()).toEqual({ model: "tiny", content: "hello world", with_pieces: false });
  });

  it("detokenize answers the host's text", async () => {
    hosts = world();
    const res = await call("/api/detokenize", { json: { model: "gpu/qwen", tokens: [1, 259] } });
    expect(await res.json()).toEqual({ model: "gpu/qwen", content: "<s> hello" });
    expect(hosts.calls.find((c) => c.url.endsWith("/detokenize"))!.json()).toEqual({ model: "tiny", tokens: [1, 259] });
  });

  it.each([
    ["/api/tokenize", { model: "gpu/qwen" }, "content"],
    ["/api/tokenize", { model: "gpu/qwen", content: 5 }, "content"],
    ["/api/detokenize", { model: "gpu/qwen", tokens: ["a"] }, "tokens.0"],
    ["/api/detokenize", { model: "gpu/qwen", tokens: [-1] }, "tokens.0"],
  ])("%s %j is 400 invalid_body", async (path, json, param) => {
    hosts = fakeHosts({});
    await expectError(await call(path, { json }), 400, { code: "invalid_body", param });
  });

  it.each(["/api/tokenize", "/api/detokenize"])("%s: unknown model 404, host down 502, wrong method 405", async (path) => {
    hosts = fakeHosts({ [`${laptop}/tokenize`]: refused, [`${laptop}/detokenize`]: refused, [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models) });
    await expectError(await call(path, { json: { model: "gpu/nope", content: "x", tokens: [1] } }), 404, { code: "model_not_found" });
    await expectError(await call(path, { json: { model: "laptop/tiny", content: "x", tokens: [1] } }), 502, { code: "host_unreachable" });
    const wrong = await call(path);
    expect(wrong.headers.get("allow")).toBe("POST");
    await expectError(wrong, 405, { code: "method_not_allowed" });
  });
});
