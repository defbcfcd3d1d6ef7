// Each inference endpoint checks the fields its host cannot do without, so a body that lacks one is the router's
// 400 invalid_body naming the field (never forwarded, never the host's own 400 with code null). Unknown fields pass.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeHosts, hostJson } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

const PATHS = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank", "/v1/messages", "/v1/messages/count_tokens", "/v1/responses"];
const HI = [{ role: "user", content: "hi" }];

let host: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;

beforeEach(async () => {
  host = uniqueHost("h");
  await useConfig({ version: 1, providers: [{ id: "h", baseUrl: host, discover: false, models: [{ id: "tiny" }] }] });
  // What llama-server answers a body it cannot use: its own 400, with no code and no param.
  const hostRefuses = () => hostJson({ error: { code: 400, message: "'messages' is required", type: "invalid_request_error" } }, 400);
  hosts = fakeHosts(Object.fromEntries(PATHS.map((p) => [`${host}${p}`, hostRefuses])));
});
afterEach(() => hosts?.restore());

describe("required fields per endpoint", () => {
  it.each([
    ["/v1/chat/completions", {}, "messages", /messages: is required/],
    ["/v1/chat/completions", { messages: [] }, "messages", /messages: must not be empty/],
    ["/v1/chat/completions", { messages: "hi" }, "messages", /messages: must be an array of messages/],
    ["/v1/completions", { max_tokens: 4 }, "prompt", /prompt: is required/],
    ["/v1/completions", { prompt: 7 }, "prompt", /prompt: must be a string or an array/],
    ["/v1/embeddings", {}, "input", /input: is required/],
    ["/v1/rerank", { documents: ["a"] }, "query", /query: is required/],
    ["/v1/rerank", { query: "q" }, "documents", /documents: is required/],
    ["/v1/responses", { instructions: "be brief" }, "input", /input: is required/],
  ])("%s %j -> 400 invalid_body, param %s", async (path, fields, param, message) => {
    const res = await call(path, { json: { model: "h/tiny", ...fields } });
    expect(res.status).toBe(400);
    expect((await res.json<any>()).error).toEqual({ message: expect.stringMatching(message), type: "invalid_request_error", param, code: "invalid_body" });
    expect(hosts!.calls).toHaveLength(0);
  });

  it.each(["/v1/messages", "/v1/messages/count_tokens"])("%s without messages -> 400 in Anthropic's shape, naming the field", async (path) => {
    const res = await call(path, { json: { model: "h/tiny", max_tokens: 4 } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ type: "error", error: { type: "invalid_request_error", message: expect.stringMatching(/messages: is required/) } });
    expect(hosts!.calls).toHaveLength(0);
  });

  it("a missing model is named too, whatever the endpoint", async () => {
    for (const path of PATHS.filter((p) => !p.startsWith("/v1/messages"))) {
      const error = (await (await call(path, { json: { messages: HI, prompt: "x", input: "x" } })).json<any>()).error;
      expect(error, path).toMatchObject({ code: "invalid_body", param: "model", message: expect.stringMatching(/model: is required/) });
    }
  });
});

describe("what the host accepts is not refused", () => {
  it.each([
    ["/v1/messages without max_tokens (llama-server defaults it)", "/v1/messages", { messages: HI, stop_sequences: ["END"] }],
    ["/v1/embeddings with llama-server's content", "/v1/embeddings", { content: "x" }],
    ["/v1/rerank with texts instead of documents", "/v1/rerank", { query: "q", texts: ["a"] }],
    ["/v1/completions with a token array", "/v1/completions", { prompt: [1, 2, 3] }],
    ["/v1/responses with input items", "/v1/responses", { input: [{ role: "user", content: "hi" }] }],
    ["/v1/chat/completions with unknown fields", "/v1/chat/completions", { messages: HI, my_extension: { a: 1 } }],
  ])("%s", async (_name, path, fields) => {
    hosts!.restore();
    hosts = fakeHosts({ [`${host}${path}`]: () => hostJson(FIXTURES.messages) });
    const res = await call(path, { json: { model: "h/tiny", stream: false, ...fields } });
    expect(res.status).toBe(200);
    expect(hosts.calls.at(-1)!.json()).toMatchObject({ model: "tiny", ...fields });
  });
});
