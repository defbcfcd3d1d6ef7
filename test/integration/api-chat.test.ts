// POST /api/chat: the app's chat, compaction, task and Arena calls on the one inference path, usage always at the end,
// purpose in the log line.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeHosts, hostJson, hostStream, refused, sseEvents } from "../helpers/fake-hosts.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { call, captureLogLines, readEvents, uniqueHost, useConfig } from "../helpers/worker.js";

let gpu: string;
let hosts: ReturnType<typeof fakeHosts> | undefined;
const CHAT = { messages: [{ role: "user", content: "hi" }], max_tokens: 6 };

beforeEach(async () => {
  gpu = uniqueHost("gpu");
  await useConfig({ version: 2, providers: [{ id: "gpu", baseUrl: gpu, auth: { apiKeySecret: "GPU_KEY" }, models: [{ id: "qwen", upstream: "tiny" }] }] });
});
afterEach(() => {
  hosts?.restore();
});

describe("POST /api/chat", () => {
  it("non-streaming: the host's answer with the composite id and usage; purpose is not sent to the host but logged", async () => {
    // Non-streaming chat is asked of the host as a stream and assembled (cancellation, see stream/assemble.ts).
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)) });
    let res!: Response;
    const logs = await captureLogLines(async () => {
      res = await call("/api/chat", { json: { model: "gpu/qwen", purpose: "compaction", ...CHAT, extra_param: 1 } });
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-boocode-route")).toBe("gpu/qwen");
    const body = await res.json<any>();
    expect(body).toMatchObject({ object: "chat.completion", model: "gpu/qwen", usage: { completion_tokens: 4, prompt_tokens: 26 } });
    expect(body.choices[0]).toMatchObject({ index: 0, message: { role: "assistant" } });
    // Token ids and counts ride along, so that a break could be continued (src/continuation/).
    expect(hosts.calls[0]!.json()).toEqual({ model: "tiny", n_probs: 1, timings_per_token: true, ...CHAT, extra_param: 1, stream: true, stream_options: { include_usage: true } });
    expect(logs.find((l) => l.path === "/api/chat")).toMatchObject({ purpose: "compaction", route: "gpu/qwen", status: 200, tokens: { prompt: 26, completion: 4 } });
  });

  it("streaming: asks the host for the final usage chunk even when the client said no, and relays every chunk", async () => {
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: () => hostStream(sseEvents(FIXTURES.chatStream)) });
    let events: string[] = [];
    const logs = await captureLogLines(async () => {
      const res = await call("/api/chat", { json: { model: "gpu/qwen", purpose: "task", ...CHAT, stream: true, stream_options: { include_usage: false, other: "kept" } } });
      expect(res.headers.get("content-type")).toBe("text/event-stream");
      events = await readEvents(res);
    });
    expect(hosts.calls[0]!.json()).toMatchObject({ stream: true, stream_options: { include_usage: true, other: "kept" } });
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    for (const chunk of chunks) expect(chunk.model).toBe("gpu/qwen");
    expect(chunks.at(-1).usage).toMatchObject({ completion_tokens: 4, prompt_tokens: 26 });
    // The usage chunk is read from the relay's last chunks once the stream ended (the stream is not parsed).
    expect(logs.find((l) => l.path === "/api/chat")).toMatchObject({ purpose: "task", route: "gpu/qwen", outcome: "complete", tokens: { prompt: 26, completion: 4 } });
  });

  it("purpose defaults to chat", async () => {
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: () => hostJson(FIXTURES.chat) });
    const logs = await captureLogLines(() => call("/api/chat", { json: { model: "gpu/qwen", ...CHAT } }));
    expect(logs.find((l) => l.path === "/api/chat")).toMatchObject({ purpose: "chat" });
  });

  it.each([
    ["an unknown purpose", { model: "gpu/qwen", purpose: "fun", ...CHAT }, 400, "invalid_body", "purpose"],
    ["a non-boolean stream", { model: "gpu/qwen", stream: "yes", ...CHAT }, 400, "invalid_body", "stream"],
    ["no model", { ...CHAT }, 400, "invalid_body", "model"],
    ["an unknown model", { model: "gpu/nope", ...CHAT }, 404, "model_not_found", "model"],
  ])("%s is refused before any inference call", async (_name, json, status, code, param) => {
    hosts = fakeHosts({ [`${gpu}/v1/models`]: () => hostJson(FIXTURES.models) });
    const res = await call("/api/chat", { json });
    expect(res.status).toBe(status);
    expect((await res.json<any>()).error).toMatchObject({ code, param });
    expect(hosts.calls.filter((c) => c.url.endsWith("/chat/completions"))).toHaveLength(0);
  });

  it("host down is 502 host_unreachable, host refusing the key 502 upstream_unauthorized", async () => {
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: refused });
    expect((await (await call("/api/chat", { json: { model: "gpu/qwen", ...CHAT } })).json<any>()).error.code).toBe("host_unreachable");
    hosts.restore();
    hosts = fakeHosts({ [`${gpu}/v1/chat/completions`]: () => hostJson(FIXTURES.error401, 401) });
    const res = await call("/api/chat", { json: { model: "gpu/qwen", ...CHAT, stream: true } });
    expect(res.status).toBe(502);
    expect((await res.json<any>()).error.code).toBe("upstream_unauthorized");
  });

  it("needs the client key", async () => {
    hosts = fakeHosts({});
    expect((await call("/api/chat", { json: { model: "gpu/qwen", ...CHAT }, key: null })).status).toBe(401);
  });
});
