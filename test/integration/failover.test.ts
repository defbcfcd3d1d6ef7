// Which host failures move an alias pool on to its next member (the upstream layer marks them, RouterError.failover)
// and which are the answer: a host's own JSON error, even a 500, is passed through and leaves the host's health alone.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeHosts, hostJson } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string;
let laptop: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;

beforeEach(async () => {
  gpu = uniqueHost("gpu");
  laptop = uniqueHost("laptop");
  await useConfig({
    version: 1,
    providers: [
      { id: "gpu", baseUrl: gpu, discover: false, models: [{ id: "qwen-32b", upstream: "qwen2.5-coder-32b-instruct" }] },
      { id: "laptop", baseUrl: `${laptop}/llama`, discover: false, models: [{ id: "tiny" }] },
    ],
    aliases: { coder: ["gpu/qwen-32b", "laptop/tiny"] },
  });
});
afterEach(() => hosts?.restore());

const CHAT = { messages: [{ role: "user", content: "hi" }], max_tokens: 6 };

describe("alias pool failover: host down or host's answer", () => {
  // llama-server's answer when the model's chat template cannot render the request (a request-caused 500).
  const templateError = { error: { code: 500, message: "Value is not callable: null at row 1, column 1 of the chat template", type: "server_error" } };
  const chatCalls = () => hosts!.calls.filter((c) => c.url.endsWith("/chat/completions")).map((c) => new URL(c.url).origin);

  it("a host's own JSON 500 (a template error) is the answer: passed through, not replayed on the next member", async () => {
    hosts = fakeHosts({
      [`${gpu}/v1/chat/completions`]: () => hostJson(templateError, 500),
      [`${laptop}/llama/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
    });
    const res = await call("/v1/chat/completions", { json: { model: "coder", ...CHAT } });
    expect(res.status).toBe(500);
    expect((await res.json<any>()).error).toEqual({ message: templateError.error.message, type: "server_error", param: null, code: null });
    expect(chatCalls()).toEqual([gpu]);
  });

  it("a host that answered with its own error is not marked failed: the next request still goes to it first", async () => {
    let n = 0;
    hosts = fakeHosts({
      [`${gpu}/v1/chat/completions`]: () => (n++ === 0 ? hostJson(templateError, 500) : hostJson(FIXTURES.chat)),
      [`${laptop}/llama/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
    });
    expect((await call("/v1/chat/completions", { json: { model: "coder", ...CHAT } })).status).toBe(500);
    const next = await call("/v1/chat/completions", { json: { model: "coder", ...CHAT } });
    expect(next.headers.get("x-boocode-route")).toBe("gpu/qwen-32b");
    expect(chatCalls()).toEqual([gpu, gpu]);
  });

  it("a 200 that carries an error after the whole generation is reported, not regenerated on the next member", async () => {
    const messagesCalls = () => hosts!.calls.filter((c) => c.url.endsWith("/v1/messages")).map((c) => new URL(c.url).origin);
    hosts = fakeHosts({
      [`${gpu}/v1/messages`]: () => hostJson({ error: { message: "generation failed after 900 tokens", type: "server_error" } }),
      [`${laptop}/llama/v1/messages`]: () => hostJson(FIXTURES.messages),
    });
    // stop_sequences: passed to the hosts' own /v1/messages, whose JSON answer is read whole.
    const res = await call("/v1/messages", { json: { model: "coder", max_tokens: 6, stop_sequences: ["END"], messages: [{ role: "user", content: "hi" }] } });
    expect(res.status).toBe(502);
    expect(messagesCalls()).toEqual([gpu]);
  });

  it.each([502, 503, 504])("fails over on a gateway's or a loading host's JSON %i", async (status) => {
    hosts = fakeHosts({
      [`${gpu}/v1/chat/completions`]: () => hostJson({ error: { code: status, message: "upstream unavailable", type: "unavailable_error" } }, status),
      [`${laptop}/llama/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
    });
    const res = await call("/v1/chat/completions", { json: { model: "coder", ...CHAT } });
    expect(res.status).toBe(200);
    expect(chatCalls()).toEqual([gpu, laptop]);
  });
});

describe("recent failures", () => {
  it("after a pool member timed out, the next requests go to the healthy member first (no second timeout)", async () => {
    await useConfig({
      version: 2,
      providers: [
        { id: "gpu", baseUrl: gpu, discover: false, timeouts: { firstByteMs: 400 }, models: [{ id: "qwen-32b", upstream: "qwen2.5-coder-32b-instruct" }] },
        { id: "laptop", baseUrl: `${laptop}/llama`, discover: false, timeouts: { firstByteMs: 400 }, models: [{ id: "tiny" }] },
      ],
      aliases: { coder: ["gpu/qwen-32b", "laptop/tiny"] },
    });
    let gpuCalls = 0;
    hosts = fakeHosts({
      [`${gpu}/v1/chat/completions`]: () => (gpuCalls++, new Promise<Response>(() => {})),
      [`${laptop}/llama/v1/chat/completions`]: () => hostJson(FIXTURES.chat),
    });
    for (let i = 0; i < 4; i++) expect((await call("/v1/chat/completions", { json: { model: "coder", ...CHAT } })).headers.get("x-boocode-route")).toBe("laptop/tiny");
    // The member that hung was asked once: the first request paid its timeout, the next ones went to laptop first.
    expect(gpuCalls).toBe(1);
  });
});
